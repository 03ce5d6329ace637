"""The annual report: every number on the page is the published mart's, the page reads in a
real browser at laptop and phone width, and its PDF holds the report's title."""
from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser

import duckdb
import pytest

from citycheck.serving.report import ReportError, write_report
from tests.browser import console_errors, load, needs_chromium, shows_something
from tests.helpers import query

CITY, YEAR = "371000", 2023
# each mart's identifying column, as the page's data-id gives it
KEYS = {"mart_indicator_scorecard": "scorecard_id", "mart_district_ranking": "ranking_id",
        "mart_dimension_index": "index_id", "mart_target_progress": "target_id",
        "mart_submission_status": "status_id", "mart_plausibility_warnings": "warning_id",
        "dim_source": "source_id", "mart_rounds": "round_id",
        "mart_district_targets": "district_year_id", "mart_survey_estimates": "estimate_id",
        "mart_sustainability_index": "aspect_year_id", "mart_problems": "problem_id",
        "mart_department_assessment": "assessment_id"}


class Numbers(HTMLParser):
    """Every element that says which mart row and column it shows, with its text; and the
    count tiles."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str, str]] = []
        self.counts: dict[str, str] = {}
        self._open: list[list] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-mart" in a:
            self._open.append([tag, ("cell", a["data-mart"], a["data-id"], a["data-column"]), ""])
        elif "data-count" in a:
            self._open.append([tag, ("count", a["data-count"]), ""])
        elif self._open:
            self._open.append([tag, None, ""])

    def handle_data(self, data):
        for entry in self._open:
            entry[2] += data

    def handle_endtag(self, tag):
        if not self._open:
            return
        _, what, text = self._open.pop()
        if what and what[0] == "cell":
            self.cells.append((*what[1:], text.strip()))
        elif what:
            # a tile: its number is the first word
            self.counts[what[1]] = text.split()[0]


def _shown(text: str) -> float | None:
    return None if text == "—" else float(text.replace(",", ""))


@pytest.mark.parametrize("year", [2020, YEAR])   # the targets' year; five years of values
def test_every_number_in_the_report_is_the_published_marts(built, year):
    if year == 2020:     # one department sent its 2020 figures in time (the sample's are late)
        with duckdb.connect(str(built.serving_path)) as con:
            con.execute("update mart_submission_status set last_received_at = "
                        "'2021-03-01 09:00' where year = 2020 and department_code = 'water'")
    result = write_report(built, CITY, year, pdf=False)
    page = Numbers()
    page.feed(result.html_path.read_text(encoding="utf-8"))
    con = duckdb.connect(str(built.serving_path), read_only=True)
    try:
        wrong, by_mart = [], {}
        for mart, key, column, text in page.cells:
            by_mart.setdefault(mart, set()).add(key)
            row = con.execute(f"select {column} from {mart} where {KEYS[mart]} = ?",
                              [key]).fetchall()
            assert len(row) == 1, (mart, key)
            value = row[0][0]
            shown = _shown(text)
            if (value is None) != (shown is None) or (
                    value is not None and abs(shown - round(float(value), 2)) > 1e-9):
                wrong.append(f"{mart} {key} {column}: page {text!r}, mart {value!r}")
        assert not wrong, "\n".join(wrong[:10])

        # nothing left out: every city value of the year, every district's overall rank,
        # every dimension score and every department's status is on the page
        def ids(sql):
            return {r[0] for r in con.execute(sql, [CITY, year]).fetchall()}

        assert ids("select scorecard_id from mart_indicator_scorecard where city_code = ? and "
                   "year = ? and is_city_total") <= by_mart["mart_indicator_scorecard"]
        assert ids("select ranking_id from mart_district_ranking where city_code = ? and "
                   "year = ? and dimension_code = 'overall'") <= by_mart["mart_district_ranking"]
        assert ids("select index_id from mart_dimension_index where city_code = ? and year = ? "
                   "and dimension_code <> 'overall'") <= by_mart["mart_dimension_index"]
        assert ids("select status_id from mart_submission_status where city_code = ? and "
                   "year = ?") == by_mart["mart_submission_status"]
        # every department's assessment that year, and its scores of the four years before
        assert {r[0] for r in con.execute(
            "select assessment_id from mart_department_assessment where city_code = ? and "
            "year between ? and ?", [CITY, year - 4, year]).fetchall()
        } == by_mart["mart_department_assessment"]
        assert len(page.cells) > 100
        # the round is not closed: the report says it is provisional, and how complete
        assert by_mart["mart_rounds"] == ids("select round_id from mart_rounds where "
                                             "city_code = ? and year = ? and is_provisional")
        assert 'data-round="provisional"' in result.html_path.read_text(encoding="utf-8")

        # the tiles count what the marts hold
        def count(sql):
            return str(con.execute(sql, [CITY, year]).fetchone()[0])

        targets = "from mart_indicator_scorecard where city_code = ? and year = ? and " \
                  "target_id is not null"
        if count(f"select count(*) {targets}") != "0":
            assert page.counts["targets_met"] == count(
                f"select count(*) {targets} and target_met")
            assert page.counts["targets_missed"] == count(
                f"select count(*) {targets} and not target_met")
            assert page.counts["targets_pending"] == count(
                f"select count(*) {targets} and target_met is null")
        else:
            # no target falls due: what is known about the year, not four zeros
            city = "from mart_indicator_scorecard where city_code = ? and year = ? and " \
                   "is_city_total and "
            better = "(case when direction = 'lower_better' then value < previous_year_value " \
                     "else value > previous_year_value end)"
            assert "targets_met" not in page.counts
            assert page.counts["indicators_reported"] == count(
                f"select count(*) {city} value is not null")
            assert page.counts["indicators_improved"] == count(
                f"select count(*) {city} {better}")
            assert page.counts["indicators_worsened"] == count(
                f"select count(*) {city} not {better} and value <> previous_year_value")
            assert int(page.counts["indicators_improved"]) > 0
        assert page.counts["revised"] == count(
            "select count(*) from mart_indicator_scorecard where city_code = ? and year = ? "
            "and is_revised")
        assert page.counts["warnings"] == count(
            "select count(*) from mart_plausibility_warnings where city_code = ? and year = ?")
        assert page.counts["missing"] == count(
            "select count(*) from mart_submission_missing_values where city_code = ? and "
            "year = ?")
        # on time: received by the deadline of the next year (CITYCHECK_SUBMISSION_DEADLINE)
        html = result.html_path.read_text(encoding="utf-8")
        assert html.count("✘ 逾期 late") == int(count(
            "select count(*) from mart_submission_status where city_code = ? and year = ? "
            f"and last_received_at::date > make_date({year} + 1, 3, 31)"))
        assert html.count("✔ 按时 on time") == (year == 2020) == int(count(
            "select count(*) from mart_submission_status where city_code = ? and year = ? "
            f"and last_received_at::date <= make_date({year} + 1, 3, 31)"))
        if year == 2020:     # the sample's targets are for 2020 (seed 001)
            assert int(page.counts["targets_met"]) > 0 and int(page.counts["targets_missed"]) > 0
        else:                # 2019-2023: the five-year evaluation, 2019 against 2023
            assert {k for m, k, c, _ in page.cells if m == "mart_indicator_scorecard"
                    and k.endswith("|2019")}
            assert {r[0] for r in con.execute(
                "select index_id from mart_dimension_index where city_code = ? and "
                "year = 2019", [CITY]).fetchall()} <= by_mart["mart_dimension_index"]
            # the sustainable-development index, every aspect at both ends of the period
            assert {r[0] for r in con.execute(
                "select aspect_year_id from mart_sustainability_index where city_code = ? and "
                "year in (2019, 2023)", [CITY]).fetchall()} == by_mart["mart_sustainability_index"]
    finally:
        con.close()


def test_a_city_or_year_without_data_is_a_clear_error(built):
    with pytest.raises(ReportError, match="years with values: .*2023"):
        write_report(built, CITY, 1990, pdf=False)
    with pytest.raises(ReportError, match="published cities: .*371000"):
        write_report(built, "999999", YEAR, pdf=False)
    done = subprocess.run([sys.executable, "-m", "citycheck.cli", "report", "--year", "1990",
                           "--no-pdf"], capture_output=True, text=True,
                          env={**__import__("os").environ, "CITYCHECK_DATA_DIR": str(built.data_dir)})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no published values for city 371000 in 1990" in done.stderr


BAR = re.compile(r'<rect class="bar" x="[\d.]+" y="[\d.]+" width="([\d.]+)"[^>]*><title>'
                 r'(.+?) · (.+?): ([\d,.\-e]+)</title>')
INTERVAL = re.compile(r'<g class="interval"><title>(.+?): ([\d.]+) \(([\d.]+)–([\d.]+)\)'
                      r'</title><line x1="([\d.]+)" x2="([\d.]+)"')


def _figure(html: str, label_starts: str) -> str:
    return next(f for f in re.findall(r"<figure>(.*?)</figure>", html, re.S)
                if f'aria-label="{label_starts}' in f)


def _bars(svg: str) -> dict[tuple[str, str], float]:
    """Each bar's (category, series) → value, after checking every bar's length is its value
    on the chart's one scale."""
    bars = [(cat, series, float(v.replace(",", "")), float(w))
            for w, cat, series, v in BAR.findall(svg)]
    scales = {round(w / v, 3) for *_, v, w in bars if v > 10}
    assert len(scales) == 1 or max(scales) - min(scales) < 0.02, scales
    return {(cat, series): v for cat, series, v, _ in bars}


