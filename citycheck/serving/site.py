"""The indicator pages: a static site made from the published marts, written again after each
publication (after Open SDG: a reporting-status home page and one page per indicator).

    citycheck site        -> reports/site/index.html, reports/site/indicators/<code>.html

- the home page: every indicator by city and year, reported (every value owed is there),
  partly (some are missing), missing (none is there) or no data (no value, and none owed
  that year) — in words and symbols, not colour alone — from fct_indicator_values and
  mart_submission_missing_values;
- an indicator's page: its values by district and year as a chart (SVG, no JavaScript) and a
  table, its metadata (unit, direction, type, dimension, department, source documents), its
  targets, and downloads of exactly the table: `<code>.csv` and `<code>.json`.

Every number carries the mart row and column it shows, as in the annual report
(citycheck/serving/report.py); tests/test_site.py compares them with the marts.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from citycheck.serving.report import FONT, _svg, environment, query_rows, survey_chart
from common.config import Settings

STATUS = {"reported": ("●", "已报齐", "reported"), "partly": ("◐", "部分报送", "partly reported"),
          "missing": ("○", "缺报", "missing"), None: ("–", "无数据", "no data")}
DOWNLOAD_COLUMNS = ("scorecard_id", "city_code", "district_code", "district_name_zh", "year",
                    "value", "value_basis", "unit", "source_type", "source_id")


@dataclass
class SiteResult:
    index_path: Path
    pages: int


def status_of(reported: int, missing: int) -> str | None:
    if reported and not missing:
        return "reported"
    if reported:
        return "partly"
    return "missing" if missing else None


def site_data(con) -> dict:
    indicators = query_rows(con, """
        select i.*, d.department_name_zh, d.department_name_en
        from dim_indicator as i left join dim_department as d using (department_code)
        order by i.chc_dimension_code nulls last, i.indicator_code""", [])
    counts = query_rows(con, """
        with reported as (
            select indicator_code, city_code, year, count(*) as n
            from fct_indicator_values group by all),
        missing as (
            select indicator_code, city_code, year, count(*) as n
            from mart_submission_missing_values group by all)
        select indicator_code, city_code, year, coalesce(r.n, 0) as reported,
               coalesce(m.n, 0) as missing
        from reported as r full join missing as m using (indicator_code, city_code, year)
        order by 1, 2, 3""", [])
    cities = query_rows(con, """
        select distinct d.city_code, d.city_name_zh, d.city_name_en
        from dim_district as d
        where d.is_current and d.city_code in (select city_code from fct_indicator_values
                                               union select city_code
                                               from mart_submission_missing_values)
        order by 1""", [])
    years = sorted({r["year"] for r in counts})
    status = {(r["indicator_code"], r["city_code"], r["year"]):
              {**r, "status": status_of(r["reported"], r["missing"])} for r in counts}
    # rounds not closed: their values are provisional
    provisional = {(r["city_code"], r["year"]): r for r in query_rows(
        con, "select city_code, city_name_zh, year, completeness_pct from mart_rounds "
             "where is_provisional order by city_code, year", [])}
    return {"indicators": indicators, "cities": cities, "years": years, "status": status,
            "provisional": provisional,
            "publication": query_rows(con, "select * from publication", [])[0]}


def indicator_data(con, code: str) -> dict:
    rows = query_rows(con, f"""
        select {", ".join("s." + c for c in DOWNLOAD_COLUMNS)}, s.is_city_total,
               s.target_value, s.comparator, s.target_met
        from mart_indicator_scorecard as s
        where s.indicator_code = ?
        order by s.city_code, s.is_city_total desc, s.district_code, s.year""", [code])
    targets = query_rows(con, """
        select t.target_id, t.city_code, t.district_code, d.district_name_zh, t.target_year,
               t.basis, t.base_year, t.comparator, t.target_value, t.target_text_zh,
               t.source_document
        from fct_indicator_targets as t
        left join dim_district as d on d.district_key = t.district_key
        where t.indicator_code = ? order by t.city_code, t.target_year, t.district_code""",
                    [code])
    # values whose newer version waits for the office's review: shown as under review
    review = query_rows(con, """
        select q.city_code, q.district_code, q.district_name_zh, q.year, q.review_state,
               f.value_id
        from mart_review_queue as q
        left join fct_indicator_values as f
            on f.district_code = q.district_code and f.indicator_code = q.indicator_code
            and f.year = q.year
        where q.indicator_code = ?""", [code])
    return {"rows": rows, "targets": targets, "review": review}


def indicator_chart(rows: list[dict], name: str, targets: list[dict] | None = None,
                    band: tuple[float, float] | None = None) -> str | None:
    """Each district's line over the years; a dashed line at each level target's value,
    labelled with its comparator and year (an increase target counts what was added, not the
    plotted total: it has no line); a target_band indicator's band shaded."""
    import altair as alt
    import pandas as pd

    points = [{"区县 district": r["district_name_zh"], "年度 year": r["year"], "数值": r["value"]}
              for r in rows if r["value"] is not None]
    if not points:
        return None
    first = min(p["年度 year"] for p in points)
    lines = alt.Chart(pd.DataFrame(points)).mark_line(point=True).encode(
        x=alt.X("年度 year:O", title=None),
        y=alt.Y("数值:Q", title=name, scale=alt.Scale(zero=False)),
        color=alt.Color("区县 district:N", legend=alt.Legend(orient="right", labelLimit=160)),
        strokeDash=alt.StrokeDash("区县 district:N", legend=None),
    )
    marks: dict[float, list[str]] = {}
    for t in targets or []:
        if t["basis"] == "level" and t["target_value"] is not None:
            marks.setdefault(t["target_value"], []).append(f"{t['target_year']}")
    chart = lines
    if band and None not in band:
        shade = alt.Chart(pd.DataFrame([{"下限": band[0], "上限": band[1]}])).mark_rect(
            color="#2da44e", opacity=0.12).encode(y="下限:Q", y2="上限:Q")
        chart = alt.layer(shade, chart)
    if marks:
        goal = pd.DataFrame([{"目标 target": v, "年度 year": first,
                              "说明": f"目标 target {v:g} ({', '.join(sorted(set(ys)))})"}
                             for v, ys in marks.items()])
        rule = alt.Chart(goal).mark_rule(strokeDash=[6, 4], color="#a40e26").encode(
            y="目标 target:Q")
        text = alt.Chart(goal).mark_text(align="left", dx=2, dy=-6, color="#a40e26",
                                         fontSize=11).encode(
            x=alt.X("年度 year:O"), y="目标 target:Q", text="说明:N")
        chart = alt.layer(chart, rule, text)
    return _svg(chart.properties(width=460, height=240).configure(font=FONT)
                .configure_view(stroke=None))


