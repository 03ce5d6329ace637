"""Every query in docs/analysts.md runs against the sample warehouse and gives the right
answer — worked out here independently, from the sample files, the portal payloads and the
source documents' figures wherever the answer does not depend on the warehouse's own logic."""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import openpyxl
import pytest

from common.config import PROJECT_ROOT, SAMPLE_DIR, SEEDS_DIR
from tests.helpers import query, sample_rows

GUIDE = PROJECT_ROOT / "docs" / "analysts.md"
QUESTIONS = re.findall(r"### Q(\d+)\. (.*?)\n+```sql\n(.*?)```", GUIDE.read_text("utf-8"), re.S)
NAMES = {"371002": "环翠区", "371003": "文登区", "371082": "荣成市", "371083": "乳山市",
         "371071": "威海火炬高技术产业开发区", "371072": "威海经济技术开发区",
         "371073": "威海临港经济技术开发区"}
CENTRAL = {"371002", "371003", "371071", "371072", "371073"}


@pytest.fixture(scope="module")
def answers(sample_warehouse) -> dict[int, list[tuple]]:
    serving = sample_warehouse / "published" / "citycheck.duckdb"
    return {int(n): query(serving, sql) for n, _, sql in QUESTIONS}


def test_the_guide_answers_at_least_ten_questions():
    assert len(QUESTIONS) >= 10
    assert [int(n) for n, _, _ in QUESTIONS] == list(range(1, len(QUESTIONS) + 1))


def test_q1_districts_that_missed_the_2020_sewage_target(answers):
    values = sample_rows("sewage_treatment_rate_pct", 2020)
    missed = sorted((NAMES[d], v, ">=", 98.0 if d in CENTRAL else 90.0) for d, v in values.items()
                    if v < (98.0 if d in CENTRAL else 90.0))
    assert answers[1] == missed == [("文登区", 97.4, ">=", 98.0)]


def _ecology_scores_2023(serving: Path) -> dict[str, float]:
    """The index method of docs/analysts.md, redone in plain Python on the published values:
    each indicator's scored value (per 10,000 residents where index_weights.csv says so)
    against the goalposts of its base year — the first year from 2019, the programme's
    first, in which the districts differ — bounded to [0, 200]; weighted mean per district."""
    seeds = list(csv.DictReader(open(SEEDS_DIR / "index_weights.csv", encoding="utf-8")))
    weights = {r["indicator_code"]: float(r["weight"]) for r in seeds}
    divided_by = {r["indicator_code"]: r["divided_by"] for r in seeds if r["divided_by"]}
    dims = dict(query(serving, "select indicator_code, chc_dimension_code from dim_indicator"))
    directions = dict(query(serving, "select indicator_code, direction from dim_indicator"))
    values = {(d, i, y): v for d, i, y, v in query(
        serving, "select district_code, indicator_code, year, value from fct_indicator_values "
        "where city_code = '371000' and value is not null and district_code <> city_code")}

    def scored(d: str, i: str, y: int) -> float | None:
        v = values.get((d, i, y))
        if v is None or i not in divided_by:
            return v
        people = values.get((d, divided_by[i], y))
        return v / people if people else None

    districts = {d for d, _, _ in values}
    totals: dict[str, list[float]] = {}
    for i, weight in weights.items():
        if weight <= 0 or dims[i] != "chc_ecology":
            continue
        for base in range(2019, 2024):
            found = [s for d in districts if (s := scored(d, i, base)) is not None]
            if found and max(found) > min(found):
                lo, hi = min(found), max(found)
                break
        else:
            continue          # no year with a spread: no goalposts, no score
        for d in districts:
            v = scored(d, i, 2023)
            if v is None:
                continue
            s = 100 * ((v - lo) if directions[i] == "higher_better" else (hi - v)) / (hi - lo)
            acc = totals.setdefault(d, [0.0, 0.0])
            acc[0] += min(max(s, 0), 200) * weight
            acc[1] += weight
    return {NAMES[d]: a / w for d, (a, w) in totals.items()}


def test_q2_ecology_ranking_recomputed_by_hand(answers, sample_warehouse):
    expected = _ecology_scores_2023(sample_warehouse / "published" / "citycheck.duckdb")
    assert len(answers[2]) == len(expected) == 7
    order = sorted(expected, key=lambda n: -expected[n])
    assert [name for _, name, _, _ in answers[2]] == order
    assert [rank for rank, *_ in answers[2]] == list(range(1, 8))
    for _, name, score, coverage in answers[2]:
        assert score == pytest.approx(expected[name], abs=1e-3) and coverage == 1.0


def test_q3_the_revised_value_is_the_sample_correction(answers):
    rows = list(csv.reader(open(SAMPLE_DIR / "submissions" / "371000_water_2022_correction.csv",
                                encoding="utf-8")))
    header, values = rows[4], rows[5]
    before = sample_rows("sewage_treatment_rate_pct", 2022)
    codes = {v: k for k, v in NAMES.items()} | {"高区": "371071", "经区": "371072",
                                                   "临港区": "371073"}
    changed = [(codes[name], float(v)) for name, v in zip(header[2:], values[2:], strict=True)
               if float(v) != before[codes[name]]]
    assert changed == [("371083", 96.4)]
    assert answers[3] == [("371083", "乳山市", "sewage_treatment_rate_pct", 2022, before["371083"],
                           96.4, "371000_water_2022_correction.csv")]