def test_the_charts_draw_the_published_figures(built):
    """The report's charts are drawn from the marts: each bar of the district ranking, the
    dimension scores and the five-year evaluation is a published score (no district missing,
    none extra, every bar on one scale), and each interval of the survey is a published
    estimate with its bounds, suppressed ones not drawn."""
    html = write_report(built, CITY, YEAR, pdf=False).html_path.read_text(encoding="utf-8")
    close = pytest.approx

    ranking = query(built.serving_path, """
        select district_name_zh, year::varchar || ' 年', score from mart_district_ranking
        where city_code = ? and year in (?, ?) and dimension_code = 'overall'
          and score is not null""", [CITY, YEAR, YEAR - 1])
    drawn = _bars(_figure(html, f"各区县{YEAR}年与{YEAR - 1}年综合得分"))
    assert len(ranking) > 10 and drawn == close({(d, y): s for d, y, s in ranking}, abs=0.05)

    index = query(built.serving_path, """
        select district_name_zh, dimension_name_zh, score from mart_dimension_index
        where city_code = ? and year = ? and dimension_code <> 'overall'
          and score is not null""", [CITY, YEAR])
    drawn = _bars(_figure(html, "各维度各区县得分"))
    assert len(index) > 30 and drawn == close({(d, dim): s for d, dim, s in index}, abs=0.05)

    first = YEAR - 4
    five = query(built.serving_path, """
        select district_name_zh, year::varchar || ' 年', score from mart_dimension_index
        where city_code = ? and year in (?, ?) and dimension_code = 'overall'
          and score is not null""", [CITY, first, YEAR])
    drawn = _bars(_figure(html, f"各区县{first}年与{YEAR}年综合得分"))
    assert len(five) > 10 and drawn == close({(d, y): s for d, y, s in five}, abs=0.05)

    survey = query(built.serving_path, """
        select district_name_zh || case when is_city_total then ' · 全市' else '' end,
               item_name_zh, satisfied_pct, ci_low_pct, ci_high_pct, suppressed
        from mart_survey_estimates where city_code = ? and year = ?""", [CITY, YEAR])
    svg = _figure(html, "各区县各方面满意率")
    panels = re.split(r'<svg [^>]*>', svg)[1:]
    drawn = {}
    for panel in panels:
        aspect = re.search(r'font-weight="bold">(.+?)</text>', panel)[1]
        for name, est, low, high, x1, x2 in INTERVAL.findall(panel):
            drawn[(name, aspect)] = (float(est), float(low), float(high))
            assert float(x1) <= float(x2)
    shown = {(d, a): (e, lo, hi) for d, a, e, lo, hi, suppressed in survey if not suppressed}
    assert any(s[-1] for s in survey) and len(shown) > 10      # the sample suppresses some
    assert drawn.keys() == shown.keys()
    for key, (est, low, high) in shown.items():
        assert drawn[key] == (close(est, abs=0.05), close(low, abs=0.05), close(high, abs=0.05))


