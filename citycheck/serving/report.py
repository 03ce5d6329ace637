"""The annual city health check report (一年一体检): one self-contained HTML page per city and
year, made from the published marts only, and a PDF of it.

    citycheck report --city 371000 --year 2023   one report
    citycheck report                             every city-year whose published data changed
                                                 (what the warehouse DAG runs after publishing)

Every number on the page is read from a published mart and carries where it came from: a cell
`<td data-mart="mart_indicator_scorecard" data-id="371002|…|2023" data-column="value">` holds
that mart's row and column, rounded for reading (`number_text`); counts say which rows they
count. `tests/test_report.py` reads the page and the marts and compares them, number by number.

Charts are SVG text written here (citycheck/serving/svg_chart.py), inlined: the page needs
no JavaScript and no network, the browser draws the Chinese text with its CJK font,
and the PDF (headless Chromium's print) has the same charts. Each chart has a text
description, and the table beside it holds the same numbers (no chart is the only way in).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from citycheck import TEMPLATES_DIR
from citycheck.serving.problems import shown_status
from citycheck.serving.sql import query_rows
from common.config import Settings

AT_RISK = ("needs_acceleration", "limited_progress", "deterioration")
FIVE_YEARS = 5
FONT = "Noto Sans CJK SC"
# The printed report lists the first rows of each data-quality list (the web page all of them)
PRINT_ROWS = 20
# The marts a report of (city, year) reads by year: it shows years up to its own.
YEAR_MARTS = ("mart_indicator_scorecard", "mart_district_ranking", "mart_dimension_index",
              "mart_district_targets", "mart_survey_estimates", "mart_sustainability_index",
              "mart_department_assessment",
              "mart_submission_status", "mart_submission_missing_values",
              "mart_plausibility_warnings", "mart_rounds", "mart_review_queue")
# ... and by city alone, and the labels and names of every city
CITY_MARTS = ("mart_target_progress", "mart_quarantine", "mart_problems")
SHARED = ("dim_indicator", "dim_district", "dim_code_label")


class ReportError(Exception):
    """The report cannot be made (nothing published, no such city or year). Says what to do."""


@dataclass
class ReportResult:
    html_path: Path
    pdf_path: Path | None
    pdf_note: str | None = None


def number_text(value: float | None, digits: int = 2) -> str:
    """How a mart's number is shown: rounded to `digits` decimals, trailing zeros dropped; a
    missing value is a dash, never a zero."""
    if value is None:
        return "—"
    text = f"{round(float(value), digits):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def report_data(con, city: str, year: int) -> dict:
    """Everything the page shows, from the published marts (a read-only connection to the
    serving file)."""
    city_row = query_rows(con, "select city_name_zh, city_name_en from dim_district where "
                          "district_code = ? and is_current", [city])
    if not city_row:
        known = [r[0] for r in con.execute(
            "select distinct city_code from mart_indicator_scorecard order by 1").fetchall()]
        raise ReportError(f"no city {city} in the published data; published cities: "
                          f"{', '.join(known) or 'none'}")
    years = [r[0] for r in con.execute(
        "select distinct year from mart_indicator_scorecard where city_code = ? order by 1",
        [city]).fetchall()]
    if year not in years:
        raise ReportError(f"no published values for city {city} in {year}; years with values: "
                          f"{', '.join(map(str, years)) or 'none'}")
    publication = query_rows(con, "select * from publication", [])[0]
    # the year's round: a report of a round not closed is provisional, with its completeness
    found = query_rows(con, "select * from mart_rounds where city_code = ? and year = ?",
                       [city, year])
    round_row = found[0] if found else None
    labels = {(r["code_type"], r["code"]): r for r in query_rows(
        con, "select code_type, code, label_zh, label_en from dim_code_label", [])}

    targets = query_rows(con, """
        select s.scorecard_id, s.district_code, s.district_name_zh, s.is_city_total,
               s.indicator_code, s.indicator_name_zh, s.indicator_name_en, s.unit, s.value,
               s.comparator, s.target_value, s.target_met, s.target_basis, s.target_base_year,
               s.compared_value, s.source_type, s.source_id, s.source_row, i.indicator_type,
               src.source_name
        from mart_indicator_scorecard as s
        join dim_indicator as i using (indicator_code)
        left join dim_source as src using (source_id)
        where s.city_code = ? and s.year = ? and s.target_id is not null
        order by s.is_city_total desc, s.indicator_code, s.district_code""", [city, year])
    at_risk = query_rows(con, f"""
        select p.target_id, p.district_code, d.district_name_zh, p.indicator_code,
               p.indicator_name_zh, p.target_year, p.comparator, p.target_value,
               p.assessed_year, p.assessed_value, p.progress_class,
               p.basis as target_basis, p.base_year as target_base_year
        from mart_target_progress as p
        join dim_district as d on d.district_key = p.district_key
        where p.city_code = ? and p.target_year >= ? and p.progress_class in {AT_RISK}
            and p.assessed_year <= ?
        order by p.target_year, p.indicator_code, p.district_code""", [city, year, year])
    ranking = query_rows(con, """
        select r.ranking_id, r.district_code, r.district_name_zh, r.score, r.rank_in_city,
               r.districts_ranked, p.ranking_id as previous_id, p.score as previous_score,
               p.rank_in_city as previous_rank
        from mart_district_ranking as r
        left join mart_district_ranking as p
            on p.district_code = r.district_code and p.dimension_code = r.dimension_code
            and p.year = r.year - 1
        where r.city_code = ? and r.year = ? and r.dimension_code = 'overall'
        order by r.rank_in_city nulls last, r.district_code""", [city, year])

    city_values = query_rows(con, """
        select s.scorecard_id, s.indicator_code, s.indicator_name_zh, s.indicator_name_en,
               s.unit, s.direction, s.year, s.value, s.value_basis, s.target_value,
               s.comparator, s.target_met, s.target_basis, s.target_base_year,
               s.compared_value, s.is_revised, s.quality_flag,
               i.chc_dimension_code, i.chc_dimension_zh, i.chc_dimension_en, i.indicator_type,
               i.department_code, i.band_low, i.band_high
        from mart_indicator_scorecard as s
        join dim_indicator as i using (indicator_code)
        where s.city_code = ? and s.is_city_total
        order by i.chc_dimension_code, s.indicator_code, s.year""", [city])
    dimensions: dict[str, dict] = {}
    for r in city_values:
        code = r["chc_dimension_code"] or "other"
        d = dimensions.setdefault(code, {
            "code": code, "name_zh": r["chc_dimension_zh"] or "其他",
            "name_en": r["chc_dimension_en"] or "Other", "indicators": {}, "trend": []})
        ind = d["indicators"].setdefault(r["indicator_code"], {
            "code": r["indicator_code"], "name_zh": r["indicator_name_zh"],
            "name_en": r["indicator_name_en"], "unit": r["unit"],
            "bottom_line": r["indicator_type"] == "bottom_line", "now": None, "before": None})
        if r["year"] == year:
            ind["now"] = r
        elif r["year"] == year - 1:
            ind["before"] = r
        if r["value"] is not None and r["year"] <= year:
            d["trend"].append({"indicator": r["indicator_name_zh"], "year": r["year"],
                               "value": r["value"]})
    for d in dimensions.values():
        d["indicators"] = [i for i in d["indicators"].values() if i["now"] or i["before"]]

    index = query_rows(con, """
        select index_id, district_code, district_name_zh, dimension_code, dimension_name_zh,
               dimension_name_en, score, coverage, score_status
        from mart_dimension_index
        where city_code = ? and year = ? and dimension_code <> 'overall'
        order by dimension_code, district_code""", [city, year])
    districts = sorted({(r["district_code"], r["district_name_zh"]) for r in index})
    # the problems of the rounds before this year's (closed rounds only) and their
    # rectification: the summary opens with them
    problems = query_rows(con, """
        select problem_id, year, district_name_zh, indicator_name_zh, problem_kind, value,
               comparator, target_value, department_name_zh, measure, deadline, status,
               proposed_rectified, evidence_year, evidence_value
        from mart_problems where city_code = ? and year < ?
        order by year desc, status = 'rectified', dimension_code, district_code,
                 indicator_code""", [city, year])
    for p in problems:      # overdue: its deadline passed by the day the report is written
        p["shown_status"] = shown_status(p)
    # the resident survey: each aspect's estimate with its interval, or suppressed
    survey = query_rows(con, """
        select estimate_id, district_name_zh, is_city_total, item, item_name_zh, item_name_en,
               respondents, suppressed, satisfied_pct, ci_low_pct, ci_high_pct
        from mart_survey_estimates where city_code = ? and year = ?
        order by item, is_city_total desc, district_code""", [city, year])
    # the districts ranked on the share of their targets met (seed 003 ranks its districts)
    target_ranking = query_rows(con, """
        select district_year_id, district_name_zh, targets_due, targets_met, targets_missed,
               targets_pending, attainment_pct, rank_in_city
        from mart_district_targets where city_code = ? and year = ?
        order by rank_in_city nulls last, district_code""", [city, year])
    grid_rows = query_rows(con, """
        select scorecard_id, district_code, district_name_zh, indicator_code, indicator_name_zh,
               value, comparator, target_value, target_met, target_basis, target_base_year,
               compared_value
        from mart_indicator_scorecard
        where city_code = ? and year = ? and not is_city_total and target_id is not null
        order by district_code, indicator_code""", [city, year])
    # district x indicator: one row per district, one column per indicator with a target
    grid = {"indicators": sorted({(r["indicator_code"], r["indicator_name_zh"])
                                  for r in grid_rows}),
            "districts": sorted({(r["district_code"], r["district_name_zh"])
                                 for r in grid_rows}),
            "cells": {(r["district_code"], r["indicator_code"]): r for r in grid_rows}}

    first = year - FIVE_YEARS + 1
    five = None
    if first in years:
        by_indicator: dict[str, dict] = {}
        for r in city_values:
            if r["year"] in (first, year):
                by_indicator.setdefault(r["indicator_code"], {"indicator_code": r["indicator_code"],
                                                              "name_zh": r["indicator_name_zh"],
                                                              "unit": r["unit"]})[r["year"]] = r
        rows = [v for v in by_indicator.values() if first in v and year in v]
        for v in rows:      # judged by the indicator's direction
            better = _better(v[year], v[first])
            v["change"] = ("improved" if better else "worsened" if better is False else
                           "unchanged" if v[year]["value"] is not None
                           and v[year]["value"] == v[first]["value"] else None)
        five = {"first": first, "rows": rows,
                **{c: sum(1 for v in rows if v["change"] == c)
                   for c in ("improved", "worsened", "unchanged")},
                # each district's dimension scores at both ends of the period
                "index": query_rows(con, """
                    select a.index_id as first_id, a.score as first_score, b.index_id,
                           b.score, b.district_name_zh, b.dimension_name_zh
                    from mart_dimension_index as b
                    join mart_dimension_index as a
                        on a.district_code = b.district_code
                        and a.dimension_code = b.dimension_code and a.year = ?
                    where b.city_code = ? and b.year = ?
                    order by b.dimension_code = 'overall' desc, b.dimension_code,
                             b.district_code""", [first, city, year]),
                # the city's sustainable-development index and its aspects, both ends
                "sustainability": query_rows(con, """
                    select a.aspect_year_id as first_id, a.aspect_score as first_score,
                           a.index_value as first_index, b.aspect_year_id, b.aspect_score,
                           b.index_value, b.aspect_name_zh, b.aspect_name_en,
                           b.aspect_named_in_source
                    from mart_sustainability_index as b
                    join mart_sustainability_index as a
                        on a.city_code = b.city_code and a.aspect_code = b.aspect_code
                        and a.year = ?
                    where b.city_code = ? and b.year = ?
                    order by b.aspect_order""", [first, city, year]),
                "progress": query_rows(con, """
                    select p.target_id, p.district_code, d.district_name_zh,
                           p.indicator_code, p.indicator_name_zh, p.target_year,
                           p.comparator, p.target_value, p.base_year, p.base_value,
                           p.assessed_year, p.assessed_value, p.progress_class,
                           p.basis as target_basis, p.base_year as target_base_year
                    from mart_target_progress as p
                    join dim_district as d on d.district_key = p.district_key
                    where p.city_code = ? and p.assessed_year <= ?
                    order by p.target_year, p.indicator_code, p.district_code""",
                    [city, year])}
        # beside each target's assessed value, the district's value in the report's year
        latest = {(r["district_code"], r["indicator_code"]): r for r in query_rows(con, """
            select scorecard_id, district_code, indicator_code, value
            from mart_indicator_scorecard where city_code = ? and year = ?""", [city, year])}
        for t in five["progress"]:
            t["latest"] = latest.get((t["district_code"], t["indicator_code"]))

    quality = {
        "status": query_rows(con, """
            select status_id, department_code, department_name_zh, department_name_en,
                   values_expected, values_present, values_reported_missing, values_missing,
                   files_received, files_refused, records_rejected, last_received_at,
                   submission_status
            from mart_submission_status where city_code = ? and year = ?
            order by department_code""", [city, year]),
        # the departments' assessment that year, and their scores in the years before
        "assessment": query_rows(con, """
            select assessment_id, department_code, department_name_zh, department_name_en,
                   days_late, completeness_score, accuracy_score, attainment_score, score,
                   rank_in_city, timeliness_score
            from mart_department_assessment where city_code = ? and year = ?
            order by rank_in_city nulls last, department_code""", [city, year]),
        "assessment_history": {(r["department_code"], r["year"]): r for r in query_rows(con, """
            select assessment_id, department_code, year, score
            from mart_department_assessment where city_code = ? and year < ?
                and year >= ? - 4""", [city, year, year])},
        "missing": query_rows(con, """
            select missing_id, department_name_zh, district_name_zh, indicator_code,
                   indicator_name_zh
            from mart_submission_missing_values where city_code = ? and year = ?
            order by department_code, indicator_code, district_code""", [city, year]),
        "quarantine": query_rows(con, """
            select quarantine_id, source_type, source_name, source_part, source_row,
                   source_cell, field_name, indicator_text, district_text, value_text, reason
            from mart_quarantine
            where city_code = ? and (year_text is null or year_text = '' or
                                     year_text like ? || '%')
            order by received_at, source_name, source_row""", [city, str(year)]),
        "revised": query_rows(con, """
            select scorecard_id, district_name_zh, indicator_name_zh, value
            from mart_indicator_scorecard
            where city_code = ? and year = ? and is_revised order by 1""", [city, year]),
        "review": query_rows(con, """
            select review_item_id, district_name_zh, indicator_name_zh, value, published_value,
                   review_state, held_because
            from mart_review_queue where city_code = ? and year = ?
            order by indicator_code, district_code""", [city, year]),
        "warnings": query_rows(con, """
            select warning_id, district_name_zh, indicator_name_zh, value, rule, message,
                   source_file, cell
            from mart_plausibility_warnings where city_code = ? and year = ?
            order by indicator_code, district_code, rule""", [city, year]),
        "sources": query_rows(con, """
            select source_id, source_type, source_name, source_location, received_at,
                   records_accepted, records_rejected
            from dim_source
            where source_id in (select source_id from mart_indicator_scorecard
                                where city_code = ? and year = ?)
            order by source_type, received_at, source_name""", [city, year]),
    }
    for s in quality["sources"]:     # a report is public: no server paths in it
        s["source_location"] = public_location(s["source_location"])
    from common.calendar import due_date

    due = due_date(year)
    for s in quality["status"]:
        received = s["last_received_at"]
        s["on_time"] = None if received is None else received.date() <= due
    quality["due"] = due
    return {"city": city, "city_name_zh": city_row[0]["city_name_zh"],
            "city_name_en": city_row[0]["city_name_en"], "year": year, "years": years,
            "round": round_row,
            "publication": publication, "labels": labels, "targets": targets,
            "target_years": query_rows(con, "select distinct target_year from "
                                            "fct_indicator_targets where city_code = ?", [city]),
            "at_risk": at_risk, "ranking": ranking, "dimensions": list(dimensions.values()),
            "index": index, "districts": districts, "grid": grid, "five": five,
            "target_ranking": target_ranking, "survey": survey, "problems": problems,
            "quality": quality}


# -- charts ------------------------------------------------------------------------------------

def public_location(location: str | None) -> str | None:
    """Where a source is kept, as a reader may see it: the place inside the data folder
    (`archive/<sha256[:2]>/<sha256>/<file>`, `landing/open_data/…`), never the server's path;
    an address (open data, object storage) as it is."""
    if not location or "://" in location:
        return location
    parts = Path(location).parts
    for area in ("archive", "landing", "inbox"):
        if area in parts:
            return "/".join(parts[len(parts) - 1 - parts[::-1].index(area):])
    return Path(location).name


def _top(rows: list[dict]) -> float:
    """The end of a score axis: 100 (the base year's best district), or the next 50 above
    the highest score when a district went beyond it (scores reach index_score_cap, 200)."""
    highest = max((r["得分"] for r in rows), default=100)
    return 100 if highest <= 100 else 50 * math.ceil(highest / 50)


def ranking_chart(data: dict) -> str | None:
    """Overall score by district, this year beside the year before."""

    rows = []
    for r in data["ranking"]:
        if r["score"] is not None:
            rows.append({"区县": r["district_name_zh"], "年度": str(data["year"]),
                         "得分": r["score"]})
        if r["previous_score"] is not None:
            rows.append({"区县": r["district_name_zh"], "年度": str(data["year"] - 1),
                         "得分": r["previous_score"]})
    return _two_years_chart(rows, [r["district_name_zh"] for r in data["ranking"]],
                            "综合得分 overall score")


def _two_years_chart(rows: list[dict], order: list[str] | None, title: str) -> str | None:
    """Each district's score in two years, side by side (rows: 区县, 年度, 得分), the earlier
    light and the later dark; districts in `order`, or by the later year's score."""
    from citycheck.serving.svg_chart import bar_chart

    if not rows:
        return None
    years = sorted({r["年度"] for r in rows})
    score = {(r["区县"], r["年度"]): r["得分"] for r in rows}
    if order is None:
        names = list(dict.fromkeys(r["区县"] for r in rows))
        order = sorted(names, key=lambda n: -(score.get((n, years[-1])) or 0))
    colours = ("#9ecae1", "#08519c")[-len(years):]
    return bar_chart(order, [(f"{y} 年", colour, [score.get((n, y)) for n in order])
                             for y, colour in zip(years, colours, strict=True)],
                     (0, _top(rows)), x_title=title, font=FONT)


def five_year_chart(data: dict) -> str | None:
    """Each district's overall index at the start and the end of the five years (the index
    comparable across years: mart_dimension_index.score)."""
    five = data["five"]
    if not five:
        return None
    rows = []
    for r in five["index"]:
        if r["dimension_name_zh"] != "综合":
            continue
        for year, score in ((five["first"], r["first_score"]), (data["year"], r["score"])):
            if score is not None:
                rows.append({"区县": r["district_name_zh"], "年度": str(year), "得分": score})
    return _two_years_chart(rows, None, "综合得分（基期标尺）overall score against the base "
                                        "year's goalposts")


def survey_chart(data: dict) -> str | None:
    """Each aspect's share satisfied by district, with its 95 % interval as an error bar
    (suppressed estimates are not drawn): one small chart per aspect."""
    from citycheck.serving.svg_chart import interval_chart, multiples

    panels: dict[str, list[tuple[str, float, float, float]]] = {}
    for r in data["survey"]:
        if not r["suppressed"]:
            panels.setdefault(r["item_name_zh"], []).append((
                r["district_name_zh"] + (" · 全市" if r["is_city_total"] else ""),
                r["satisfied_pct"], r["ci_low_pct"], r["ci_high_pct"]))
    if not panels:
        return None
    return multiples([interval_chart(rows, (0, 100), x_title="满意率 % satisfied (95 % interval)",
                                     title=aspect, font=FONT)
                      for aspect, rows in panels.items()])


def trend_chart(dimension: dict) -> str | None:
    """Each indicator of a dimension over the years, the city as a whole: one small chart per
    indicator (their units differ), drawn as SVG text (citycheck/serving/svg_chart.py)."""
    from citycheck.serving.svg_chart import line_chart, multiples

    panels: dict[str, list[tuple[int, float]]] = {}
    for r in dimension["trend"]:
        if r["value"] is not None:
            panels.setdefault(r["indicator"], []).append((r["year"], r["value"]))
    if not panels:
        return None
    return multiples([line_chart([(name, points)], "", width=170, height=110, legend=False,
                                 title=name if len(name) <= 16 else name[:15] + "…", font=FONT)
                      for name, points in panels.items()])


def index_chart(data: dict) -> str | None:
    """Each dimension's score by district (mart_dimension_index), one small chart per
    dimension, the best district first, all on one scale."""
    from citycheck.serving.svg_chart import bar_chart, multiples

    rows = [{"维度": r["dimension_name_zh"], "区县": r["district_name_zh"], "得分": r["score"]}
            for r in data["index"] if r["score"] is not None]
    if not rows:
        return None
    panels: dict[str, list[dict]] = {}
    for r in rows:
        panels.setdefault(r["维度"], []).append(r)
    domain = (0, _top(rows))
    charts = []
    for dimension, members in panels.items():
        ranked = sorted(members, key=lambda r: -r["得分"])
        charts.append(bar_chart([r["区县"] for r in ranked],
                                [(dimension, "#2b8cbe", [r["得分"] for r in ranked])],
                                domain, title=dimension, width=150, font=FONT, bar=10))
    return multiples(charts)


# -- the page ---------------------------------------------------------------------------------

@functools.cache
def environment():
    """The templates of the pages people read (citycheck/templates), numbers as number_text;
    one per process, so that each template is compiled once (0.26 s a report otherwise)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = number_text
    return env


def render(data: dict) -> str:
    env = environment()

    def label(code_type: str, code) -> str:
        found = data["labels"].get((code_type, code))
        return f"{found['label_zh']} {found['label_en']}" if found else (code or "—")

    # no target falls due this year: the summary says what is known instead of four zeros
    now = [i["now"] for d in data["dimensions"] for i in d["indicators"] if i["now"]]
    before = {i["code"]: i["before"] for d in data["dimensions"] for i in d["indicators"]}
    changes = [_better(r, before.get(r["indicator_code"])) for r in now]
    known = {"reported": sum(1 for r in now if r["value"] is not None),
             "improved": changes.count(True), "worsened": changes.count(False)}
    last_target_year = max((r["target_year"] for r in data.get("target_years", [])
                            if r["target_year"] <= data["year"]), default=None)
    met = sum(1 for t in data["targets"] if t["target_met"] is True)
    missed = [t for t in data["targets"] if t["target_met"] is False]
    pending = sum(1 for t in data["targets"] if t["target_met"] is None)
    return env.get_template("report.html").render(
        **data, label=label, met=met, missed=missed, pending=pending, known=known,
        print_rows=PRINT_ROWS,
        last_target_year=last_target_year,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        charts={"ranking": ranking_chart(data), "index": index_chart(data),
                "survey": survey_chart(data), "five_year": five_year_chart(data),
                "trends": {d["code"]: trend_chart(d) for d in data["dimensions"]}})


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _better(now: dict, before: dict | None) -> bool | None:
    """Whether a value moved the right way since the year before (None: no comparison, or
    no change)."""
    if before is None or now["value"] is None or before["value"] is None \
            or now["value"] == before["value"]:
        return None
    if now["direction"] == "target_band":     # nearer the band is better
        def off(v: float) -> float:
            return max(now["band_low"] - v, v - now["band_high"], 0)
        a, b = off(now["value"]), off(before["value"])
        return None if a == b else a < b
    up = now["value"] > before["value"]
    return up if now["direction"] != "lower_better" else not up


def write_whole(path: Path, text: str, encoding: str = "utf-8") -> None:
    """A file written whole, then moved into place: a reader sees the old one or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding=encoding)
    tmp.replace(path)


