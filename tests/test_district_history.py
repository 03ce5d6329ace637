"""District history: each value joins the version of its district valid in its year."""
import csv

from citycheck.build import build
from extract.submissions import ingest_file
from tests.helpers import query


def _canteens(path, year, district, value):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["填报部门", "civil_affairs"], ["城市", "371000"],
                                  ["年度", str(year)], [], ["指标代码", "区县名称", "数值"],
                                  ["community_canteens", district, value]])
    return path


def test_a_renamed_district_reports_under_the_name_valid_in_each_year(built, tmp_path):
    """文登市 (county-level city, 371081) became 文登区 (district, 371003) on 2014-01-23."""
    before = ingest_file(_canteens(tmp_path / "2013.csv", 2013, "文登市", "3"), built)
    after = ingest_file(_canteens(tmp_path / "2015.csv", 2015, "文登区", "4"), built)
    assert before.rows_accepted == after.rows_accepted == 1
    build(built)
    rows = query(built.warehouse_path,
                 "select year, district_code, district_key, s.district_name_zh, "
                 "d.district_name_zh, unit_level, value "
                 "from marts.mart_indicator_scorecard s join marts.dim_district d using "
                 "(district_key, district_code) where s.indicator_code = 'community_canteens' "
                 "and year in (2013, 2015) and not is_city_total order by year")
    assert rows == [(2013, "371081", "371081@1988-03-01", "文登市", "文登市", "county_city", 3.0),
                    (2015, "371003", "371003@2014-01-23", "文登区", "文登区", "district", 4.0)]


def test_a_name_is_refused_for_a_year_its_unit_did_not_exist(built, tmp_path):
    receipt = ingest_file(_canteens(tmp_path / "2016.csv", 2016, "文登市", "5"), built)
    (rejected,) = receipt.rejected
    assert rejected["column"] == "district_name"
    assert "'文登市' (371081) did not exist in 2016" in rejected["reason"]