@needs_chromium
def test_the_report_reads_in_a_browser_and_prints_to_pdf(built, tmp_path):
    from pypdf import PdfReader

    result = write_report(built, CITY, YEAR)
    dom, log = load(result.html_path, tmp_path / "report.png", width=1280, height=1400)
    assert "威海市2023年城市体检报告" in dom and "City health check 2023" in dom
    assert dom.count("<svg") >= 3 and 'role="img"' in dom     # charts, described
    assert shows_something(tmp_path / "report.png") and not console_errors(log)
    _, log = load(result.html_path, tmp_path / "phone.png", width=390, height=844)
    assert shows_something(tmp_path / "phone.png") and not console_errors(log)

    assert result.pdf_path is not None, result.pdf_note
    reader = PdfReader(result.pdf_path)
    assert len(reader.pages) >= 2
    first = reader.pages[0].extract_text()
    assert "城市体检报告" in first and "City health check 2023" in first
    # A4 (595 x 842 points), not US Letter (612 x 792)
    assert all((round(float(p.mediabox.width)), round(float(p.mediabox.height))) == (595, 842)
               for p in reader.pages)


def test_a_report_says_what_an_increase_target_asks_and_what_was_known_that_year(built):
    """An increase target reads as one ("较2019年新增 increase on 2019 ≥ 9") beside what was
    added, not the running total; the 2019 report quotes no later year; the five-year
    evaluation classes each indicator's change by its direction and sets each target's
    assessed value beside the report year's."""
    html = write_report(built, CITY, 2020, pdf=False).html_path.read_text("utf-8")
    (needed, added, total), = query(
        built.serving_path, "select target_value, compared_value, value from "
        "mart_indicator_scorecard where scorecard_id = '371000|pedestrian_bridges_cum|2020'")
    assert added < total      # the running total is not what the target counts
    assert (f'较2019年新增 increase on 2019 &gt;= <span data-mart="mart_indicator_scorecard" '
            f'data-id="371000|pedestrian_bridges_cum|2020" data-column="target_value">'
            f'{needed:g}</span>') in html
    assert (f'新增 added <span data-mart="mart_indicator_scorecard" data-id="371000|'
            f'pedestrian_bridges_cum|2020" data-column="compared_value">{added:g}</span>'
            ) in html

    page = Numbers()
    page.feed(write_report(built, CITY, 2019, pdf=False).html_path.read_text("utf-8"))
    later = [(m, k) for m, k, _, _ in page.cells
             if m == "mart_indicator_scorecard" and int(k.rsplit("|", 1)[1]) > 2019]
    assert not later
    progress = {k for m, k, _, _ in page.cells if m == "mart_target_progress"}
    assessed = dict(query(built.serving_path,
                          "select target_id, assessed_year from mart_target_progress"))
    assert all(assessed[k] <= 2019 for k in progress)

    html = write_report(built, CITY, YEAR, pdf=False).html_path.read_text("utf-8")
    changes = re.findall(r'data-change="(\w*)"', html)
    (improved,), = query(
        built.serving_path,
        "select count(*) from mart_indicator_scorecard as a join mart_indicator_scorecard "
        "as b using (district_code, indicator_code) where a.is_city_total and "
        "a.city_code = ? and a.year = 2019 and b.year = ? and (case when a.direction = "
        "'lower_better' then b.value < a.value else b.value > a.value end)", [CITY, YEAR])
    assert changes.count("improved") == improved > 0
    assert f"{improved} 项指标改善" in html
    assert "评估值 Assessed (year)" in html and f"{YEAR}年值 Value in {YEAR}" in html


