"""District history: each value joins the version of its district valid in its year."""
import csv

from citycheck.warehouse.build import build
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


def test_a_rename_that_keeps_its_code_resolves_each_name_in_its_years(tmp_path):
    """A development zone renamed in 2022 under the same code: intake accepts the old name for
    2021 and the new one for 2023, each version with its own name."""
    import shutil

    from common.config import SEEDS_DIR
    from common.reference import Reference

    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds)
    rows = list(csv.DictReader(open(seeds / "districts.csv", encoding="utf-8")))
    old = next(r for r in rows if r["district_code"] == "371073")
    old["valid_to"] = "2021-12-31"
    new = dict(old, name_zh="威海临港新区", name_en="Lingang New Area", valid_from="2022-01-01",
               valid_to="", history_note="Renamed in 2022 (test)")
    with open(seeds / "districts.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([*rows, new])
    ref = Reference(seeds)
    assert ref.resolve_district("威海临港经济技术开发区", "371000", 2021).code == "371073"
    assert ref.resolve_district("威海临港新区", "371000", 2023).code == "371073"
    assert ref.district("371073", 2021).name_zh == "威海临港经济技术开发区"
    assert ref.district("371073", 2023).name_zh == "威海临港新区"
    late = ref.resolve_district("威海临港新区", "371000", 2020)
    assert late.code is None and "did not exist in 2020" in late.reason
