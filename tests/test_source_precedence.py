"""When a department's file and open data report the same value, a rule per indicator
(seeds/source_precedence.csv) says which is published, and the marts say which won and why."""
from __future__ import annotations

from datetime import datetime

from citycheck.warehouse.build import build
from extract.submissions import ingest_file
from tests.helpers import query
from tests.test_intake_real_world import write_csv

EARLY = datetime(2024, 1, 5, 9, 0)   # before the sample's open-data fetch


def _file(path, department: str, indicator: str, value: str):
    return write_csv(path, [["填报部门", department], ["城市", "371000"], ["年度", "2023"], [],
                            ["指标代码", "区县名称", "数值"], [indicator, "环翠区", value]])


def _current(settings, indicator: str) -> tuple:
    (row,) = query(settings.warehouse_path,
                   "select value, source_type, current_because from marts.fct_indicator_values "
                   "where indicator_code = ? and district_code = '371002' and year = 2023",
                   [indicator])
    return row


def test_the_preferred_source_wins_and_the_newest_wins_where_no_rule_says(built, tmp_path):
    opened = dict(query(built.warehouse_path,
                        "select indicator_code, value from raw.open_data_observations where "
                        "district_code = '371002' and year = 2023 and status = 'accepted'"))
    # both files arrived before the portal was fetched: open data is the newer version
    ingest_file(_file(tmp_path / "stat.csv", "statistics", "resident_population_10k", "92.3"),
                built, received_at=EARLY)
    ingest_file(_file(tmp_path / "eco.csv", "ecology_environment", "air_quality_good_days",
                      "300"), built, received_at=EARLY)
    build(built)

    value, source, because = _current(built, "resident_population_10k")
    assert (value, source) == (92.3, "submission") != (opened["resident_population_10k"], source)
    assert because.startswith("preferred source submission: the statistics bureau's figure")
    value, source, because = _current(built, "air_quality_good_days")
    assert (value, source) == (opened["air_quality_good_days"], "open_data")
    assert because.startswith("newest version of the department file and open data")
    # both versions stay on record
    assert query(built.warehouse_path,
                 "select count(*) from marts.fct_indicator_value_versions where "
                 "indicator_code = 'resident_population_10k' and district_code = '371002' "
                 "and year = 2023") == [(2,)]
