"""Bulletins (通报): every number is the published marts', the commendation and interview lists
follow the rules, an issued bulletin is never rewritten, a department finds the bulletins that
name it, and the PDF is A4 with no heading left at a page foot."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from html.parser import HTMLParser

import duckdb
import pytest

from citycheck.serving.bulletin import (
    Rule,
    choose,
    issue_bulletin,
    list_bulletins,
    load_rules,
)
from citycheck.serving.report import query_rows
from tests.browser import needs_chromium
from tests.test_portal_round import round_portal  # noqa: F401,F811 - the sample portal
from tests.test_report import Numbers, _shown

CITY = "371000"
KEYS = {"mart_rounds": "round_id", "mart_department_assessment": "assessment_id",
        "mart_district_assessment": "district_assessment_id"}


class Lists(HTMLParser):
    """The districts the page commends and lists for interview."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[str]] = {"commend": [], "interview": []}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-list" in a:
            self.found[a["data-list"]].append(a["data-district"])


def test_every_number_in_a_bulletin_is_the_published_marts(built):
    result = issue_bulletin(built, CITY, 2023, as_of=date(2024, 4, 15), pdf=False)
    assert (result.number, result.round_year) == (1, 2023)
    html = result.html_path.read_text(encoding="utf-8")
    page = Numbers()
    page.feed(html)
    with duckdb.connect(str(built.serving_path), read_only=True) as con:
        wrong, by_mart = [], {}
        for mart, key, column, text in page.cells:
            by_mart.setdefault(mart, set()).add(key)
            (value,) = con.execute(f"select {column} from {mart} where {KEYS[mart]} = ?",
                                   [key]).fetchone()
            shown = _shown(text)
            if (value is None) != (shown is None) or (
                    value is not None and abs(shown - round(float(value), 2)) > 1e-9):
                wrong.append(f"{mart} {key} {column}: page {text!r}, mart {value!r}")
        assert not wrong, "\n".join(wrong[:10])
        # nothing left out: every department of the round and every district assessed
        for mart, key in (("mart_department_assessment", "assessment_id"),
                          ("mart_district_assessment", "district_assessment_id")):
            ids = {r[0] for r in con.execute(
                f"select {key} from {mart} where city_code = ? and year = 2023", [CITY]).fetchall()}
            assert ids and ids == by_mart[mart], mart
        districts = query_rows(con, "select * from mart_district_assessment where "
                               "city_code = ? and year = 2023", [CITY])
    # the lists on the page are the rules' choice over the published assessment
    lists = Lists()
    lists.feed(html)
    chosen = choose(districts, load_rules())
    assert lists.found == {k: [d["district_code"] for d in v] for k, v in chosen.items()}
    assert lists.found["commend"] and lists.found["interview"]
    assert "威海市城市品质提升工作通报" in html and "2023年度 第1期" in html
    assert "截至 as of 2024-04-15" in html


def test_the_lists_follow_the_rules_on_a_crafted_case():
    def district(code, score, change, rank):
        return {"district_code": code, "score": score, "index_change": change,
                "rank_in_city": rank}

    districts = [district("A", 90, 5, 1), district("B", 80, 12, 2), district("C", 80, -1, 2),
                 district("D", 60, -9, 4), district("E", 40, 3, 5), district("F", None, None, None)]
    rules = [Rule("commend", "score", "top", 2, None, "前二", "top two"),
             Rule("commend", "index_change", "top", 1, 0, "升最多", "rose most"),
             Rule("interview", "score", "bottom", 1, None, "末位", "last"),
             Rule("interview", "index_change", "bottom", 2, 0, "降", "fell")]
    chosen = choose(districts, rules)
    # top two by score: A (90), then B and C tie at 80 — all three; the largest rise: B.
    # Last by score: E; the two largest falls below 0: D (-9) and C (-1) — C fell, so it is
    # listed for interview and not commended. F has no score: no rule picks it.
    assert [d["district_code"] for d in chosen["commend"]] == ["A", "B"]
    assert [d["district_code"] for d in chosen["interview"]] == ["C", "D", "E"]
    (b,) = [d for d in chosen["commend"] if d["district_code"] == "B"]
    assert [r.why_en for r in b["rules"]] == ["top two", "rose most"]
    # a threshold nobody passes picks nobody: with no fall, nobody is interviewed for one
    risen = [district("A", 90, 5, 1), district("B", 80, 2, 2)]
    assert choose(risen, [rules[3]]) == {"commend": [], "interview": []}