def test_q4_every_department_complete_in_2023(answers):
    assert len(answers[4]) >= 10
    assert all(r[3] == 0 and r[4] == "complete" and r[1] == r[2] > 0 for r in answers[4])
    assert ("市水务局", 7, 7, 0, "complete") in answers[4]


def test_q5_pocket_parks_match_the_reported_city_figures(answers):
    by_year = {y: (v, basis) for y, v, basis in answers[5]}
    # seed 002: 194 by the end of 2020; seed 004: 254 by 2023
    assert by_year[2020] == (194.0, "rollup_sum") and by_year[2023] == (254.0, "rollup_sum")


def test_q6_most_pocket_parks_added(answers):
    first, last = (sample_rows("pocket_parks_cum", y) for y in (2019, 2023))
    added = {d: last[d] - first[d] for d in first}
    best = max(added, key=added.get)
    assert sorted(added.values())[-2] < added[best]  # one clear answer
    assert answers[6] == [(NAMES[best], added[best])]


def test_q7_missed_targets(answers):
    missed = {r[0]: r for r in answers[7]}
    assert missed["WH-001-10"][6] == 97.4          # 文登区 sewage 97.4 against 98
    assert missed["WH-001-22"][6:8] == (8.0, -1.0)  # 8 bridges built in 2020 against 9
    assert all(r[7] < 0 for r in answers[7])


def test_q8_overall_index_leaders(answers, sample_warehouse):
    serving = sample_warehouse / "published" / "citycheck.duckdb"
    top = query(serving, "select district_name_zh from mart_dimension_index where year = 2023 "
                "and dimension_code = 'overall' and city_code = '371000' order by score desc "
                "limit 3")
    assert [r[1] for r in answers[8]] == [t[0] for t in top]
    assert [r[0] for r in answers[8]] == [1, 2, 3] and all(r[3] == 1.0 for r in answers[8])


def test_q9_a_value_traces_to_its_cell(answers):
    ((value, name, sheet, row, cell, location, _),) = answers[9]
    wb = openpyxl.load_workbook(SAMPLE_DIR / "submissions" / name)
    ws = wb[sheet]
    assert ws[cell].value == value == 97.4 and ws[f"C{row}"].value == "371003"
    assert Path(location).exists()


def test_q10_air_quality_from_the_portal_payload(answers):
    records = json.loads((SAMPLE_DIR / "portal" / "ckan_air_quality.json").read_text("utf-8"))
    days = {r["district_name"]: r["good_days"] for r in records if r["year"] == "2023"}
    best = max(days.values())
    assert {name for rank, name, _ in answers[10] if rank == 1} == {
        NAMES.get(n, n) for n, d in days.items() if d == best}
    assert [v for _, _, v in answers[10]] == sorted(days.values(), reverse=True)


def test_q11_population_weighted_city_rate(answers):
    rates = sample_rows("sewage_treatment_rate_pct", 2023)
    people = json.loads((SAMPLE_DIR / "portal" / "statistics_population.json").read_text("utf-8"))
    codes = {v: k for k, v in NAMES.items()} | {"高区": "371071", "经区": "371072",
                                                   "临港区": "371073"}
    pop = {codes[r["地区"]]: r["常住人口（万人）"] for r in people if int(r["年份"]) == 2023}
    weighted = sum(rates[d] * pop[d] for d in rates) / sum(pop[d] for d in rates)
    ((published, basis, plain),) = answers[11]
    assert basis == "rollup_population_weighted_mean"
    assert published == pytest.approx(weighted, abs=1e-4)
    assert plain == pytest.approx(sum(rates.values()) / len(rates))


def test_q12_targets_due_in_2021(answers):
    due = {r["target_id"] for r in csv.DictReader(open(SEEDS_DIR / "targets.csv", encoding="utf-8"))
           if r["target_year"] == "2021" and r["city_code"] == "371000"}
    assert {r[0] for r in answers[12]} == due
    tunnels = next(r for r in answers[12] if r[0] == "WH-000-01")
    # 22.4 km (2019) -> 34.2 km (2021) against 60 km by 2021 (seed 000)
    ratio = (math.sqrt(34.2 / 22.4) - 1) / (math.sqrt(60 / 22.4) - 1)
    assert tunnels[3:6] == (2019, 22.4, 2021) and tunnels[7] == pytest.approx(ratio, abs=1e-4)
    assert tunnels[8] == "limited_progress"  # 0.37 of the growth needed


def test_q13_nothing_in_quarantine_for_the_sample(answers, sample_warehouse):
    rejected = query(sample_warehouse / "warehouse" / "citycheck.duckdb",
                     "select count(*) from raw.submission_rows where status = 'rejected'")
    assert answers[13] == [] and rejected == [(0,)]


def test_the_correction_receipt_lists_what_it_changed(sample_warehouse):
    """Ingested after the original (the inbox is taken oldest first), the correction's receipt
    names the one value it changed and counts the six it restated."""
    (receipt,) = [json.loads(p.read_text("utf-8"))
                  for p in (sample_warehouse / "archive").rglob("receipt.json")
                  if "correction" in p.read_text("utf-8")]
    assert receipt["layout"] == "wide" and receipt["restated_unchanged"] == 6
    assert [(s["district_code"], s["earlier_value"], s["value"], s["earlier_file"])
            for s in receipt["superseded"]] == [("371083", 96.0, 96.4, "371000_water_2022.xlsx")]
