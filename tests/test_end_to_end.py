"""The main job through the real Airflow DAGs (dag.test) on the sample data."""
import json
from pathlib import Path

import duckdb
import pytest

from citycheck.devtools.demo import run_demo
from citycheck.publication.publish import parquet_location
from common.config import SAMPLE_DIR
from tests.helpers import query, sample_rows

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def demo(tmp_path_factory, airflow_db, portal_url):
    from tests.helpers import make_settings

    settings = make_settings(tmp_path_factory.mktemp("e2e") / "data")
    assert run_demo(settings), "a DAG run did not succeed"
    return settings


def test_city_total_of_a_sum_indicator_equals_the_sample_files(demo):
    districts = sample_rows("utility_tunnel_km", 2023)
    assert len(districts) == 7
    expected = round(sum(districts.values()), 6)
    assert expected == 40.6  # the figure seed 004 reports for Weihai by 2023
    (published,) = query(demo.serving_path, "select value, value_basis from mart_indicator_scorecard "
                         "where is_city_total and indicator_code = 'utility_tunnel_km' and year = 2023")
    assert published == (expected, "rollup_sum")


def test_scorecard_judges_known_targets(demo):
    rows = dict(query(demo.serving_path,
                      "select district_name_zh, target_met from mart_indicator_scorecard "
                      "where indicator_code = 'sewage_treatment_rate_pct' and year = 2020 "
                      "and not is_city_total"))
    # Central city target 98 %: 文登区 reported 97.4; 荣成市 and 乳山市 only need 90 %.
    assert rows["文登区"] is False
    assert rows["环翠区"] is True and rows["乳山市"] is True
    (bridges,) = query(demo.serving_path,
                       "select compared_value, target_value, target_met from "
                       "mart_indicator_scorecard where is_city_total and "
                       "indicator_code = 'pedestrian_bridges_cum' and year = 2020")
    assert bridges == (8.0, 9.0, False)  # 8 bridges built during 2020 against 9 planned


def test_ranks_honour_direction_and_open_data_arrived(demo):
    ranked = query(demo.serving_path,
                   "select district_code, value, rank_in_city from mart_indicator_scorecard "
                   "where indicator_code = 'resident_population_10k' and year = 2019 "
                   "and not is_city_total order by rank_in_city")
    assert [r[2] for r in ranked] == list(range(1, 8))
    assert ranked[0][:2] == ("371082", 71.4)  # 荣成市 is the most populous (higher is better)
    (total,) = query(demo.serving_path, "select value from mart_indicator_scorecard where "
                     "is_city_total and indicator_code = 'resident_population_10k' and year = 2019")
    assert total == (283.6,)  # seed 002: 283.6 万 resident population in 2019
    (aq,) = query(demo.serving_path, "select count(*) from fct_indicator_values "
                  "where indicator_code = 'air_quality_good_days'")
    assert aq == (35,)


def test_every_row_is_accounted_for_and_traceable(demo):
    files = query(demo.warehouse_path, "select original_name, rows_read, rows_accepted, "
                  "rows_rejected, rows_ignored from raw.submission_files")
    assert len(files) == len(list((SAMPLE_DIR / "submissions").iterdir())) == 56
    for name, read, accepted, rejected, ignored in files:
        assert read == accepted + rejected + ignored, name
    (row,) = query(demo.serving_path,
                   "select f.source_row, s.source_name, s.source_location from "
                   "fct_indicator_values f join dim_source s on s.source_id = f.source_id "
                   "where f.indicator_code = 'sewage_treatment_rate_pct' and "
                   "f.district_code = '371003' and f.year = 2020")
    assert row[1] == "371000_water_2020.xlsx" and Path(row[2]).exists()


def test_parquet_and_serving_copy_agree(demo):
    n_serving = query(demo.serving_path, "select count(*) from mart_indicator_scorecard")[0][0]
    parquet = parquet_location(demo.published_dir / "parquet", "mart_indicator_scorecard")
    n_parquet = duckdb.sql(f"select count(*) from '{parquet}'").fetchall()[0][0]
    assert n_serving == n_parquet > 1000


