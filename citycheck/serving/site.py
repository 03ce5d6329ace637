"""The indicator pages: a static site made from the published marts (after Open SDG: a
reporting-status home page and pages per indicator), written again after each publication —
only the pages whose published data changed.

    citycheck site  -> reports/site/index.html                  the indicators and the cities
                       reports/site/cities/<city>.html           a city's reporting status
                       reports/site/indicators/<code>.html       an indicator: about, its
                                                                 targets, every city's figure
                       reports/site/indicators/<code>/<city>.html  an indicator in one city

- a city's status page: every indicator by year, reported (every value owed is there),
  partly (some are missing), missing (none is there) or no data (no value, and none owed
  that year) — in words and symbols, not colour alone — from fct_indicator_values and
  mart_submission_missing_values; the home page counts them over the cities;
- an indicator's page: its metadata (unit, direction, type, dimension, department, source
  documents), the figure of each city (its city total) by year with a link to the city's
  page, the reporting status by city, and downloads of exactly that table (`<code>.csv`,
  `.json`): each city's districts are in its own page's downloads, and every value of every
  indicator in the published marts (docs/bi.md), so the page and its download grow with the
  number of cities, never with the number of districts;
- an indicator in one city: the city's districts and the city's own line by year as a chart
  (SVG, no JavaScript) and a table, the city's targets (level targets drawn on the chart),
  and downloads of exactly the table (`<code>/<city>.csv`, `.json`).

A page's size and its chart's cost grow with one city's districts, never with the number of
cities. Each page has a fingerprint of everything it reads (the rows of the marts behind it,
computed by DuckDB in one pass, and this module and its templates); `site/manifest.json` holds
the fingerprint each page was written from, saved as each indicator's pages are done, so a
publication that changed one city's values of a few indicators rewrites those pages only, and
an interrupted pass keeps what it wrote. Each file is written whole and then moved into place
(a reader never sees half a page).

Every number carries the mart row and column it shows, as in the annual report
(citycheck/serving/report.py); tests/test_site.py compares them with the marts.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citycheck import TEMPLATES_DIR
from citycheck.serving.report import FONT, environment, survey_chart, write_whole
from citycheck.serving.sql import query_rows
from citycheck.serving.svg_chart import line_chart
from common import progress
from common.config import Settings

STATUS = {"reported": ("●", "已报齐", "reported"), "partly": ("◐", "部分报送", "partly reported"),
          "missing": ("○", "缺报", "missing"), None: ("–", "无数据", "no data")}
DOWNLOAD_COLUMNS = ("scorecard_id", "city_code", "district_code", "district_name_zh", "year",
                    "value", "value_basis", "unit", "source_type", "source_id")
TEMPLATES = ("page_base.html", "site_index.html", "site_city.html", "site_indicator.html",
             "site_indicator_city.html", "site_survey.html")
MANIFEST = "manifest.json"


@dataclass
class SiteResult:
    index_path: Path
    pages: int                   # indicators
    written: list[str] = field(default_factory=list)    # pages written this time
    removed: list[str] = field(default_factory=list)    # pages no publication holds any more


def status_of(reported: int, missing: int) -> str | None:
    if reported and not missing:
        return "reported"
    if reported:
        return "partly"
    return "missing" if missing else None


def site_data(con) -> dict:
    """What every page shares: the indicators, the cities, the years, the reporting status of
    each indicator, city and year, the rounds still open, the publication."""
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


def page_fingerprints(con) -> dict[str, str]:
    """Page (path under site/) -> a fingerprint of the published rows it reads, for every
    indicator page and every indicator-in-a-city page and city status page; computed by
    DuckDB over the marts in one pass each, never row by row here."""
    code = hashlib.sha256(Path(__file__).read_bytes() + b"".join(
        (TEMPLATES_DIR / t).read_bytes() for t in TEMPLATES)).hexdigest()[:16]
    (shared,) = con.execute("""
        select coalesce((select sum(hash(t)::hugeint) from dim_code_label as t), 0)
             + coalesce((select sum(hash(t)::hugeint) from dim_department as t), 0)
             + coalesce((select sum(hash(t)::hugeint) from
                         (select distinct city_code, city_name_zh, city_name_en
                          from dim_district where is_current) as t), 0)""").fetchone()
    # an indicator in a city: its values, targets, values under review, the city's status of
    # the indicator and the city's open rounds; and the indicator's own row
    rows = con.execute("""
        with parts as (
            select indicator_code, city_code, hash(t)::hugeint as h
            from mart_indicator_scorecard as t
            union all
            select t.indicator_code, t.city_code, hash(t, d.district_name_zh)::hugeint
            from fct_indicator_targets as t
            left join dim_district as d on d.district_key = t.district_key
            union all
            select indicator_code, city_code, hash(t)::hugeint from mart_review_queue as t
            union all
            select indicator_code, city_code, hash(year, 'r')::hugeint
            from fct_indicator_values as t
            union all
            select indicator_code, city_code, hash(t)::hugeint
            from mart_submission_missing_values as t),
        cities as (
            -- what the pages say of a round still open: its year and completeness
            select city_code, sum(hash(year, completeness_pct)::hugeint) as h
            from mart_rounds where is_provisional group by all)
        select p.indicator_code, p.city_code, sum(p.h) + any_value(coalesce(c.h, 0)) as fp
        from parts as p
        left join cities as c using (city_code)
        group by all""").fetchall()
    # the indicator's own row (its names, unit, direction, band) is on each of its pages
    own = dict(con.execute("select indicator_code, hash(t)::hugeint from dim_indicator as t")
               .fetchall())
    pages: dict[str, str] = {}
    by_indicator: dict[str, int] = {}      # the indicator's page reads every city's rows
    by_city: dict[str, int] = {}           # the city's page, every indicator's status
    for indicator, city, fp in rows:
        if indicator not in own:
            continue                       # no longer catalogued: no page
        fp += own[indicator]
        pages[f"indicators/{indicator}/{city}.html"] = f"{code}:{fp + shared}"
        by_indicator[indicator] = by_indicator.get(indicator, 0) + fp
        by_city[city] = by_city.get(city, 0) + fp
    for indicator, h in own.items():
        pages[f"indicators/{indicator}.html"] = (f"{code}:{h + shared}:"
                                                 f"{by_indicator.get(indicator, 0)}")
    for city, h in by_city.items():
        pages[f"cities/{city}.html"] = f"{code}:{shared}:{h}"
    return pages


def indicator_rows(con, code: str, cities: list[str]) -> dict:
    """An indicator's published values, targets and values under review: those of `cities`
    (the cities whose pages are written) and each city's own figure (its city total, on the
    indicator's page) — a re-submission's pages read one city's districts, not the whole
    country's."""
    rows = query_rows(con, f"""
        select {", ".join("s." + c for c in DOWNLOAD_COLUMNS)}, s.is_city_total,
               s.target_value, s.comparator, s.target_met
        from mart_indicator_scorecard as s
        where s.indicator_code = ?
          and (s.is_city_total or list_contains(?::varchar[], s.city_code))
        order by s.city_code, s.is_city_total desc, s.district_code, s.year""",
                      [code, cities])
    targets = query_rows(con, """
        select t.target_id, t.city_code, t.district_code, d.district_name_zh, t.target_year,
               t.basis, t.base_year, t.comparator, t.target_value, t.target_text_zh,
               t.source_document
        from fct_indicator_targets as t
        left join dim_district as d on d.district_key = t.district_key
        where t.indicator_code = ?
          and list_contains(?::varchar[], t.city_code)
        order by t.city_code, t.target_year, t.district_code""", [code, cities])
    # values whose newer version waits for the office's review: shown as under review
    review = query_rows(con, """
        select q.city_code, q.district_code, q.district_name_zh, q.year, q.review_state,
               f.value_id
        from mart_review_queue as q
        left join fct_indicator_values as f
            on f.district_code = q.district_code and f.indicator_code = q.indicator_code
            and f.year = q.year
        where q.indicator_code = ?
          and list_contains(?::varchar[], q.city_code)""", [code, cities])
    return {"rows": rows, "targets": targets, "review": review}