def test_after_a_correction_only_the_reports_it_changes_are_written_again(built, tmp_path):
    from citycheck.checks.validate import validate
    from citycheck.publication.publish import publish
    from citycheck.serving.report import write_reports
    from citycheck.warehouse.build import build
    from extract.submissions import ingest_file
    from tests.test_intake_real_world import write_csv

    first = write_reports(built, pdf=False)
    written = [r.html_path.stem for r in first]
    assert written == [f"370300_{y}" for y in (2020, 2021, 2022)] + [
        f"{CITY}_{y}" for y in (2019, 2020, 2021, 2022, 2023)]
    first = [r for r in first if r.html_path.stem.startswith(CITY)]
    assert write_reports(built, pdf=False) == []          # nothing changed: nothing written
    before = {p.name: p.stat().st_mtime_ns for p in first[0].html_path.parent.glob("*.html")}

    total = ("select value from mart_indicator_scorecard where scorecard_id = "
             "'371000|community_canteens|2021'")   # the city's sum of its districts
    (was,) = query(built.serving_path, total)
    # an indicator without targets: no dated target's progress (shown in every year's
    # report) moves
    rows = [["填报部门", "civil_affairs"], ["城市", CITY], ["年度", "2021"], [],
            ["指标代码", "区县名称", "数值"], ["community_canteens", "环翠区", "12"]]
    assert ingest_file(write_csv(tmp_path / "fix.csv", rows), built).status == "loaded"
    build(built)
    validate(built)
    publish(built)
    # 2021 changed, and the reports after it show 2021 (the year before, the trends)
    again = write_reports(built, pdf=False)
    assert [r.html_path.name for r in again] == [f"{CITY}_{y}.html" for y in (2021, 2022, 2023)]
    after = {p.name: p.stat().st_mtime_ns for p in first[0].html_path.parent.glob("*.html")}
    assert all(after[f"{CITY}_{y}.html"] == before[f"{CITY}_{y}.html"] for y in (2019, 2020))
    (now,) = query(built.serving_path, total)
    assert now[0] == was[0] + 1
    page = Numbers()
    page.feed(again[0].html_path.read_text(encoding="utf-8"))
    assert ("mart_indicator_scorecard", "371000|community_canteens|2021", "value",
            f"{now[0]:g}") in page.cells


