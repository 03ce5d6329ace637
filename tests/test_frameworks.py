"""Frameworks as data, by programme and year (seeds/framework_items.csv): an indicator is owed,
templated and scored only in the years its programme's framework holds it; seed 001's
assessment items join Weihai's framework in 2024; the sustainable-development index over seed
004's five aspects equals the arithmetic done here from the warehouse's indicator scores."""
from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from common.config import SEEDS_DIR
from common.reference import Reference
from extract.template import TemplateError, template_rows
from tests.helpers import query

WEIHAI = "371000"
PROGRAMME = "weihai_refined_city"


def _seed(name: str) -> list[dict]:
    with open(SEEDS_DIR / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _in_framework(row: dict, year: int) -> bool:
    return int(row["first_year"]) <= year and (not row["last_year"] or year <= int(row["last_year"]))


def _seed_001_items() -> set[str]:
    """The assessment items seed 001 names that joined Weihai's framework in 2024."""
    return {r["indicator_code"] for r in _seed("framework_items.csv") if r["first_year"] == "2024"}


def test_seed_001s_assessment_items_are_catalogued_with_direction_and_unit():
    indicators = {r["indicator_code"]: r for r in _seed("indicators.csv")}
    items = _seed_001_items()
    # what seed 001 names for the dimensions: 开发强度, 道路网密度, 拥堵, 刑事, 安全感, 无障碍,
    # 年轻人比例, 入学, 民营经济, 物联网, 内涝 (and 能耗, 绿色出行)
    named = {"开发强度", "道路网密度", "拥堵", "刑事", "安全感", "无障碍", "年轻人", "入学",
             "民营经济", "物联网", "积水", "能耗", "绿色出行"}
    assert {w for w in named if any(w in indicators[c]["name_zh"] for c in items)} == named
    directions = {c: indicators[c]["direction"] for c in items}
    assert directions["criminal_cases_per_10k"] == "lower_better"
    assert directions["congested_road_sections"] == "lower_better"
    assert directions["waterlogging_points"] == "lower_better"
    assert directions["road_network_density_km_km2"] == "higher_better"
    assert all(indicators[c]["unit"] and indicators[c]["source_documents"] == "001"
               for c in items)
    # in Weihai's framework only, from 2024, each in a health-check dimension and an aspect
    rows = [r for r in _seed("framework_items.csv") if r["indicator_code"] in items]
    assert {r["programme_code"] for r in rows} == {PROGRAMME}
    assert {(r["indicator_code"], r["scheme"]) for r in rows} == {
        (c, s) for c in items for s in ("city_health_check", "refined_city_aspect")}


def test_an_indicator_is_owed_only_in_the_years_its_framework_holds_it(sample_warehouse):
    serving = sample_warehouse / "published" / "citycheck.duckdb"
    owed = defaultdict(set)
    for year, code in query(serving, "select distinct year, indicator_code from "
                            "mart_round_values where city_code = ?", [WEIHAI]):
        owed[year].add(code)
    assert {2023, 2024} <= set(owed)   # the calendar opened 2024's round (today is later)
    items = _seed_001_items()
    assert items <= owed[2024] and not items & owed[2023]
    # every year's owed set is what the framework holds that year (required every year)
    required = {r["indicator_code"] for r in _seed("indicators.csv")
                if r["required_every_year"] == "true"}
    for year, codes in owed.items():
        expected = {r["indicator_code"] for r in _seed("framework_items.csv")
                    if r["programme_code"] == PROGRAMME and _in_framework(r, year)} & required
        assert codes == expected, year
    # a new city-level item: one value owed per round, by its department, still owed
    (state,) = query(serving, "select count(*), min(department_code), min(value_state) from "
                     "mart_round_values where city_code = ? and year = 2024 and "
                     "indicator_code = 'criminal_cases_per_10k'", [WEIHAI])
    assert state == (1, "public_security", "owed")


def test_the_template_of_a_year_holds_that_years_framework():
    ref = Reference()
    rows = template_rows(ref, "public_security", 2024, WEIHAI)
    assert {r[0] for r in rows} == {"congested_road_sections", "criminal_cases_per_10k",
                                    "public_sense_of_security_pct"}
    with pytest.raises(TemplateError) as refused:
        template_rows(ref, "public_security", 2023, WEIHAI)
    assert "2023" in str(refused.value) and "framework_items.csv" in str(refused.value)


def test_the_sustainable_development_index_is_the_mean_of_its_aspects(sample_warehouse):
    serving = sample_warehouse / "published" / "citycheck.duckdb"
    warehouse = sample_warehouse / "warehouse" / "citycheck.duckdb"
    published = query(serving, "select year, aspect_code, aspect_score, coverage, "
                       "indicators_expected, index_value, aspect_named_in_source from "
                       "mart_sustainability_index where city_code = ? order by year, aspect_code",
                       [WEIHAI])
    assert {r[0] for r in published} >= {2019, 2023}
    assert {(r[1], r[6]) for r in published} == {
        ("rca_ecology", True), ("rca_character", True), ("rca_services", True),
        ("rca_safety", False), ("rca_vitality", False)}
    assert not query(serving, "select 1 from mart_sustainability_index where city_code <> ?",
                     [WEIHAI])   # only Weihai's programme has aspects

    # by hand: each indicator's city score is its districts' mean; an aspect is the weighted
    # mean of its indicators (weights from index_weights.csv); the index the aspects' mean
    scores = defaultdict(list)
    for year, code, score in query(warehouse, "select year, indicator_code, score from "
                                   "intermediate.int_indicator_scores where city_code = ? "
                                   "and score is not null", [WEIHAI]):
        scores[(year, code)].append(score)
    weights = {r["indicator_code"]: float(r["weight"]) for r in _seed("index_weights.csv")}
    district_level = {r["indicator_code"] for r in _seed("indicators.csv")
                      if r["reporting_level"] == "district"}
    framework = [r for r in _seed("framework_items.csv")
                 if r["programme_code"] == PROGRAMME and r["scheme"] == "refined_city_aspect"
                 and weights.get(r["indicator_code"], 0) > 0
                 and r["indicator_code"] in district_level]
    by_year = defaultdict(dict)
    for year, aspect, score, coverage, expected, index_value, _ in published:
        members = [r["indicator_code"] for r in framework
                   if r["classification_code"] == aspect and _in_framework(r, year)]
        assert expected == len(members)
        have = [(sum(scores[(year, c)]) / len(scores[(year, c)]), weights[c])
                for c in members if scores.get((year, c))]
        weight = sum(w for _, w in have)
        assert coverage == pytest.approx(weight / sum(weights[c] for c in members), abs=1e-4)
        mine = sum(s * w for s, w in have) / weight if coverage >= 0.5 else None
        assert score == (pytest.approx(mine, abs=1e-3) if mine is not None else None)
        by_year[year][aspect] = (score, index_value)
    for aspects in by_year.values():
        present = [s for s, _ in aspects.values() if s is not None]
        (index_value,) = {i for _, i in aspects.values()}
        assert index_value == pytest.approx(sum(present) / len(present), abs=1e-3)
    # years compare on fixed goalposts: 2023 is not 2019 relabelled
    assert by_year[2023] != by_year[2019]