def test_running_again_adds_nothing(demo):
    before = query(demo.warehouse_path, "select count(*) from marts.fct_indicator_value_versions")
    assert run_demo(demo)
    after = query(demo.warehouse_path, "select count(*) from marts.fct_indicator_value_versions")
    assert before == after
    statuses = query(demo.warehouse_path, "select status, count(*) from raw.open_data_fetches "
                     "group by 1 order by 1")
    # the JSON APIs answered the same payloads; the CSV download answered 304 Not Modified
    assert dict(statuses) == {"loaded": 3, "unchanged": 2, "not_modified": 1}


def test_the_sample_correction_supersedes_and_is_flagged(demo):
    """The water bureau's wide-layout correction of 2022 (data/sample): one value changed, six
    restated; the newest wins, the first version stays, the scorecard flags the revision."""
    versions = query(demo.serving_path,
                     "select version_number, value, source_cell from fct_indicator_value_versions "
                     "where indicator_code = 'sewage_treatment_rate_pct' and district_code = "
                     "'371083' and year = 2022 order by version_number")
    assert [(v[0], v[1]) for v in versions] == [(1, 96.0), (2, 96.4)] and versions[1][2] == "F6"
    revised = query(demo.serving_path,
                    "select district_code from mart_indicator_scorecard where is_revised "
                    "and indicator_code = 'sewage_treatment_rate_pct' and year = 2022")
    assert revised == [("371083",)]
    (receipt,) = [json.loads(p.read_text("utf-8")) for p in demo.archive_dir.rglob("receipt.json")
                  if "correction" in p.read_text("utf-8")]
    assert receipt["layout"] == "wide" and receipt["rows_accepted"] == 7


def test_make_run_writes_the_data_dictionary(demo):
    page = demo.data_dir / "dbt" / "target" / "static_index.html"
    text = page.read_text("utf-8")
    assert "mart_target_progress" in text and "Open SDG" in text
    chinese = "城市体检"  # the bilingual descriptions reach the dictionary (as JSON escapes)
    assert chinese in text or json.dumps(chinese)[1:-1] in text


def test_the_warehouse_dag_writes_the_annual_reports_after_publishing(demo):
    """The reports task after publish: a report of every city-year with published values,
    HTML and PDF, each from the publication it names."""
    from tests.browser import CHROMIUM

    folder = demo.reports_dir / "annual"
    years = [y for (y,) in query(demo.serving_path, "select distinct year from "
                                 "mart_indicator_scorecard where city_code = '371000' order by 1")]
    assert sorted(p.name for p in folder.glob("*.html")) == [f"371000_{y}.html" for y in years]
    if CHROMIUM:
        assert sorted(p.stem for p in folder.glob("*.pdf")) == [f"371000_{y}" for y in years]
    # each names the publication it was made from (a later publication of the same data
    # leaves the reports as they are)
    import re

    page = (folder / "371000_2023.html").read_text("utf-8")
    named = re.search(r"publication (\d{8}T\d{6}-[0-9a-f]+)", page)
    assert query(demo.warehouse_path, "select count(*) from audit.publications where "
                 f"publication_id = '{named[1]}'") == [(1,)]
    # ... and the indicator pages, one per indicator
    (indicators,) = query(demo.serving_path, "select count(*) from dim_indicator")
    pages = demo.reports_dir / "site" / "indicators"
    assert (demo.reports_dir / "site" / "index.html").exists()
    assert len(list(pages.glob("*.html"))) == len(list(pages.glob("*.csv"))) == indicators[0]


def test_the_run_summary_says_what_layout_rows_are_where_receipts_are_and_what_passed(
        demo, capsys):
    from citycheck.devtools.demo import print_validation
    from citycheck.serving.summary import print_intake

    print_intake(demo)
    print_validation(demo)
    out = capsys.readouterr().out
    assert "layout" in out and "titles, headers, blank, totals and footer rows" in out
    assert f"{demo.archive_dir}/<sha256[:2]>/<sha256>/receipt.txt" in out
    assert any((demo.archive_dir).glob("*/*/receipt.txt"))
    assert "passed" in out and "checks" in out and "latest.html" in out
