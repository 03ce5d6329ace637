"""A reporting round in the department portal, in a real browser (headless Chromium) against
the portal served on 127.0.0.1: the office sees who owes before their files arrive, returns a
held value, the clerk reads why and answers, the office confirms, the round closes. Between
the steps the test publishes, as the warehouse DAG does on the portal's asset events.

Zibo's 2022 round of the sample: the education bureau has sent nothing, 文昌湖's
night-economy figure is missing, 张店区's utility tunnels (0.49 km) are held for review.
"""
from __future__ import annotations

import re
import shutil

import pytest
import requests

from citycheck.serving import department_portal as dp
from tests.browser import needs_chromium, shows_something
from tests.helpers import free_port, make_settings, query
from tests.test_department_portal import _csrf, _start
from tests.test_rounds import education_2022, zibo_file

PASSWORD = "a-long-password-1"
ZIBO = "370300"


def publish(settings) -> None:
    """Build, validate and publish in a process of its own, as the warehouse DAG's worker
    does (dbt in this process would keep the DuckDB file the portal must write to)."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "citycheck.cli", "run", "--no-fetch"],
                          env={**os.environ, "CITYCHECK_DATA_DIR": str(settings.data_dir)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def round_portal(sample_warehouse, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    settings = make_settings(data, monkeypatch)
    for name, role, department in (("zb_office", "office", None),
                                   ("zb_housing", "clerk", "housing"),
                                   ("zb_education", "clerk", "education"),
                                   ("zb_commerce", "clerk", "commerce")):
        dp.add_user(settings, name, role, ZIBO, department, password=PASSWORD)
    dp.add_user(settings, "wh_office", "office", "371000", password=PASSWORD)
    port = free_port()
    proc = _start(data, port)
    try:
        yield settings, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def login(browser, base, user):
    browser.goto(f"{base}/login")
    browser.wait_for("document.querySelector('input[name=username]')")
    browser.fill("input[name=username]", user)
    browser.fill("input[name=password]", PASSWORD)
    browser.submit("form[action='/login'] button[type=submit]",
                    f"document.querySelector('header form') && "
                    f"document.querySelector('header form').innerText.includes('{user}')")


def data_rows(browser, attribute):
    return browser.js(f"[...document.querySelectorAll('[{attribute}]')]"
                      f".map(e => e.getAttribute('{attribute}'))")


@needs_chromium
def test_a_round_from_opening_to_close_in_the_browser(round_portal, tmp_path):
    from tests.cdp import Browser

    settings, base = round_portal
    browser = Browser(width=1366, height=900)
    try:
        # the Weihai office, before any 2024 file: every department owes, and the page
        # opens on the year in collection
        login(browser, base, "wh_office")
        browser.goto(f"{base}/office")
        browser.wait_for("document.querySelector('#departments')")
        assert browser.js("document.querySelector('[aria-current=true] a').textContent") == "2024"
        departments = [d.split("|") for d in data_rows(browser, "data-department")]
        assert departments and all(int(d[3]) == int(d[1]) > 0 for d in departments)
        assert all(int(d[6]) == 615 for d in departments)     # due 2025-03-31
        assert len(data_rows(browser, "data-missing")) == sum(int(d[3]) for d in departments)
        # it fits a 1366-pixel screen
        assert browser.js("document.documentElement.scrollWidth") <= 1366

        # the Zibo office: its 2022 round, the education bureau owing, one value held
        login(browser, base, "zb_office")
        browser.goto(f"{base}/office")
        browser.wait_for("document.querySelector('#departments')")
        owing = {d.split("|")[0]: d.split("|") for d in data_rows(browser, "data-department")}
        assert owing["education"][3] == "22" and owing["commerce"][3] == "1"
        (held,) = data_rows(browser, "data-review")
        item = held.split("|")[0]
        assert held.endswith("|held")
        browser.screenshot(tmp_path / "office.png")
        assert shows_something(tmp_path / "office.png")
        # returns it, with a question
        browser.fill(f"[data-review^='{item}'] textarea[name=reason]",
                     "0.49 km after 4.5 km in 2021: a decimal point? 是否小数点错位？")
        browser.submit(f"[data-review^='{item}'] button[value=return]",
                       "document.querySelector('#flash')")
        assert "Recorded" in browser.text()
        assert "return" in " ".join(data_rows(browser, "data-action"))
        publish(settings)

        # the housing clerk reads it, returned, with the office's reason, and answers
        login(browser, base, "zb_housing")
        browser.goto(f"{base}/")
        browser.wait_for("document.querySelector('[data-returned]')")
        assert "a decimal point?" in browser.js(
            "document.querySelector('#returned').innerText")
        assert "已退回" in browser.text()
        browser.fill(f"[data-returned='{item}'] textarea[name=reason]",
                     "正确：2022年拆除改建，仅0.49公里在用 Right: rebuilt in 2022, 0.49 km in use")
        browser.submit(f"[data-returned='{item}'] button[type=submit]",
                       "document.querySelector('#flash')")
        # the education clerk uploads the bureau's 2022 file, and reads the receipt at once
        login(browser, base, "zb_education")
        browser.goto(f"{base}/")
        browser.wait_for("document.querySelector('input[type=file]')")
        browser.choose_file("input[type=file]", education_2022(tmp_path / "education.csv"))
        browser.submit("form[action='/upload'] button[type=submit]",
                       "document.querySelector('[data-outcome]')")
        assert browser.js("document.querySelector('[data-outcome]').dataset.outcome") == "ok"
        publish(settings)

        # the office reads the answer and confirms the figure
        login(browser, base, "zb_office")
        browser.goto(f"{base}/office?year=2022")
        browser.wait_for("document.querySelector('[data-review]')")
        assert data_rows(browser, "data-review") == [f"{item}|answered"]
        assert "rebuilt in 2022" in browser.text()
        browser.fill(f"[data-review^='{item}'] textarea[name=reason]", "confirmed by phone")
        browser.submit(f"[data-review^='{item}'] button[value=confirm]",
                       "document.querySelector('#flash')")
        publish(settings)
        assert query(settings.serving_path, "select value, review_state from "
                     "fct_indicator_values where district_code = '370303' and indicator_code = "
                     "'utility_tunnel_km' and year = 2022") == [(0.49, "confirmed")]

        # the last missing value arrives; the round is complete and the office closes it
        s = requests.Session()
        token = _csrf(s.get(f"{base}/login").text)
        token = _csrf(s.post(f"{base}/login", data={"username": "zb_commerce",
                                                    "password": PASSWORD,
                                                    "csrf": token}).text)
        data = zibo_file(tmp_path / "commerce.csv", "commerce",
                         [["night_economy_clusters", "文昌湖省级旅游度假区", "1"]]).read_bytes()
        assert 'data-outcome="ok"' in s.post(f"{base}/upload", data={"csrf": token},
                                             files=[("files", ("c.csv", data))]).text
        publish(settings)
        browser.goto(f"{base}/office?year=2022")
        browser.wait_for("document.querySelector('#round')")
        assert browser.js("document.querySelector('[data-completeness]').dataset"
                          ".completeness") == "100.0"
        assert data_rows(browser, "data-review") == [] and data_rows(browser,
                                                                     "data-missing") == []
        browser.submit("form[action='/office/round'] button[value=close]",
                       "document.querySelector('#flash')")
        assert "Recorded" in browser.text(), browser.text()[:500]
        publish(settings)
        browser.goto(f"{base}/office?year=2022")
        browser.wait_for("document.querySelector('#rounds')")
        assert "2022|closed|0|0|0" in data_rows(browser, "data-round")
        assert not browser.console_errors
    finally:
        browser.close()


def test_review_and_round_steps_need_the_office_of_the_city_and_a_fresh_page(round_portal):
    settings, base = round_portal

    def session(user):
        s = requests.Session()
        token = _csrf(s.get(f"{base}/login").text)
        page = s.post(f"{base}/login", data={"username": user, "password": PASSWORD,
                                             "csrf": token})
        return s, _csrf(page.text)

    (item,) = [r[0] for r in query(settings.serving_path,
                                   "select review_item_id from mart_review_queue")]
    clerk, token = session("zb_housing")
    r = clerk.post(f"{base}/office/review", data={"item": item, "action": "confirm",
                                                  "reason": "x", "csrf": token})
    assert r.status_code == 403
    # another city's office: refused, saying whose it is
    other, token = session("wh_office")
    page = other.post(f"{base}/office/review", data={"item": item, "action": "confirm",
                                                     "reason": "x", "seen": "", "year": 2022,
                                                     "csrf": token}).text
    assert "only the coordinating office of the value&#39;s city" in page or \
        "only the coordinating office of the value's city" in page
    office, token = session("zb_office")
    ok = office.post(f"{base}/office/review", data={"item": item, "action": "return",
                                                    "reason": "check it", "seen": "",
                                                    "year": 2022, "csrf": token}).text
    assert "Recorded" in ok
    # a second office page, loaded before that step, still says "held": its confirm is
    # refused with what the value is now
    stale = office.post(f"{base}/office/review", data={"item": item, "action": "confirm",
                                                       "reason": "fine", "seen": "",
                                                       "year": 2022, "csrf": token}).text
    assert re.search(r"changed while you looked at it: it is now returned", stale)
    # without the form's token: refused
    assert office.post(f"{base}/office/round", data={"action": "close", "year": 2022}
                       ).status_code == 403


@needs_chromium
def test_the_receipt_reads_on_a_phone_and_is_coloured_by_its_outcome(round_portal, tmp_path):
    from tests.cdp import Browser

    settings, base = round_portal
    browser = Browser(width=390, height=844)
    try:
        login(browser, base, "zb_housing")
        browser.goto(f"{base}/")
        browser.wait_for("document.querySelector('input[type=file]')")
        # one value rejected (an unknown district), one accepted: amber, not green
        browser.choose_file("input[type=file]", zibo_file(
            tmp_path / "mixed.csv", "housing", [["greenways_km_cum", "张店区", "20.5"],
                                                ["greenways_km_cum", "海滨区", "3"]]))
        browser.submit("form[action='/upload'] button[type=submit]",
                       "document.querySelector('[data-outcome]')")
        assert browser.js("document.querySelector('[data-outcome]').dataset.outcome") == \
            "partial"
        assert browser.js("getComputedStyle(document.querySelector('[data-outcome]'))"
                          ".backgroundColor") == "rgb(255, 248, 197)"
        wide = browser.js("[...document.querySelectorAll('body *')].filter(e => "
                          "e.getBoundingClientRect().right > 391).map(e => e.tagName + '.' + "
                          "e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
                          ".slice(0, 12)")
        assert browser.js("document.documentElement.scrollWidth") <= 390, wide
        browser.screenshot(tmp_path / "receipt-phone.png")
        assert shows_something(tmp_path / "receipt-phone.png")
        # in Chinese, statuses are Chinese
        browser.goto(f"{base}/?lang=zh")
        browser.wait_for("document.querySelector('[data-history]')")
        history = browser.js("document.querySelector('[data-history]').innerText")
        assert "已接收" in history and "loaded" not in history
        # files sent to the inbox folder are in the department's list too
        vias = data_rows(browser, "data-via")
        assert "inbox" in vias and "portal" in vias
    finally:
        browser.close()


def test_the_office_page_links_the_annual_reports(round_portal):
    from citycheck.serving.report import write_reports

    settings, base = round_portal
    write_reports(settings, pdf=False)
    s = requests.Session()
    token = _csrf(s.get(f"{base}/login").text)
    s.post(f"{base}/login", data={"username": "zb_office", "password": PASSWORD,
                                  "csrf": token})
    page = s.get(f"{base}/office").text
    assert 'href="/reports/annual/"' in page
    index = s.get(f"{base}/reports/annual/")
    assert index.status_code == 200 and 'data-report="370300_2022"' in index.text
    assert "暂定 provisional" in index.text
    assert s.get(f"{base}/reports/annual/370300_2022.html").status_code == 200