def test_a_pass_killed_half_way_keeps_the_reports_it_wrote(built):
    """`citycheck report` killed (SIGKILL) after its first batch: the manifest holds that
    batch, and the next pass writes only the reports still due."""
    import json

    from citycheck.serving.report import write_reports
    from tests.faults import cli, killed

    assert killed(cli(built, "report", "--no-pdf", crash_at="reports.after_batch"))
    manifest = json.loads((built.reports_dir / "annual" / "manifest.json").read_text("utf-8"))
    rest = write_reports(built, pdf=False)
    assert manifest and rest                        # one batch kept, the rest still due
    assert sorted(list(manifest) + [r.html_path.stem for r in rest]) == [
        f"370300_{y}" for y in (2020, 2021, 2022)] + [
        f"{CITY}_{y}" for y in (2019, 2020, 2021, 2022, 2023)]


@needs_chromium
def test_a_pass_prints_every_pdf_as_the_command_line_does(built, tmp_path):
    """write_reports prints its PDFs with browsers kept open (DevTools); each PDF is the one
    `chromium --print-to-pdf` makes of the same page: A4, the same pages, the same text."""
    from pypdf import PdfReader

    from citycheck.serving.report import print_pdf, write_reports

    written = write_reports(built)
    assert written and all(r.pdf_path and r.pdf_path.exists() for r in written), [
        r.pdf_note for r in written]
    for r in written[:2]:
        by_cli = tmp_path / f"{r.html_path.stem}.pdf"
        assert print_pdf(r.html_path, by_cli) is None
        ours, theirs = PdfReader(r.pdf_path), PdfReader(by_cli)
        assert len(ours.pages) == len(theirs.pages) > 1
        assert {(round(float(p.mediabox.width)), round(float(p.mediabox.height)))
                for p in ours.pages} == {(595, 842)}
        assert [p.extract_text() for p in ours.pages] == [p.extract_text() for p in theirs.pages]
        # untagged both ways unless asked (the HTML page is the accessible form)
        assert "/StructTreeRoot" not in ours.trailer["/Root"]
        assert "/StructTreeRoot" not in theirs.trailer["/Root"]


