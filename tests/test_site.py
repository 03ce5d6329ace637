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
from tests.helpers import free_port, query
from tests.test_report import Numbers, _shown


class Statuses(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-status" in a:
            self.cells.append(a)


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
            page = Numbers()
            page.feed((folder / f"{code}.html").read_text(encoding="utf-8"))
            for mart, key, column, text in page.cells:
                id_column = {"mart_indicator_scorecard": "scorecard_id",
                             "fct_indicator_targets": "target_id"}[mart]
                (value,) = con.execute(f"select {column} from {mart} where {id_column} = ?",
                                       [key]).fetchone()
                shown = _shown(text)
                assert (shown is None and value is None) or abs(
                    shown - round(value, 2)) < 1e-9, (code, key, text, value)
            # the table holds every published value of the indicator, and the downloads hold
            # exactly the table's rows
            values = {k for m, k, c, _ in page.cells if m == "mart_indicator_scorecard"}
            published = {r[0] for r in con.execute(
                "select scorecard_id from mart_indicator_scorecard where indicator_code = ?",
                [code]).fetchall()}
            assert values == published, code
            with open(folder / f"{code}.csv", encoding="utf-8-sig", newline="") as fh:
                rows = list(csv.DictReader(fh))
            assert {r["scorecard_id"] for r in rows} == published
            data = json.loads((folder / f"{code}.json").read_text(encoding="utf-8"))
            assert [d["scorecard_id"] for d in data] == [r["scorecard_id"] for r in rows]
            for d in data:
                (value,) = con.execute("select value from mart_indicator_scorecard where "
                                       "scorecard_id = ?", [d["scorecard_id"]]).fetchone()
                assert d["value"] == value
            targets = {k for m, k, c, _ in page.cells if m == "fct_indicator_targets"}
            assert targets == {r[0] for r in con.execute(
                "select target_id from fct_indicator_targets where indicator_code = ?",
                [code]).fetchall()}
            shown_total += len(values)
        assert shown_total == con.execute(
            "select count(*) from mart_indicator_scorecard").fetchone()[0] > 1000

        # the reporting status: what fct_indicator_values holds and what is missing
        status = Statuses()
        status.feed(site.index_path.read_text(encoding="utf-8"))
        reported = dict(((i, c, y), n) for i, c, y, n in con.execute(
            "select indicator_code, city_code, year, count(*) from fct_indicator_values "
            "group by all").fetchall())
        missing = dict(((i, c, y), n) for i, c, y, n in con.execute(
            "select indicator_code, city_code, year, count(*) "
            "from mart_submission_missing_values group by all").fetchall())
        assert len(status.cells) >= len(codes) * 5
        for cell in status.cells:
            key = (cell["data-indicator"], cell["data-city"], int(cell["data-year"]))
            assert int(cell["data-reported"]) == reported.get(key, 0), key
            assert int(cell["data-missing"]) == missing.get(key, 0), key
            expected = ("partly" if reported.get(key) and missing.get(key) else
                        "reported" if reported.get(key) else
                        "missing" if missing.get(key) else "no_data")
            assert cell["data-status"] == expected, key
    finally:
        con.close()


def test_a_missing_value_makes_an_indicator_partly_reported(built):
    """Zibo's commerce bureau sent 10 of its 11 units' 2022 night-economy figures: the
    indicator is partly reported that year, and says how many are missing; Weihai's 2025
    round, with nothing received, shows every indicator missing."""
    site = write_site(built)
    status = Statuses()
    status.feed(site.index_path.read_text(encoding="utf-8"))
    (cell,) = [c for c in status.cells if c["data-indicator"] == "night_economy_clusters"
               and c["data-city"] == "370300" and c["data-year"] == "2022"]
    assert cell["data-status"] == "partly" and cell["data-missing"] == "1"
    assert cell["data-reported"] == "10"
    assert re.search(r"◐ 部分报送 \(1\)", site.index_path.read_text(encoding="utf-8"))
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
    for v in targets:       # the chart's labels, as the SVG writes them
        assert f"目标 target {v:g} (2020)" in html
    assert 'title="报送数值 Reported"' in html and 'title="reported"' not in html


@needs_chromium
def test_the_pages_read_in_a_browser_and_are_served_on_loopback(built, tmp_path):
    site = write_site(built)
    dom, log = load(site.index_path, tmp_path / "index.png")
    assert "城市体检指标" in dom and "City health check indicators" in dom
    assert shows_something(tmp_path / "index.png") and not console_errors(log)
    page = site.index_path.parent / "indicators" / "sewage_treatment_rate_pct.html"
    dom, log = load(page, tmp_path / "indicator.png", width=390, height=900)
    assert "城市污水处理率" in dom and "<svg" in dom and 'role="img"' in dom
    assert shows_something(tmp_path / "indicator.png") and not console_errors(log)

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
