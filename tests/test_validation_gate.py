"""A failed validation publishes nothing and leaves the previous publication untouched."""
import hashlib

import duckdb
import pytest

from citycheck.checks.validate import ValidationFailed, validate
from citycheck.publication.publish import PublishRefused, publish
from citycheck.warehouse.build import build
from tests.helpers import land_unknown_indicator, parquet_digest, query

SEWAGE_2020_HUANCUI = ("select value from {table} where indicator_code = "
                       "'sewage_treatment_rate_pct' and district_code = '371002' and year = 2020")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_invalid_built_value_blocks_publication(built):
    serving_before = _digest(built.serving_path)
    parquet_before = parquet_digest(built, "fct_indicator_values")
    (published_before,) = query(built.serving_path,
                                SEWAGE_2020_HUANCUI.format(table="fct_indicator_values"))
    assert published_before == (98.6,)

    con = duckdb.connect(str(built.warehouse_path))  # a transformation bug, simulated
    con.execute("update marts.fct_indicator_values set value = 140 where "
                "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371002' "
                "and year = 2020")
    con.close()

    with pytest.raises(ValidationFailed) as failed:
        validate(built)
    # one line per failed check, first: the year, the suite, the check, the rows, an example
    first, *rest = str(failed.value).splitlines()
    assert first.startswith("validation failed [year=2020] fct_indicator_values: "
                            "expect_column_pair_values_a_to_be_greater_than_b")
    assert "(value above the indicator's valid_max): 1 row, e.g. " in first
    assert '"district_code": "371002"' in first and "140.0" in first
    assert rest[-1].startswith("1 of ") and "nothing was published" in rest[-1]

    with pytest.raises(PublishRefused, match="failed validation"):
        publish(built)
    assert _digest(built.serving_path) == serving_before
    assert parquet_digest(built, "fct_indicator_values") == parquet_before
    assert query(built.serving_path,
                 SEWAGE_2020_HUANCUI.format(table="fct_indicator_values")) == [(98.6,)]


def test_unvalidated_build_is_not_published(built):
    build(built)  # a new build that nobody validated
    with pytest.raises(PublishRefused, match="has not been validated"):
        publish(built)


def test_values_still_owed_are_reported_and_the_year_is_published_as_provisional(built):
    """Completeness is not validity: the values Weihai's 2024 round still owes are listed in
    the report, naming district and department, and the build is published all the same."""
    report = validate(built, years=[2024])
    assert report.success and not report.failures
    (owed,) = [n for n in report.notices if n["partition"] == "year=2024"]
    assert owed["suite"] == "required_values_present" and owed["unexpected_count"] > 200
    example = owed["examples"][0]
    assert example["value_state"] == "owed" and example["department_code"]
    assert example["district_name_zh"]
    publish(built)
    assert query(built.serving_path, "select is_provisional, completeness_pct from mart_rounds "
                 "where city_code = '371000' and year = 2024") == [(True, 0.0)]


@pytest.mark.airflow
def test_warehouse_dag_run_fails_and_publishes_nothing(built, airflow_db, webhook):
    """Through the real DAG: an intake bug lands an impossible value in raw; dbt builds it,
    validation stops the run before publish, and BI tools keep the previous publication."""
    from citycheck.devtools.demo import load_dags

    serving_before = _digest(built.serving_path)
    con = duckdb.connect(str(built.warehouse_path))
    # A well-formed file whose one accepted row slipped past intake's range check.
    con.execute("insert into raw.submission_files values ('bug', 'bug.csv', null, 1, now(), "
                "'371000', 'water', 2023, 'long', 'loaded', 1, 1, 0, 0, 'simulated intake bug')")
    con.execute("insert into raw.submission_rows by name select 'bug' as file_hash, "
                "1 as record_number, 'bug.csv' as sheet_name, 2 as row_number, 'E2' as cell, "
                "'accepted' as status, 'sewage_treatment_rate_pct' as indicator_text, "
                "'371002' as district_text, '140' as value_text, "
                "'sewage_treatment_rate_pct' as indicator_code, '371002' as district_code, "
                "2023 as year, 140.0 as value, false as is_missing, now() as loaded_at")
    con.close()
    import logging

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    keep = Keep()
    logging.getLogger("citycheck.validate").addHandler(keep)
    try:
        run = load_dags()["citycheck_warehouse"].test(run_conf={"years": ""})
    finally:
        logging.getLogger("citycheck.validate").removeHandler(keep)
    assert str(run.state) == "failed"
    # the task log names the year, the check and the row in one line of its own
    assert any(r.startswith("validation failed [year=2023] fct_indicator_values: ") and
               '"value": 140.0' in r for r in records), records
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["dbt_build"] == "success" and states["validate"] == "failed"
    assert states["publish"] == states["reports"] == "upstream_failed"
    assert _digest(built.serving_path) == serving_before
    # whoever is on call hears about it: one alert, for the task that failed
    (alert,) = [a for a in webhook if a["event"] == "task_failed"]
    assert alert["dag_id"] == "citycheck_warehouse" and alert["task_id"] == "validate"
    assert "ValidationFailed" in alert["error"] and "sewage_treatment_rate_pct" in alert["error"]
    assert alert["log_url"].endswith("/tasks/validate?try_number=1")