def _survey_groups(con) -> list[dict]:
    """The resident survey's estimates (mart_survey_estimates), one group per city and year,
    each with its error-bar chart (suppressed estimates: the count alone)."""
    rows = query_rows(con, """
        select s.*, c.city_name_zh, c.city_name_en
        from mart_survey_estimates as s
        join (select distinct city_code, city_name_zh, city_name_en from dim_district
              where is_current) as c using (city_code)
        order by s.city_code, s.year desc, s.item, s.is_city_total desc, s.district_code""", [])
    groups: dict[tuple, dict] = {}
    for r in rows:
        groups.setdefault((r["city_code"], r["year"]), {
            "city_name_zh": r["city_name_zh"], "city_name_en": r["city_name_en"],
            "year": r["year"], "rows": []})["rows"].append(r)
    for g in groups.values():
        g["chart"] = survey_chart({"survey": g["rows"]})
    return list(groups.values())


def _table_text(rows: list[dict]) -> tuple[str, str]:
    """The CSV and JSON downloads: exactly the rows of the page's table."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(DOWNLOAD_COLUMNS)
    for r in rows:
        writer.writerow(["" if r[c] is None else r[c] for c in DOWNLOAD_COLUMNS])
    data = [{c: r[c] for c in DOWNLOAD_COLUMNS} for r in rows]
    return out.getvalue(), json.dumps(data, ensure_ascii=False, indent=1)


def write_site(settings: Settings) -> SiteResult:
    """Write the whole site under reports/site (a new folder, then swapped in: a reader never
    sees a half-written site)."""
    from citycheck.serving.sql import open_publication

    env = environment()
    root = settings.reports_dir / "site"
    tmp = settings.reports_dir / ".site.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "indicators").mkdir(parents=True)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    con = open_publication(settings)
    try:
        site = site_data(con)
        # every code on a page is shown by its label, in Chinese and English (dim_code_label)
        labels = {(t, c): (zh, en) for t, c, zh, en in con.execute(
            "select code_type, code, label_zh, label_en from dim_code_label").fetchall()}

        def label(code_type: str, code: str | None) -> str:
            zh, en = labels.get((code_type, code), (code or "—", ""))
            return f"{zh} {en}".strip()

        for ind in site["indicators"]:
            data = indicator_data(con, ind["indicator_code"])
            years = sorted({r["year"] for r in data["rows"]})
            table: dict[tuple, dict] = {}
            for r in data["rows"]:
                table.setdefault((r["city_code"], r["district_code"]), {
                    "city_code": r["city_code"], "district_name_zh": r["district_name_zh"],
                    "is_city_total": r["is_city_total"], "by_year": {}})["by_year"][r["year"]] = r
            for q in data["review"]:
                row = table.setdefault((q["city_code"], q["district_code"]), {
                    "city_code": q["city_code"], "district_name_zh": q["district_name_zh"],
                    "is_city_total": False, "by_year": {}})
                row.setdefault("under_review", set()).add(q["year"])
            csv_text, json_text = _table_text(data["rows"])
            code = ind["indicator_code"]
            (tmp / "indicators" / f"{code}.csv").write_text(csv_text, encoding="utf-8-sig")
            (tmp / "indicators" / f"{code}.json").write_text(json_text, encoding="utf-8")
            (tmp / "indicators" / f"{code}.html").write_text(env.get_template(
                "site_indicator.html").render(
                ind=ind, years=years, table=list(table.values()), targets=data["targets"],
                label=label,
                status=site["status"], cities=site["cities"], all_years=site["years"],
                provisional=site["provisional"],
                STATUS=STATUS, publication=site["publication"], generated_at=generated,
                chart=indicator_chart(data["rows"], ind["unit"] or "", data["targets"],
                                      band=(ind["band_low"], ind["band_high"])
                                      if ind["direction"] == "target_band" else None)),
                encoding="utf-8")
        surveys = _survey_groups(con)
        if surveys:
            (tmp / "survey.html").write_text(env.get_template("site_survey.html").render(
                groups=surveys, publication=site["publication"], generated_at=generated),
                encoding="utf-8")
        (tmp / "index.html").write_text(env.get_template("site_index.html").render(
            **site, STATUS=STATUS, generated_at=generated, has_survey=bool(surveys)),
            encoding="utf-8")
    finally:
        con.close()
    old = settings.reports_dir / ".site.old"
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        root.rename(old)
    tmp.rename(root)
    shutil.rmtree(old, ignore_errors=True)
    return SiteResult(root / "index.html", len(site["indicators"]))


def serve(settings: Settings, port: int = 8780) -> int:
    """Serve reports/ (annual reports, indicator pages, validation reports) on 127.0.0.1
    until interrupted: the standard library's file server, read-only, loopback only."""
    import functools
    import http.server

    folder = settings.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        print(f"serving {folder} on {base} (Ctrl-C stops):\n"
              f"  indicator pages  {base}/site/index.html\n"
              f"  annual reports   {base}/annual/\n"
              f"  validation       {base}/validation/latest.html", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0