def test_an_issued_bulletin_is_never_rewritten(built):
    first = issue_bulletin(built, CITY, 2023, as_of=date(2024, 4, 1), pdf=False)
    kept = first.html_path.read_bytes()
    stamp = first.html_path.stat().st_mtime_ns
    # three offices issue at once: three numbers, none written twice
    with ThreadPoolExecutor(3) as pool:
        later = list(pool.map(lambda _: issue_bulletin(built, CITY, 2023, pdf=False), range(3)))
    assert sorted(b.number for b in later) == [2, 3, 4]
    assert len({b.html_path for b in later}) == 3
    assert first.html_path.read_bytes() == kept and first.html_path.stat().st_mtime_ns == stamp
    assert "第1期" in kept.decode() and all(f"第{b.number}期" in b.html_path.read_text(
        encoding="utf-8") for b in later)
    # nothing in citycheck opens an issued page for writing
    from citycheck.serving.bulletin import _write_new
    with pytest.raises(FileExistsError):
        _write_new(first.html_path, "rewritten")
    assert first.html_path.read_bytes() == kept
    assert sorted(b["number"] for b in list_bulletins(built, CITY)) == [1, 2, 3, 4]


def test_a_department_finds_the_bulletins_that_name_it(built):
    issue_bulletin(built, CITY, 2023, pdf=False)
    issue_bulletin(built, "370300", 2022, pdf=False)
    both = list_bulletins(built, department="city_management")   # owes values in both cities
    assert {(b["city"], b["round"]) for b in both} == {(CITY, 2023), ("370300", 2022)}
    # the health commission answers for no indicator: no bulletin names it
    assert list_bulletins(built, department="health") == []
    # a department of one city only: only that city's bulletin
    forestry = list_bulletins(built, department="forestry")
    assert {b["city"] for b in forestry} == {CITY}


def test_the_cli_issues_lists_and_refuses_clearly(built):
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(built.data_dir)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "citycheck.cli", "bulletin", *args],
                              capture_output=True, text=True, env=env, timeout=300)

    done = cli("--city", "370300", "--round", "1999")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "city 370300 has no 1999 round; its rounds: 2020, 2021, 2022" in done.stderr
    done = cli("--city", "370300", "--as-of", "15 April")
    assert done.returncode == 2 and "'15 April' is not a date like 2025-04-15" in done.stderr
    done = cli("--city", "370300", "--round", "2022", "--no-pdf")
    assert done.returncode == 0, done.stderr
    assert "bulletin 370300 2022 第1期 No. 1:" in done.stdout
    done = cli("--city", "370300", "--list")
    assert re.search(r"370300 2022 第1期 No\. 1 +as of \d{4}-\d\d-\d\d", done.stdout)


@needs_chromium
def test_the_bulletin_prints_on_a4_with_no_heading_at_a_page_foot(built):
    from pypdf import PdfReader

    result = issue_bulletin(built, CITY, 2023, as_of=date(2024, 4, 15))
    assert result.pdf_path is not None, result.pdf_note
    reader = PdfReader(result.pdf_path)
    assert all((round(float(p.mediabox.width)), round(float(p.mediabox.height))) == (595, 842)
               for p in reader.pages)
    html = result.html_path.read_text(encoding="utf-8")
    # each heading's English half (the PDF's text of the Chinese half uses radical forms)
    headings = [re.sub(r"<[^>]+>", "", en).strip() for en in re.findall(
        r"<h[23][^>]*>.*?<span class=\"en\">(.*?)</span></h[23]>", html)]
    assert len(headings) >= 5
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Departments: submissions and assessment" in text
    for number, p in enumerate(reader.pages, 1):
        lines = [line.strip() for line in p.extract_text().splitlines() if line.strip()]
        assert lines and not any(lines[-1].endswith(h) for h in headings), (
            f"page {number} ends on a heading: {lines[-1]!r}")


