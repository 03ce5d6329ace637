"""The SQL engine means what Great Expectations means: both engines, run on the same doctored
warehouse, find the same failures with the same unexpected counts and examples, and pass the
same clean one with the same number of checks."""
from __future__ import annotations

import json

import duckdb
import pytest

from citycheck.checks.validate import ValidationFailed, load_suites, validate
from tests.helpers import query

# Damage of every kind the suites look for, in 2020 and 2021: a value above its indicator's
# valid range and one below it, a duplicated key, a missing district, a rank beyond the
# number of districts ranked, a rank of 0, a missing required value.
DOCTOR = [
    "update marts.fct_indicator_values set value = 140 where indicator_code = "
    "'sewage_treatment_rate_pct' and district_code = '371002' and year = 2020",
    "update marts.fct_indicator_values set value = -5 where indicator_code = "
    "'sewage_treatment_rate_pct' and district_code = '371003' and year = 2021",
    "insert into marts.fct_indicator_values select * from marts.fct_indicator_values "
    "where year = 2020 and indicator_code = 'sewage_treatment_rate_pct' and district_code "
    "in ('371003', '371082')",
    "update marts.fct_indicator_values set district_code = null where year = 2021 and "
    "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371082'",
    "update marts.mart_indicator_scorecard set rank_in_city = districts_ranked + 1 "
    "where year = 2021 and rank_in_city = 1",
    "update marts.mart_indicator_scorecard set rank_in_city = 0 where year = 2020 and "
    "rank_in_city = 2",
    "delete from marts.fct_indicator_values where year = 2021 and indicator_code = "
    "'pocket_parks_cum' and district_code = '371002'",
]


def _failures(settings, engine, monkeypatch):
    monkeypatch.setenv("CITYCHECK_VALIDATION_ENGINE", engine)
    with pytest.raises(ValidationFailed):
        validate(settings)
    report = json.loads(
        (settings.reports_dir / "validation" / "latest.json").read_text(encoding="utf-8"))
    suites = {s.name: s for s in load_suites()}
    found = {}
    for f in report["failures"]:
        keep = suites[f["suite"]].example_columns
        # GX shows the first rows in the frame's order, SQL in key order: the same rows
        # when all fit in the report, otherwise the same number of them
        examples = sorted(tuple((k, e.get(k)) for k in keep) for e in f["examples"])
        if f["unexpected_count"] > len(examples):
            examples = len(examples)
        kwargs = {k: float(v) if type(v) is int else v for k, v in f["kwargs"].items()}
        key = (f["suite"], f["partition"], f["expectation"], repr(sorted(kwargs.items())))
        found[key] = (f["unexpected_count"], examples)
    return report, found


def test_sql_and_great_expectations_agree_on_a_doctored_warehouse(built, monkeypatch):
    con = duckdb.connect(str(built.warehouse_path))
    for sql in DOCTOR:
        con.execute(sql)
    con.close()
    sql_report, by_sql = _failures(built, "sql", monkeypatch)
    gx_report, by_gx = _failures(built, "gx", monkeypatch)
    assert set(sql_report["engines"].values()) == {"sql"}
    assert set(gx_report["engines"].values()) == {"gx"}
    assert by_sql == by_gx
    kinds = {k[2] for k in by_sql}
    assert kinds >= {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique",
                     "expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
                     "expect_column_pair_values_a_to_be_greater_than_b"}, kinds
    assert sql_report["checks"] == gx_report["checks"]
    # the report names the damage: the value above the range, with its district
    above = [v for k, v in by_sql.items() if "valid_max" in k[3] and k[1] == "year=2020"]
    assert above and above[0][0] == 1 and ("district_code", "371002") in above[0][1][0]


def test_both_engines_pass_the_clean_warehouse_with_the_same_checks(built, monkeypatch):
    counts = {}
    for engine in ("sql", "gx"):
        monkeypatch.setenv("CITYCHECK_VALIDATION_ENGINE", engine)
        counts[engine] = validate(built).checks
    assert counts["sql"] == counts["gx"] > 0
    # each engine's verdicts are kept apart: a GX verdict is never reused as a SQL one
    keys = query(built.warehouse_path,
                 "select count(distinct suite_key) from audit.validated_partitions")
    assert keys == [(2 * len(load_suites()),)]


def test_an_unknown_engine_is_a_clear_error(built, monkeypatch):
    from common.config import ConfigError

    monkeypatch.setenv("CITYCHECK_VALIDATION_ENGINE", "spark")
    with pytest.raises(ConfigError, match="write sql or gx"):
        validate(built)