@pytest.mark.airflow
def test_a_run_that_fails_mid_build_alerts_and_leaves_the_publication(built, airflow_db,
                                                                       webhook):
    """dbt fails part-way (a dbt test on a model the marts depend on): the marts that dbt did
    rebuild are not published, BI tools keep the previous publication, and the webhook gets
    a JSON alert naming the DAG, the task, the year and where the log is."""
    from citycheck.devtools.demo import load_dags

    serving_before = _digest(built.serving_path)
    parquet_before = parquet_digest(built, "fct_indicator_values")
    published_before = query(built.serving_path, "select * from fct_indicator_values "
                                                 "order by value_id")
    land_unknown_indicator(built.warehouse_path)

    run = load_dags()["citycheck_warehouse"].test(run_conf={"years": "2023"})
    assert str(run.state) == "failed"
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"check_freshness": "success", "dbt_build": "failed",
                      "validate": "upstream_failed", "publish": "upstream_failed",
                      "reports": "upstream_failed"}
    assert _digest(built.serving_path) == serving_before
    assert parquet_digest(built, "fct_indicator_values") == parquet_before
    assert query(built.serving_path, "select * from fct_indicator_values "
                                     "order by value_id") == published_before

    (alert,) = [a for a in webhook if a["event"] == "task_failed"]
    assert alert["content_type"].startswith("application/json")
    assert (alert["dag_id"], alert["task_id"], alert["year"]) == (
        "citycheck_warehouse", "dbt_build", "2023")
    assert alert["run_id"] == run.run_id
    # the dbt test that stopped the build: every value's indicator is in the catalogue
    assert "BuildError" in alert["error"]
    assert "relationships_fct_indicator_values_indicator_code" in alert["error"]
    assert alert["log_file"].endswith("task_id=dbt_build/attempt=1.log")
    assert "citycheck_warehouse" in alert["log_url"]


def test_a_year_with_no_values_is_reported_not_refused(built):
    """The annual review of a year nothing arrived for says so in the report; it does not
    stop the publication of the other years."""
    report = validate(built, years=[2030])
    assert any("no values are loaded for these reporting years" in n["why"]
               for n in report.notices)
    publish(built)


def test_unchanged_partitions_keep_their_verdict_and_a_changed_one_is_checked(built):
    """A re-validation reads only what changed since it passed: the same rows under the same
    suite keep their verdict; a partition with one changed value is checked again and fails."""
    first = validate(built)              # the sample's build, already validated once
    assert len(first.reused) == first_partitions(built) and first.checks > 0
    assert "fct_indicator_values [year=2021]" in first.reused

    con = duckdb.connect(str(built.warehouse_path))
    con.execute("update marts.fct_indicator_values set value = 140 where "
                "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371002' "
                "and year = 2021")
    con.close()
    with pytest.raises(ValidationFailed, match=r"\[year=2021\]"):
        validate(built)
    kept = query(built.warehouse_path, """
        select suite, partition_value, reused_from is not null, success
        from audit.validated_partitions
        where validated_at = (select max(validated_at) from audit.validated_partitions)
          and suite = 'fct_indicator_values' and partition_value in ('2020', '2021')
        order by partition_value""")
    assert kept == [("fct_indicator_values", "2020", True, True),
                    ("fct_indicator_values", "2021", False, False)]


def first_partitions(settings) -> int:
    """How many suite partitions the first validation of the warehouse passed (a partition
    of a report-only suite with values still owed is checked again every time)."""
    return query(settings.warehouse_path, """
        select count(*) from audit.validated_partitions
        where validated_at = (select min(validated_at) from audit.validated_partitions)
          and success""")[0][0]


def test_a_changed_suite_validates_every_partition_again(built, tmp_path):
    from citycheck.checks.validate import load_suites

    suites = load_suites()
    changed = tmp_path / suites[0].path.name
    changed.write_text(suites[0].path.read_text("utf-8").replace("}", " }", 1), "utf-8")
    suites[0].path = changed            # same expectations, but a different file
    report = validate(built, suites=suites)
    assert not [k for k in report.reused if k.startswith(suites[0].name + " ")]
    assert [k for k in report.reused if k.startswith(suites[1].name + " ")]


def test_when_nothing_changed_great_expectations_is_not_even_loaded(built):
    import os
    import subprocess
    import sys

    script = ("import sys\nfrom common.config import Settings\n"
              "from citycheck.checks.validate import validate\n"
              "report = validate(Settings.from_env())\n"
              "print(len(report.reused), report.checks, 'great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], env=dict(os.environ),
                         capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 0 and int(out[1]) > 0
    assert out[2] == "False"