@needs_chromium
def test_the_printed_report_lists_the_first_rows_and_says_how_many_more(built, monkeypatch):
    """A data-quality list: every row on the web page; in the PDF the first PRINT_ROWS (here
    5), then how many more and where they are. The count above the lists is the whole list's
    in both. The sample's longest list: Zibo's 2022 values missing."""
    from pypdf import PdfReader

    from citycheck.serving import report

    city, year, shown = "370300", 2022, 5
    monkeypatch.setattr(report, "PRINT_ROWS", shown)
    missing = query(built.serving_path, """
        select department_name_zh, district_name_zh from mart_submission_missing_values
        where city_code = ? and year = ? order by department_code, indicator_code,
        district_code""", [city, year])
    n = len(missing)
    assert n > shown
    result = write_report(built, city, year)
    html = result.html_path.read_text(encoding="utf-8")
    page = Numbers()
    page.feed(html)
    assert page.counts["missing"] == str(n)
    table = html[html.index("Values missing"):]
    table = table[:table.index("</table>")]
    assert table.count("<tr") - 1 == n and table.count('class="web-only"') == n - shown
    assert f'data-more="{n - shown}"' in html

    # (NFKC: the PDF's text gives some characters as their Kangxi radicals, ⽂ for 文)
    printed = unicodedata.normalize("NFKC", "".join(
        p.extract_text() for p in PdfReader(result.pdf_path).pages))
    assert f"另有 {n - shown} 条未印出" in printed
    assert f"{n - shown} more not printed" in printed
    cut = printed[printed.index("Values missing"):printed.index(f"另有 {n - shown} 条")]
    assert sum(cut.count(d) for d in {d for d, _ in missing}) == shown
    for _, district in missing[:shown]:
        assert district in cut
    assert "mart_submission_missing_values" in printed[printed.index("more not printed"):]


@needs_chromium
def test_pdfs_carry_accessibility_tags_when_asked(built, tmp_path, monkeypatch):
    """CITYCHECK_PDF_TAGGED=1: the PDF holds Chromium's structure tree, printed either way."""
    from pypdf import PdfReader

    from citycheck.serving.pdf import printers
    from citycheck.serving.report import chromium, print_pdf, write_report

    monkeypatch.setenv("CITYCHECK_PDF_TAGGED", "1")
    html = write_report(built, CITY, YEAR, pdf=False).html_path
    with printers(chromium(), print_pdf) as pool:
        assert pool.print(html, tmp_path / "kept_open.pdf") is None
    assert print_pdf(html, tmp_path / "command_line.pdf") is None
    for name in ("kept_open.pdf", "command_line.pdf"):
        assert "/StructTreeRoot" in PdfReader(tmp_path / name).trailer["/Root"], name


def test_a_report_names_no_server_path(built):
    """A report is public: where each source is kept is said inside the data folder."""
    import re

    html = write_report(built, CITY, YEAR, pdf=False).html_path.read_text(encoding="utf-8")
    assert str(built.data_dir) not in html
    assert re.search(r'title="archive/[0-9a-f]{2}/[0-9a-f]{64}/[^"]+\.(xlsx|csv)"', html)
    assert re.search(r'title="landing/open_data/', html)
