"""Zibo's recurring targets for every district (seed 003: "各区县每年要建成3处以上街头游园",
"2021年年底前，各区县分别建成10公里以上城市绿道"), loaded as rules (district_targets.csv) and
judged per district and year: the published attainment and ranking equal the arithmetic done
here from the sample files."""
from __future__ import annotations

import csv

import pytest

from common.config import SEEDS_DIR
from tests.helpers import query, sample_rows

ZIBO = "370300"


def _rules() -> list[dict]:
    with open(SEEDS_DIR / "district_targets.csv", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["city_code"] == ZIBO]


def test_the_rules_are_seed_003s_targets():
    rules = {r["indicator_code"]: (r["form"], float(r["target_value"]), r["first_year"],
                                   r["last_year"]) for r in _rules()}
    assert rules == {"street_gardens_new": ("each_year", 3.0, "2020", "2022"),
                     "vertical_greening_new": ("each_year", 2.0, "2020", "2022"),
                     "greenways_km_cum": ("by_year", 10.0, "2021", "2021"),
                     "night_economy_clusters": ("by_year", 2.0, "2021", "2021")}


@pytest.mark.parametrize("year", [2020, 2021, 2022])
def test_every_district_is_judged_and_ranked_as_by_hand(sample_warehouse, year):
    serving = sample_warehouse / "published" / "citycheck.duckdb"
    published = {r[0]: r[1:] for r in query(
        serving, "select district_code, targets_due, targets_met, targets_missed, "
        "targets_pending, attainment_pct, rank_in_city from mart_district_targets "
        "where city_code = ? and year = ?", [ZIBO, year])}
    districts = {d for (d,) in query(
        serving, "select district_code from dim_district where city_code = ? and "
        "unit_level <> 'city' and reports_indicators and is_current", [ZIBO])}
    assert set(published) == districts and len(districts) == 11

    due = [r for r in _rules() if int(r["first_year"]) <= year <= int(r["last_year"])]
    values = {r["indicator_code"]: sample_rows(r["indicator_code"], year) for r in due}
    expected = {}
    for d in districts:
        met = sum(1 for r in due if values[r["indicator_code"]].get(d, -1) >= float(r["target_value"]))
        missing = sum(1 for r in due if d not in values[r["indicator_code"]])
        missed = len(due) - met - missing
        share = round(100 * met / (met + missed), 1) if met + missed else None
        expected[d] = (len(due), met, missed, missing, share)
    ranked = sorted({e[4] for e in expected.values() if e[4] is not None}, reverse=True)
    for d, e in expected.items():
        rank = None if e[4] is None else 1 + sum(1 for x in expected.values()
                                                 if x[4] is not None and x[4] > e[4])
        assert published[d] == (*e, rank), d
    assert ranked and any(e[2] for e in expected.values())     # someone missed a target


def test_a_district_target_is_on_the_scorecard_with_its_own_attainment(sample_warehouse):
    serving = sample_warehouse / "published" / "citycheck.duckdb"
    values = sample_rows("street_gardens_new", 2021)
    rows = query(serving, "select district_code, value, comparator, target_value, target_met "
                          "from mart_indicator_scorecard where indicator_code = "
                          "'street_gardens_new' and year = 2021 and not is_city_total")
    assert len(rows) == 11
    for district, value, comparator, target, met in rows:
        assert (comparator, target) == (">=", 3.0)
        assert value == values[district] and met == (values[district] >= 3)


def test_make_run_prints_each_citys_districts_ranked_on_their_targets(sample_warehouse,
                                                                      monkeypatch, portal_url):
    import io

    from citycheck.serving.summary import print_district_targets
    from tests.helpers import make_settings

    out = io.StringIO()
    print_district_targets(make_settings(sample_warehouse, monkeypatch, portal_url), out)
    lines = out.getvalue().splitlines()
    assert "区县目标达成排名" in lines[1]
    (zibo,) = [line for line in lines if line.strip().startswith("Zibo")]
    (best,) = query(sample_warehouse / "published" / "citycheck.duckdb",
                    "select max(year) from mart_district_targets where city_code = ? "
                    "and rank_in_city is not null", [ZIBO])
    assert zibo.strip().startswith(f"Zibo    {best[0]}  1. ") and " … 11. " in zibo
