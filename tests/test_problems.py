"""The problem list (问题清单) and rectification (整改): a missed target of a closed round
becomes a problem; the office sets it in progress (with history); the next round's value meets
the target, and the next year's report opens with the problem, proposed as rectified; the
office confirms it; the list exports to Excel."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import openpyxl
import pytest

from citycheck.serving import department_portal as dp
from citycheck.serving.problems import list_problems, update_problem
from citycheck.serving.report import write_report
from citycheck.warehouse.rounds import RoundRefused
from tests.browser import needs_chromium
from tests.helpers import query
from tests.test_portal_round import round_portal  # noqa: F401,F811 - the sample portal
from tests.test_report import Numbers, _shown

ZIBO = "370300"
PROBLEM = f"{ZIBO}|2021|370304|night_economy_clusters|target_missed"   # 博山区: 1 of 2


def _cli(settings, *args):
    done = subprocess.run([sys.executable, "-m", "citycheck.cli", *args], capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "CITYCHECK_DATA_DIR": str(settings.data_dir)})
    return done


def _publish(settings):
    done = _cli(settings, "run", "--no-fetch")
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_missed_target_becomes_a_problem_rectified_the_year_after(built, tmp_path,
                                                                    monkeypatch):
    assert list_problems(built, ZIBO) == []          # no round is closed: no problem yet
    dp.add_user(built, "zb_office", "office", ZIBO, password="a-long-password-1")
    dp.add_user(built, "zb_housing", "clerk", ZIBO, "housing", password="a-long-password-1")
    done = _cli(built, "round", "close", "--city", ZIBO, "--year", "2021", "--as", "zb_office",
                "--override", "closing the sample's 2021 round")
    assert done.returncode == 0, done.stderr[-2000:]

    # every target missed in the closed round is a problem, and nothing else of that year
    missed = {(d, i) for d, i in query(
        built.serving_path, "select district_code, indicator_code from "
        "mart_indicator_scorecard where city_code = ? and year = 2021 and not target_met",
        [ZIBO])}
    problems = {p["problem_id"]: p for p in list_problems(built, ZIBO)}
    assert missed and {(p["district_code"], p["indicator_code"]) for p in problems.values()
                       if p["problem_kind"] != "deteriorated"} == missed
    assert {p["year"] for p in problems.values()} == {2021}     # 2020 and 2022 still open
    p = problems[PROBLEM]
    assert (p["value"], p["comparator"], p["target_value"], p["status"]) == (1, ">=", 2, "open")
    assert (p["department_code"], p["dimension_name_zh"]) == ("commerce", "城市活力")
    # 2022's value, 2, meets the 2021 target: proposed as rectified for the office to confirm
    assert (p["proposed_rectified"], p["evidence_year"], p["evidence_value"]) == (True, 2022, 2)

    # the office records the cause, the measure and a deadline, in progress
    office = dp.find_user(built, "zb_office")
    first = update_problem(built, PROBLEM, office, "in_progress", "场地不足 no venue",
                           "新建夜市一处 a new night market", date(2027, 6, 30))
    with pytest.raises(RoundRefused, match="changed while you looked at it"):
        update_problem(built, PROBLEM, office, "rectified", None, None, None, seen=None)
    with pytest.raises(RoundRefused, match="only the coordinating office of city 370300"):
        update_problem(built, PROBLEM, dp.find_user(built, "zb_housing"), "rectified",
                       None, None, None)
    with pytest.raises(RoundRefused, match="no problem"):
        update_problem(built, f"{ZIBO}|2021|370304|nothing|target_missed", office, "open",
                       None, None, None)
    _publish(built)
    p = {r["problem_id"]: r for r in list_problems(built, ZIBO)}[PROBLEM]
    assert (p["status"], p["cause"], p["measure"], str(p["deadline"]), p["updates"],
            p["last_update_id"]) == ("in_progress", "场地不足 no venue",
                                     "新建夜市一处 a new night market", "2027-06-30", 1, first)

    # the next year's report opens with last year's problems, this one proposed as rectified
    monkeypatch.setenv("CITYCHECK_TODAY", "2027-06-30")     # written on its deadline
    report = write_report(built, ZIBO, 2022, pdf=False)
    html = report.html_path.read_text(encoding="utf-8")
    assert html.index('id="problems"') < html.index("Targets missed in 2022")
    assert f'data-problem="{PROBLEM}|in_progress|proposed"' in html
    # written the day after its deadline, not rectified: overdue, and counted so
    monkeypatch.setenv("CITYCHECK_TODAY", "2027-07-01")
    late = write_report(built, ZIBO, 2022, pdf=False).html_path.read_text(encoding="utf-8")
    assert f'data-problem="{PROBLEM}|overdue|proposed"' in late
    assert "已逾期 1；" in late and "1 overdue" in late       # the only one with a deadline
    monkeypatch.delenv("CITYCHECK_TODAY")
    page = Numbers()
    page.feed(html)
    shown = [(k, c, t) for m, k, c, t in page.cells if m == "mart_problems"]
    assert {k for k, _, _ in shown} == set(problems)
    for key, column, text in shown:
        (value,) = query(built.serving_path, f"select {column} from mart_problems where "
                         "problem_id = ?", [key])[0]
        assert _shown(text) == pytest.approx(value), (key, column)

    # the office confirms it: rectified, no longer proposed; the history keeps both steps
    done = _cli(built, "problem", "update", PROBLEM, "--as", "zb_office", "--status",
                "rectified")
    assert done.returncode == 0, done.stderr
    _publish(built)
    p = {r["problem_id"]: r for r in list_problems(built, ZIBO)}[PROBLEM]
    assert (p["status"], p["proposed_rectified"], p["updates"], p["measure"]) == (
        "rectified", False, 2, "新建夜市一处 a new night market")
    # ... published (mart_problem_updates) and on the list, newest first
    assert [(h["step"], h["status"], h["recorded_by"], h["measure"]) for h in p["history"]] == [
        (2, "rectified", "zb_office", "新建夜市一处 a new night market"),
        (1, "in_progress", "zb_office", "新建夜市一处 a new night market")]
    assert p["history"][1]["update_id"] == first

    # the list in Excel: a bilingual header and one row per problem, the status as read
    out = _cli(built, "problem", "export", "--city", ZIBO, "--output",
               str(tmp_path / "problems.xlsx"))
    assert out.returncode == 0, out.stderr
    sheet = openpyxl.load_workbook(tmp_path / "problems.xlsx").active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "问题编号\nProblem" and len(rows) == 1 + len(problems)
    (mine,) = [r for r in rows if r[0] == PROBLEM]
    assert "已整改 rectified" in mine


@needs_chromium
def test_the_office_edits_a_problem_on_its_page_and_exports_the_list(
        round_portal, tmp_path):  # noqa: F811 - the fixture imported above
    import requests

    from tests.browser import shows_something
    from tests.cdp import Browser
    from tests.test_department_portal import _csrf
    from tests.test_portal_round import PASSWORD, login, publish

    settings, base = round_portal
    done = _cli(settings, "round", "close", "--city", ZIBO, "--year", "2021", "--as",
                "zb_office", "--override", "closing the sample's 2021 round")
    assert done.returncode == 0, done.stderr[-2000:]
    browser = Browser(width=1366, height=900)
    try:
        login(browser, base, "zb_office")
        browser.goto(f"{base}/office?year=2021")
        browser.wait_for("document.querySelector('#problem-list')")
        row = f"[data-problem^='{PROBLEM}|']"
        assert browser.js(f"document.querySelector(\"{row}\").getAttribute('data-problem')"
                          ) == f"{PROBLEM}|open"
        browser.js(f"document.querySelector(\"{row} details.edit\").open = true")
        browser.fill(f"{row} textarea[name=measure]", "新建夜市一处 a new night market")
        browser.fill(f"{row} input[name=deadline]", "2027-06-30")
        browser.js(f"document.querySelector(\"{row} select[name=status]\").value = 'in_progress'")
        browser.submit(f"{row} button[type=submit]", "document.querySelector('#flash') !== null")
        assert "Recorded" in browser.js("document.querySelector('#flash').innerText")
        publish(settings)
        browser.goto(f"{base}/office?year=2021")   # (the page was at #problems: a reload)
        browser.wait_for("document.querySelector('#problem-list')")
        assert browser.js(f"document.querySelector(\"{row}\").getAttribute('data-problem')"
                          ) == f"{PROBLEM}|in_progress"
        text = browser.js(f"document.querySelector(\"{row}\").innerText")
        assert "整改中" in text and "新建夜市一处" in text
        # its history: the one step, by whom, with the measure
        browser.js(f"document.querySelector(\"{row} details.history\").open = true")
        steps = browser.js(f"[...document.querySelectorAll(\"{row} [data-step]\")]"
                           ".map(e => e.innerText)")
        assert len(steps) == 1 and "zb_office" in steps[0] and "新建夜市一处" in steps[0], steps
        browser.js("document.querySelector('#problems').scrollIntoView()")
        browser.screenshot(tmp_path / "problems.png")
        assert shows_something(tmp_path / "problems.png")
        if os.environ.get("CITYCHECK_KEEP_SHOTS"):
            __import__("shutil").copy(tmp_path / "problems.png", "/tmp/problems_office.png")
    finally:
        browser.close()
    s = requests.Session()
    token = _csrf(s.get(f"{base}/login").text)
    s.post(f"{base}/login", data={"username": "zb_office", "password": PASSWORD, "csrf": token})
    sheet = s.get(f"{base}/office/problems.xlsx")
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"
    # a clerk may not edit the list
    clerk = requests.Session()
    token = _csrf(clerk.get(f"{base}/login").text)
    page = clerk.post(f"{base}/login", data={"username": "zb_housing", "password": PASSWORD,
                                             "csrf": token})
    assert clerk.post(f"{base}/office/problem", data={
        "problem": PROBLEM, "status": "rectified", "csrf": _csrf(page.text)}).status_code == 403