def print_pdf(html: Path, pdf: Path) -> str | None:
    """The page printed to PDF by headless Chromium; None, or why there is no PDF."""
    browser = chromium()
    if browser is None:
        return ("no PDF: headless Chromium is not installed (`make setup` installs it; "
                "apt-get install chromium fonts-noto-cjk)")
    from citycheck.serving.pdf import tagged

    tmp = pdf.with_suffix(".pdf.tmp")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         *([] if tagged() else ["--disable-pdf-tagging"]),
         f"--print-to-pdf={tmp}", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180)
    if done.returncode or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        return f"no PDF: Chromium could not print the page ({done.stderr.strip()[-300:]})"
    tmp.replace(pdf)
    return None


def write_report(settings: Settings, city: str, year: int, pdf: bool = True,
                 con=None) -> ReportResult:
    """Write reports/annual/<city>_<year>.html (and .pdf) from the current publication (read
    through `con` when a pass over many reports gives its one connection)."""
    if con is None:
        from citycheck.serving.sql import open_publication

        own = open_publication(settings)
        try:
            return write_report(settings, city, year, pdf, own)
        finally:
            own.close()
    data = report_data(con, city, year)
    folder = settings.reports_dir / "annual"
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / f"{city}_{year}.html"
    write_whole(html, render(data))     # a reader never sees half a page
    result = ReportResult(html, None)
    if pdf:
        result.pdf_note = print_pdf(html, html.with_suffix(".pdf"))
        if result.pdf_note is None:
            result.pdf_path = html.with_suffix(".pdf")
    return result