def indicator_chart(rows: list[dict], name: str, targets: list[dict] | None = None,
                    band: tuple[float, float] | None = None) -> str | None:
    """Each district's line over the years (one city's: the page of an indicator in a city);
    a dashed line at each level target's value, labelled with its comparator and year (an
    increase target counts what was added, not the plotted total: it has no line); a
    target_band indicator's band shaded. Drawn as SVG text (citycheck/serving/svg_chart.py)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r["value"] is not None:
            series.setdefault(r["district_name_zh"], []).append((r["year"], r["value"]))
    if not series:
        return None
    marks: dict[float, list[str]] = {}
    for t in targets or []:
        if t["basis"] == "level" and t["target_value"] is not None:
            marks.setdefault(t["target_value"], []).append(f"{t['target_year']}")
    return line_chart(list(series.items()), name,
                      [(v, f"目标 target {v:g} ({', '.join(sorted(set(ys)))})")
                       for v, ys in marks.items()],
                      band if band and None not in band else None, font=FONT)


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
    # one line: json writes indented text with its pure-Python encoder (3x slower here)
    return out.getvalue(), json.dumps(data, ensure_ascii=False)


def _value_table(rows: list[dict], review: list[dict]) -> tuple[list[int], list[dict]]:
    """Years, and one row per district (the city's total first) with its value by year."""
    years = sorted({r["year"] for r in rows})
    table: dict[tuple, dict] = {}
    for r in rows:
        table.setdefault((r["city_code"], r["district_code"]), {
            "city_code": r["city_code"], "district_name_zh": r["district_name_zh"],
            "is_city_total": r["is_city_total"], "by_year": {}})["by_year"][r["year"]] = r
    for q in review:
        row = table.setdefault((q["city_code"], q["district_code"]), {
            "city_code": q["city_code"], "district_name_zh": q["district_name_zh"],
            "is_city_total": False, "by_year": {}})
        row.setdefault("under_review", set()).add(q["year"])
    return years, list(table.values())


def write_site(settings: Settings) -> SiteResult:
    """Write the pages whose published data changed since they were written (all of them the
    first time), remove those of indicators and cities no longer published, and write the
    home page and the survey page again."""
    from citycheck.serving.sql import open_publication

    env = environment()
    root = settings.reports_dir / "site"
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    written = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result = SiteResult(root / "index.html", 0)

    def save_manifest() -> None:
        write_whole(manifest_path, json.dumps(written, sort_keys=True))

    con = open_publication(settings)
    try:
        now = page_fingerprints(con)
        stale = [page for page, fp in now.items()
                 if written.get(page) != fp or not (root / page).exists()]
        for page in sorted(set(written) - set(now)):      # no longer published
            for path in (root / page, (root / page).with_suffix(".csv"),
                         (root / page).with_suffix(".json")):
                path.unlink(missing_ok=True)
            written.pop(page)
            result.removed.append(page)
        site = site_data(con)
        result.pages = len(site["indicators"])
        # every code on a page is shown by its label, in Chinese and English (dim_code_label)
        labels = {(t, c): (zh, en) for t, c, zh, en in con.execute(
            "select code_type, code, label_zh, label_en from dim_code_label").fetchall()}

        def label(code_type: str, code: str | None) -> str:
            zh, en = labels.get((code_type, code), (code or "—", ""))
            return f"{zh} {en}".strip()

        cities = {c["city_code"]: c for c in site["cities"]}

        def city_of(city: str) -> dict:
            return cities.get(city, {"city_code": city, "city_name_zh": city, "city_name_en": ""})

        common = {"label": label, "STATUS": STATUS, "status": site["status"],
                  "all_years": site["years"], "provisional": site["provisional"],
                  "publication": site["publication"], "generated_at": generated}
        todo: dict[str, list[str]] = {}      # indicator -> its stale pages
        for page in stale:
            if page.startswith("indicators/"):
                indicator = page.removeprefix("indicators/").removesuffix(".html").split("/")[0]
                todo.setdefault(indicator, []).append(page)
        for number, ind in enumerate(site["indicators"], 1):
            code = ind["indicator_code"]
            if code not in todo:
                continue
            progress.update(f"  indicator pages: {number} of {len(site['indicators'])} "
                            f"indicators ({code}), {len(result.written)} pages written")
            # indicators/<code>.html: None (every city's figure); indicators/<code>/<city>.html
            city_of_page = {page: page.removesuffix(".html").split("/")[2]
                            if page.count("/") == 2 else None for page in todo[code]}
            data = indicator_rows(con, code, sorted(c for c in city_of_page.values() if c))
            # each city's rows, gathered once (not filtered again for each of 300 cities)
            of_city: dict[str, dict[str, list[dict]]] = {}
            for part in ("rows", "review", "targets"):
                for r in data[part]:
                    of_city.setdefault(r["city_code"], {"rows": [], "review": [],
                                                        "targets": []})[part].append(r)
            band = ((ind["band_low"], ind["band_high"])
                    if ind["direction"] == "target_band" else None)
            for page in todo[code]:
                city = city_of_page[page]
                if city is None:           # the indicator: every city's figure
                    totals = [r for r in data["rows"] if r["is_city_total"]]
                    years, table = _value_table(totals, [])
                    csv_text, json_text = _table_text(totals)
                    html = env.get_template("site_indicator.html").render(
                        ind=ind, years=years, table=table, cities=site["cities"],
                        city_pages={c for c in cities if f"indicators/{code}/{c}.html" in now},
                        **common)
                else:                      # the indicator in one city
                    mine = of_city.get(city, {"rows": [], "review": [], "targets": []})
                    rows, targets = mine["rows"], mine["targets"]
                    years, table = _value_table(rows, mine["review"])
                    csv_text, json_text = _table_text(rows)
                    html = env.get_template("site_indicator_city.html").render(
                        ind=ind, city=city_of(city), years=years, table=table, targets=targets,
                        chart=indicator_chart(rows, ind["unit"] or "", targets, band=band),
                        **common)
                target = root / page
                write_whole(target.with_suffix(".csv"), csv_text, encoding="utf-8-sig")
                write_whole(target.with_suffix(".json"), json_text)
                write_whole(target, html)
                written[page] = now[page]
                result.written.append(page)
            save_manifest()              # what is done stays done if the pass is stopped
        for page in stale:
            if not page.startswith("cities/"):
                continue
            city = page.removeprefix("cities/").removesuffix(".html")
            write_whole(root / page, env.get_template("site_city.html").render(
                city=city_of(city), indicators=site["indicators"], years=site["years"],
                **common))
            written[page] = now[page]
            result.written.append(page)
        save_manifest()
        progress.finish()
        surveys = _survey_groups(con)
        if surveys:
            write_whole(root / "survey.html", env.get_template("site_survey.html").render(
                groups=surveys, publication=site["publication"], generated_at=generated))
        summary = _summary(site)
        write_whole(root / "index.html", env.get_template("site_index.html").render(
            **site, summary=summary, STATUS=STATUS, generated_at=generated,
            has_survey=bool(surveys)))
    finally:
        con.close()
    return result


def _summary(site: dict) -> dict[tuple[str, int], dict[str | None, int]]:
    """(indicator, year) -> how many cities are reported, partly, missing."""
    out: dict[tuple[str, int], dict[str | None, int]] = {}
    for (indicator, _, year), s in site["status"].items():
        counts = out.setdefault((indicator, year), {})
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    return out


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
