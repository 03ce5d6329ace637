"""City figures rolled up from the districts, and a department's own city figure beside them."""
import csv

from citycheck.warehouse.build import build
from extract.submissions import ingest_file
from tests.helpers import query, sample_rows


def test_a_reported_city_figure_is_compared_with_the_rollup(built, tmp_path):
    parks = sum(sample_rows("pocket_parks_cum", 2023).values())    # 254, seed 004
    lifts = sum(sample_rows("lifts_added_cum", 2023).values())     # 106, seed 004
    path = tmp_path / "housing_city.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([
            ["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], [],
            ["指标代码", "区县名称", "数值"],
            ["pocket_parks_cum", "威海市", parks + 6],      # 2.4 % above: flagged
            ["lifts_added_cum", "全市", lifts + 0.5]])       # 0.5 % above: within 1 %
    assert ingest_file(path, built).rows_accepted == 2
    build(built)
    rows = query(built.warehouse_path,
                 "select indicator_code, value, value_basis, reported_city_value, "
                 "rollup_difference, rollup_differs from marts.mart_indicator_scorecard "
                 "where is_city_total and year = 2023 and indicator_code in "
                 "('pocket_parks_cum', 'lifts_added_cum') order by 1")
    assert rows == [("lifts_added_cum", lifts, "rollup_sum", lifts + 0.5, 0.5, False),
                    ("pocket_parks_cum", parks, "rollup_sum", parks + 6, 6.0, True)]