# -- every report that changed ------------------------------------------------------------

def report_fingerprints(con) -> dict[str, str]:
    """'<city>_<year>' -> a fingerprint of everything that city-year's report reads: the rows
    of the marts by year up to that year, the city's other rows, the shared dimensions, and
    this module and its template (a new citycheck writes every report again)."""
    by_year = " union all ".join(
        f"select city_code, year, sum(hash(t)::hugeint) as h from {m} as t group by all"
        for m in YEAR_MARTS) + (
        # the sources of a year's values (a new file adds a source: only its year's reports)
        " union all select s.city_code, s.year, sum(hash(d)::hugeint) from (select distinct "
        "city_code, year, source_id from mart_indicator_scorecard) as s join dim_source as d "
        "using (source_id) group by all")
    by_city = " union all ".join(
        f"select city_code, sum(hash(t)::hugeint) as h from {m} as t group by all"
        for m in CITY_MARTS)
    shared = " + ".join(f"(select coalesce(sum(hash(t)::hugeint), 0) from {m} as t)"
                        for m in SHARED)
    code = hashlib.sha256(Path(__file__).read_bytes() + (
        TEMPLATES_DIR / "report.html").read_bytes()).hexdigest()[:16]
    rows = con.execute(f"""
        with y as (select city_code, year, sum(h) as h from ({by_year}) group by all),
             c as (select city_code, sum(h) as h from ({by_city}) group by all)
        select y.city_code, y.year,
               sum(y.h) over (partition by y.city_code order by y.year)
               + coalesce(c.h, 0) + {shared}
        from y left join c using (city_code)
        where y.year in (select distinct year from mart_indicator_scorecard as s
                         where s.city_code = y.city_code)""").fetchall()
    return {f"{city}_{year}": f"{code}:{fp}" for city, year, fp in rows}


