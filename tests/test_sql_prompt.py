"""`citycheck sql`: the published data without writing a file first, read-only."""
from __future__ import annotations

from tests.faults import cli
from tests.helpers import query


def test_a_query_a_file_and_piped_statements_answer_from_the_publication(built, tmp_path):
    (n,) = query(built.serving_path, "select count(*) from fct_indicator_values")[0]
    proc = cli(built, "sql", "select count(*) as n from fct_indicator_values")
    assert proc.returncode == 0 and f"{n}" in proc.stdout, proc.stderr
    sql = tmp_path / "q.sql"
    sql.write_text("-- sewage, Huancui, 2020\nselect value from fct_indicator_values where "
                   "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371002' "
                   "and year = 2020;", encoding="utf-8")
    proc = cli(built, "sql", "-f", str(sql))
    assert proc.returncode == 0 and "98.6" in proc.stdout
    import os
    import subprocess
    import sys

    piped = subprocess.run([sys.executable, "-m", "citycheck.cli", "sql"],
                           input="select 40 + 2 as answer; select 'a;b' as s;",
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, CITYCHECK_DATA_DIR=str(built.data_dir)))
    assert piped.returncode == 0 and "42" in piped.stdout and "a;b" in piped.stdout


def test_nothing_can_be_changed_and_errors_are_one_line(built):
    before = query(built.serving_path, "select count(*) from dim_year")
    proc = cli(built, "sql", "delete from dim_year")
    assert proc.returncode == 1 and "read-only" in proc.stdout.lower()
    assert "Traceback" not in proc.stdout + proc.stderr
    assert query(built.serving_path, "select count(*) from dim_year") == before
    proc = cli(built, "sql", "select * from no_such_table")
    assert proc.returncode == 1 and proc.stdout.count("\n") == 1 and "no_such_table" in \
        proc.stdout


def test_before_anything_is_published_it_says_what_to_run(settings):
    proc = cli(settings, "sql", "select 1")
    assert proc.returncode == 1 and "nothing is published yet" in proc.stderr
    assert "citycheck run" in proc.stderr and "Traceback" not in proc.stderr
