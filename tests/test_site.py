"""The indicator pages: the reporting status, every number and every download equal the
published marts; the pages read in a real browser; `citycheck serve` serves them on
loopback."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser

import duckdb
import requests

from citycheck.serving.site import write_site
from tests.browser import console_errors, load, needs_chromium, shows_something
from tests.helpers import CORRECTION, free_port, query
from tests.test_report import Numbers, _shown


class Statuses(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-status" in a:
            self.cells.append(a)


def _check_cells(con, page_text: str) -> tuple[set, set]:
    """Every number on a page equals its mart's; the scorecard and target rows it shows."""
    page = Numbers()
    page.feed(page_text)
    for mart, key, column, text in page.cells:
        id_column = {"mart_indicator_scorecard": "scorecard_id",
                     "fct_indicator_targets": "target_id"}[mart]
        (value,) = con.execute(f"select {column} from {mart} where {id_column} = ?",
                               [key]).fetchone()
        shown = _shown(text)
        assert (shown is None and value is None) or abs(
            shown - round(value, 2)) < 1e-9, (key, text, value)
    return ({k for m, k, c, _ in page.cells if m == "mart_indicator_scorecard"},
            {k for m, k, c, _ in page.cells if m == "fct_indicator_targets"})


def _downloads(page, con) -> list[str]:
    """The scorecard rows of a page's CSV, checked equal to its JSON and to the mart."""
    with open(page.with_suffix(".csv"), encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    data = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert [d["scorecard_id"] for d in data] == [r["scorecard_id"] for r in rows]
    for d in data:
        (value,) = con.execute("select value from mart_indicator_scorecard where "
                               "scorecard_id = ?", [d["scorecard_id"]]).fetchone()
        assert d["value"] == value
    return [r["scorecard_id"] for r in rows]


def test_every_page_holds_the_published_numbers_and_its_downloads_the_same(built):
    site = write_site(built)
    folder = site.index_path.parent / "indicators"
    con = duckdb.connect(str(built.serving_path), read_only=True)
    try:
        codes = [r[0] for r in con.execute("select indicator_code from dim_indicator").fetchall()]
        assert site.pages == len(codes) and sorted(p.stem for p in folder.glob("*.html")) == \
            sorted(codes)
        shown_total = 0
        for code in codes:
            published = {r[0] for r in con.execute(
                "select scorecard_id from mart_indicator_scorecard where indicator_code = ?",
                [code]).fetchall()}
            # the indicator's page: each city's own figure; its download, exactly that table
            # (each city's districts are in its own page's download, checked below)
            totals, _ = _check_cells(con, (folder / f"{code}.html").read_text(encoding="utf-8"))
            assert totals == {r[0] for r in con.execute(
                "select scorecard_id from mart_indicator_scorecard where indicator_code = ? "
                "and is_city_total", [code]).fetchall()}, code
            assert set(_downloads(folder / f"{code}.html", con)) == totals
            # the indicator in each city: the city's values and targets, downloads the same
            values, targets = set(), set()
            for page in sorted((folder / code).glob("*.html")):
                shown, aimed = _check_cells(con, page.read_text(encoding="utf-8"))
                assert {r[0] for r in con.execute(
                    "select scorecard_id from mart_indicator_scorecard where indicator_code = ? "
                    "and city_code = ?", [code, page.stem]).fetchall()} == shown, page
                assert set(_downloads(page, con)) == shown
                values |= shown
                targets |= aimed
            assert values == published, code
            assert targets == {r[0] for r in con.execute(
                "select target_id from fct_indicator_targets where indicator_code = ?",
                [code]).fetchall()}
            shown_total += len(values)
        assert shown_total == con.execute(
            "select count(*) from mart_indicator_scorecard").fetchone()[0] > 1000

        # the reporting status, on each city's page: what fct_indicator_values holds and what
        # is missing; the home page counts the cities by status
        status = Statuses()
        for page in (site.index_path.parent / "cities").glob("*.html"):
            status.feed(page.read_text(encoding="utf-8"))
        reported = dict(((i, c, y), n) for i, c, y, n in con.execute(
            "select indicator_code, city_code, year, count(*) from fct_indicator_values "
            "group by all").fetchall())
        missing = dict(((i, c, y), n) for i, c, y, n in con.execute(
            "select indicator_code, city_code, year, count(*) "
            "from mart_submission_missing_values group by all").fetchall())
        assert len(status.cells) >= len(codes) * 5
        counted: dict[tuple, dict] = {}
        for cell in status.cells:
            key = (cell["data-indicator"], cell["data-city"], int(cell["data-year"]))
            assert int(cell["data-reported"]) == reported.get(key, 0), key
            assert int(cell["data-missing"]) == missing.get(key, 0), key
            expected = ("partly" if reported.get(key) and missing.get(key) else
                        "reported" if reported.get(key) else
                        "missing" if missing.get(key) else "no_data")
            assert cell["data-status"] == expected, key
            by = counted.setdefault((key[0], key[2]), {})
            by[expected] = by.get(expected, 0) + 1
        index = site.index_path.read_text(encoding="utf-8")
        summaries = re.findall(r'data-summary="([^"]+)"', index)
        assert len(summaries) == len(codes) * len({k[1] for k in counted})
        for text in summaries:
            code, year, *n = text.split("|")
            by = counted.get((code, int(year)), {})
            assert [int(x) for x in n] == [by.get(k, 0) for k in ("reported", "partly",
                                                                   "missing")], text
    finally:
        con.close()


def test_a_missing_value_makes_an_indicator_partly_reported(built):
    """Zibo's commerce bureau sent 10 of its 11 units' 2022 night-economy figures: the
    indicator is partly reported that year, and says how many are missing; Weihai's 2025
    round, with nothing received, shows every indicator missing."""
    site = write_site(built)
    cities = site.index_path.parent / "cities"
    status = Statuses()
    status.feed((cities / "370300.html").read_text(encoding="utf-8"))
    (cell,) = [c for c in status.cells if c["data-indicator"] == "night_economy_clusters"
               and c["data-city"] == "370300" and c["data-year"] == "2022"]
    assert cell["data-status"] == "partly" and cell["data-missing"] == "1"
    assert cell["data-reported"] == "10"
    assert re.search(r"◐ 部分报送 \(1\)", (cities / "370300.html").read_text(encoding="utf-8"))
    status = Statuses()
    status.feed((cities / "371000.html").read_text(encoding="utf-8"))
    weihai_2025 = [c for c in status.cells if c["data-city"] == "371000"
                   and c["data-year"] == "2025"]
    assert weihai_2025 and all(c["data-status"] in ("missing", "no_data") for c in weihai_2025)
    assert any(c["data-status"] == "missing" for c in weihai_2025)


def test_an_indicator_page_shows_labels_not_codes_and_its_targets_on_the_chart(built):
    """The page a clerk or official reads names the type, the roll-up and the source
    documents in words, and the chart draws each level target as a line, labelled."""
    site = write_site(built)
    html = (site.index_path.parent / "indicators" / "sewage_treatment_rate_pct.html"
            ).read_text(encoding="utf-8")
    about = html[html.index("<dl>"):html.index("</dl>")]
    for code in ("bottom_line", "population_weighted_mean", "higher_better", ">001<"):
        assert code not in about, code
    assert "底线指标 Bottom-line indicator" in about
    assert "按常住人口加权平均 Population-weighted mean of the districts" in about
    assert "威海市“美丽城市”试点实施方案（2020）" in about
    targets = {v for (v,) in query(built.serving_path, "select distinct target_value from "
                                   "fct_indicator_targets where indicator_code = "
                                   "'sewage_treatment_rate_pct' and basis = 'level'")}
    assert targets == {98.0, 90.0}
    charts = "".join(p.read_text(encoding="utf-8") for p in (
        site.index_path.parent / "indicators" / "sewage_treatment_rate_pct").glob("*.html"))
    for v in targets:       # the charts' labels, as the SVG writes them
        assert f"目标 target {v:g} (2020)" in charts
    assert 'title="报送数值 Reported"' in charts and 'title="reported"' not in charts + html


@needs_chromium
def test_the_pages_read_in_a_browser_and_are_served_on_loopback(built, tmp_path):
    site = write_site(built)
    dom, log = load(site.index_path, tmp_path / "index.png")
    assert "城市体检指标" in dom and "City health check indicators" in dom
    assert shows_something(tmp_path / "index.png") and not console_errors(log)
    page = site.index_path.parent / "indicators" / "sewage_treatment_rate_pct.html"
    dom, log = load(page, tmp_path / "indicator.png", width=390, height=900)
    assert "城市污水处理率" in dom and "威海市" in dom
    assert shows_something(tmp_path / "indicator.png") and not console_errors(log)
    page = site.index_path.parent / "indicators" / "sewage_treatment_rate_pct" / "371000.html"
    dom, log = load(page, tmp_path / "indicator_city.png", width=390, height=900)
    assert "城市污水处理率" in dom and "<svg" in dom and 'role="img"' in dom
    assert shows_something(tmp_path / "indicator_city.png") and not console_errors(log)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "citycheck.cli", "serve", "--port", str(port)],
        env={**__import__("os").environ, "CITYCHECK_DATA_DIR": str(built.data_dir)},
        stdout=subprocess.PIPE, text=True)
    try:
        assert "site/index.html" in server.stdout.readline() + server.stdout.readline()
        deadline = time.monotonic() + 20
        while True:
            try:
                got = requests.get(f"http://127.0.0.1:{port}/site/indicators/"
                                   "sewage_treatment_rate_pct.csv", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert got.status_code == 200 and "scorecard_id" in got.content.decode("utf-8-sig")
        got = requests.get(f"http://127.0.0.1:{port}/validation/latest.html", timeout=5)
        assert got.status_code == 200 and "数据校验报告" in got.content.decode("utf-8")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_band_indicator_draws_its_band_and_a_level_target_its_line():
    from citycheck.serving.site import indicator_chart

    rows = [{"district_name_zh": "甲", "year": y, "value": v}
            for y, v in ((2020, 18.0), (2021, 22.0), (2022, 35.0))]
    plain = indicator_chart(rows, "%", [])
    banded = indicator_chart(rows, "%", [{"basis": "level", "target_value": 40.0,
                                          "target_year": 2022}], band=(20.0, 30.0))
    assert "#2da44e" not in plain and "#2da44e" in banded        # the band, shaded
    assert "目标 target 40 (2022)" in banded and "目标" not in plain


def test_a_correction_rewrites_only_the_pages_it_changed(built):
    """Weihai's water bureau corrects its 2023 sewage treatment rates: after the publication,
    the pages of that indicator in Weihai, the indicator's own page and Weihai's status page
    are written again — nothing else — and show the new figure."""
    from tests.faults import cli

    first = write_site(built)
    root = first.index_path.parent
    assert sorted(first.written) == sorted(         # the first pass writes every page
        p.relative_to(root).as_posix() for p in root.rglob("*.html")
        if p.name not in ("index.html", "survey.html"))
    assert write_site(built).written == []             # nothing changed: nothing written
    # (the home page and the survey's are small, and written each time)
    kept = {p: p.stat().st_mtime_ns for p in root.rglob("*.html")
            if p.name not in ("index.html", "survey.html")}
    (built.inbox_dir / "371000_water_2023_correction.csv").write_text(CORRECTION,
                                                                       encoding="utf-8")
    done = cli(built, "run", "--no-fetch")
    assert done.returncode == 0, done.stderr[-2000:]
    again = write_site(built)
    assert sorted(again.written) == ["cities/371000.html",
                                     "indicators/sewage_treatment_rate_pct.html",
                                     "indicators/sewage_treatment_rate_pct/371000.html"]
    assert {p for p, t in kept.items() if p.stat().st_mtime_ns != t} == {
        root / page for page in again.written}
    (value_id,) = query(built.serving_path, "select scorecard_id from mart_indicator_scorecard "
                        "where indicator_code = 'sewage_treatment_rate_pct' and "
                        "district_code = '371002' and year = 2023")[0]
    page = (root / "indicators" / "sewage_treatment_rate_pct" / "371000.html").read_text(
        encoding="utf-8")
    assert re.search(rf'data-id="{value_id}" data-column="value"[^>]*>99\.1<', page)