def write_reports(settings: Settings, pdf: bool = True) -> list[ReportResult]:
    """Write the report of every city and year whose published data changed since its report
    was last written (reports/annual/manifest.json holds what each was written from)."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    from citycheck.serving.pdf import printers
    from citycheck.serving.sql import open_publication
    from common import progress
    from common.faults import crash_point

    folder = settings.reports_dir / "annual"
    manifest_path = folder / "manifest.json"
    written = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
    browser = chromium() if pdf else None
    workers = max(1, min(4, os.cpu_count() or 1))
    results: list[ReportResult] = []
    size = workers * 2

    def save(batch: list[str]) -> None:
        """The batch's reports are whole (page and PDF): the manifest says so, at once, so
        a pass that is stopped keeps what it wrote."""
        written.update({key: now[key] for key in batch})
        # no indent: json writes indented text with its pure-Python encoder
        write_whole(manifest_path, json.dumps(written, sort_keys=True))
        crash_point("reports.after_batch")

    # one connection for the pass: every report reads through it
    con = open_publication(settings)
    try:
        now = report_fingerprints(con)
        due = [key for key in sorted(now)
               if written.get(key) != now[key] or not (folder / f"{key}.html").exists()
               or (browser is not None and not (folder / f"{key}.pdf").exists())]
        # PDFs printed by one Chromium per worker kept open (its start was most of a PDF's
        # time), while this thread writes the next batch's pages: printing is most of a report
        with (printers(browser, print_pdf) if browser and due else nullcontext()) as pool, \
                ThreadPoolExecutor(max_workers=workers) as threads:
            printer = pool.print if pool else print_pdf
            printing: tuple[list[str], list[ReportResult], list] | None = None

            def finish(batch, done, prints) -> None:
                for r, job in zip(done, prints, strict=True):
                    r.pdf_note = job.result()
                    r.pdf_path = None if r.pdf_note else r.html_path.with_suffix(".pdf")
                results.extend(done)
                save(batch)

            for start in range(0, len(due), size):
                batch = due[start:start + size]
                progress.update(f"  annual reports: {start} of {len(due)} written "
                                f"(now {', '.join(batch)})", force=True)
                done = [write_report(settings, city, int(year), pdf=False, con=con)
                        for city, year in (key.split("_") for key in batch)]
                if printing is not None:
                    finish(*printing)
                    printing = None
                if not pdf:
                    results.extend(done)
                    save(batch)
                    continue
                printing = (batch, done, [threads.submit(
                    printer, r.html_path, r.html_path.with_suffix(".pdf")) for r in done])
            if printing is not None:
                finish(*printing)
    finally:
        con.close()
    progress.finish()
    write_index(settings)
    return results


def write_index(settings: Settings) -> Path:
    """reports/annual/index.html: every annual report written, by city and year, final or
    provisional (its round closed or not), with its PDF."""
    from citycheck.serving.sql import open_publication

    folder = settings.reports_dir / "annual"
    folder.mkdir(parents=True, exist_ok=True)
    con = open_publication(settings)
    try:
        rounds = {(r["city_code"], r["year"]): r for r in query_rows(
            con, "select city_code, year, round_state, completeness_pct, is_provisional "
                 "from mart_rounds", [])}
        cities = {r["city_code"]: r for r in query_rows(
            con, "select distinct city_code, city_name_zh, city_name_en from dim_district "
                 "where is_current", [])}
        publication = query_rows(con, "select * from publication", [])[0]
    finally:
        con.close()
    reports = []
    for html in sorted(folder.glob("*_*.html")):
        city, _, year = html.stem.partition("_")
        if not year.isdigit():
            continue
        reports.append({"city": cities.get(city, {"city_code": city, "city_name_zh": city,
                                                  "city_name_en": ""}),
                        "year": int(year), "html": html.name,
                        "pdf": html.with_suffix(".pdf").name
                        if html.with_suffix(".pdf").exists() else None,
                        "round": rounds.get((city, int(year)))})
    page = folder / "index.html"
    write_whole(page, environment().get_template("report_index.html").render(
        reports=reports, publication=publication,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")))
    return page
