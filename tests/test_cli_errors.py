"""No traceback reaches a user: each mistake gets one or two lines saying what was wrong and
what to do, and a non-zero exit code; the traceback, if any, goes to the log."""
from __future__ import annotations

import duckdb
import pytest

from tests.faults import cli


def _said(proc) -> str:
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in err and 1 <= len(err.splitlines()) <= 2, err
    return err


@pytest.mark.parametrize("env,args,expected", [
    ({"CITYCHECK_INGEST_BATCH_FILES": "many"}, ["ingest"],
     "CITYCHECK_INGEST_BATCH_FILES='many' is not a positive whole number"),
    ({"CITYCHECK_DATA_DIR": "/proc/citycheck"}, ["ingest"], "cannot create /proc/citycheck"),
    ({"CITYCHECK_DUCKDB_MEMORY_LIMIT": "lots"}, ["ingest"], "is not a memory size"),
    ({"CITYCHECK_WAREHOUSE_TARGET": "oracle"}, ["build"], "use one of duckdb, postgres"),
    ({}, ["validate", "--year", "20x3"], "'20x3' is not a year"),
    ({}, ["status", "--year", "2023"], "nothing has been built yet"),
    ({}, ["publish"], "nothing has been built yet, so nothing to publish"),
    ({}, ["ingest", "no-such-file.xlsx"], "no such file"),
])
def test_a_mistake_is_one_clear_line(settings, env, args, expected):
    assert expected in _said(cli(settings, *args, env=env))


def test_a_second_writer_is_told_who_holds_the_warehouse(settings):
    import os

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    holder = duckdb.connect(str(settings.warehouse_path))   # another run, writing
    try:
        # it waits that long for the holder to let go (tests/test_warehouse_lock.py), then says
        err = _said(cli(settings, "ingest", env={"CITYCHECK_WAREHOUSE_LOCK_WAIT": "1"}))
    finally:
        holder.close()
    assert "in use by another process" in err and f"PID {os.getpid()}" in err


def test_an_unexpected_failure_points_at_the_log_with_the_traceback(settings):
    """An error citycheck did not foresee (here a damaged warehouse file) is two lines; the
    traceback is in the log they name."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    settings.warehouse_path.write_bytes(b"not a database" * 1000)
    err = _said(cli(settings, "ingest"))
    log = settings.data_dir / "logs" / "citycheck-cli.log"
    assert "not a valid DuckDB database file" in err
    assert str(log) in err and "Traceback" in log.read_text(encoding="utf-8")


def test_a_plausibility_rule_named_twice_is_refused_with_its_lines(settings, tmp_path):
    """Two thresholds for one check of one indicator: intake says which lines, before it
    reads a file, instead of warning twice about one value."""
    import shutil

    from common.config import DBT_PROJECT_DIR

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR / "seeds", project / "seeds")
    rules = project / "seeds" / "plausibility_rules.csv"
    lines = rules.read_text(encoding="utf-8").splitlines()
    twice = next(n for n, line in enumerate(lines, 1) if line.startswith("utility_tunnel_km,yoy"))
    rules.write_text("\n".join(lines + [lines[twice - 1].replace(",3,", ",5,")]) + "\n",
                     encoding="utf-8")
    err = _said(cli(settings, "ingest", env={"CITYCHECK_DBT_PROJECT_DIR": str(project)}))
    assert (f"rule yoy_factor of indicator utility_tunnel_km is on lines {twice} and "
            f"{len(lines) + 1}: keep one of them") in err, err