@needs_chromium
def test_the_office_issues_a_bulletin_from_its_page_and_the_named_departments_read_it(
        round_portal, tmp_path):  # noqa: F811 - the fixture imported above
    import requests

    from tests.browser import shows_something
    from tests.cdp import Browser
    from tests.test_department_portal import _csrf
    from tests.test_portal_round import PASSWORD, login

    settings, base = round_portal
    browser = Browser(width=1366, height=900)
    try:
        login(browser, base, "zb_office")
        browser.goto(f"{base}/office?year=2022")
        browser.wait_for("document.querySelector('form[action=\"/office/bulletin\"]')")
        browser.submit("form[action='/office/bulletin'] button[type=submit]",
                       "document.querySelector('[data-bulletin]')")
        assert browser.js("[...document.querySelectorAll('[data-bulletin]')]"
                          ".map(e => e.getAttribute('data-bulletin'))") == ["370300|2022|1"]
        assert "Bulletin No. 1 of the 2022 round issued" in browser.text()
        browser.js("document.querySelector('#bulletins').scrollIntoView()")
        browser.screenshot(tmp_path / "office.png")
        assert shows_something(tmp_path / "office.png")
        if os.environ.get("CITYCHECK_KEEP_SHOTS"):     # to look at it after the run
            shutil.copy(tmp_path / "office.png", "/tmp/bulletin_office.png")
    finally:
        browser.close()
    (issued,) = list_bulletins(settings, "370300")
    assert issued["issued_by"] == "zb_office" and "education" in issued["departments"]
    url = f"/bulletins/370300/2022/01/{issued['html']}"

    def session(user):
        s = requests.Session()
        token = _csrf(s.get(f"{base}/login").text)
        s.post(f"{base}/login", data={"username": user, "password": PASSWORD, "csrf": token})
        return s

    # the office page shows the departments' assessment of the round, as published
    office_page = session("zb_office").get(f"{base}/office?year=2022").text
    shown = {(d, float(s), int(r)) for d, s, r in (
        x.split("|") for x in re.findall(r'data-assessment="([^"]+)"', office_page))}
    published = set(duckdb.connect(str(settings.serving_path), read_only=True).execute(
        "select department_code, score, rank_in_city from mart_department_assessment "
        "where city_code = '370300' and year = 2022").fetchall())
    assert shown and shown == published
    clerk = session("zb_education")          # named: it owes the round's values
    assert 'data-bulletin="370300|2022|1"' in clerk.get(f"{base}/").text
    page = clerk.get(f"{base}{url}")
    assert page.status_code == 200 and "2022年度 第1期" in page.text
    pdf = clerk.get(f"{base}{url.replace('.html', '.pdf')}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # another city's office, and anyone signed out: not theirs
    assert session("wh_office").get(f"{base}{url}").status_code == 404
    assert requests.get(f"{base}{url}", allow_redirects=False).status_code in (303, 401, 403)
    # no path outside the bulletins
    assert clerk.get(f"{base}/bulletins/370300/2022/01/..%2F..%2F..%2Fportal.db"
                     ).status_code == 404


@pytest.mark.airflow
def test_the_weekly_bulletin_is_issued_only_when_switched_on(built, airflow_db, monkeypatch):
    from citycheck.devtools.demo import load_dags
    from citycheck.serving.bulletin import WEEKLY_ENV

    dag = load_dags()["citycheck_bulletins"]
    timetable = dag.timetable                         # Mondays 08:00, Beijing time
    assert (timetable.expression, str(timetable.timezone)) == ("0 8 * * 1", "Asia/Shanghai")
    monkeypatch.delenv(WEEKLY_ENV, raising=False)
    assert dag.test().state == "success"
    assert list_bulletins(built) == []                # off by default: nothing issued
    monkeypatch.setenv(WEEKLY_ENV, "1")
    assert dag.test().state == "success"
    # each city's round in collection: its latest round not closed
    rounds = {(c, y) for c, y in duckdb.connect(str(built.serving_path), read_only=True).execute(
        "select city_code, max(year) from mart_rounds where is_provisional group by all"
    ).fetchall()}
    issued = list_bulletins(built)
    assert rounds and {(b["city"], b["round"]) for b in issued} == rounds
    assert {b["issued_by"] for b in issued} == {"weekly"} and {b["number"] for b in issued} == {1}
