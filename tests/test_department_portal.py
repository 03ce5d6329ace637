"""The department portal over real HTTP (uvicorn on 127.0.0.1, a process of its own): who may
see and send what, the refusals a clerk reads, receipts at once through the inbox's intake,
the office's dispatch list, and an upload that survives the portal being killed."""
from __future__ import annotations

import html
import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from citycheck.serving import department_portal as dp
from common.config import SAMPLE_DIR
from tests.browser import needs_chromium
from tests.helpers import form_token, free_port, make_settings, query, start_portal

PASSWORD = {"water_clerk": "water-pass-2023", "housing_clerk": "housing-pass-2023",
            "office": "office-pass-2023", "careless": "careless-pass-2023",
            "zibo_office": "zibo-office-pass-2023"}
MAX_BYTES = 200_000


def _start(data: Path, port: int, **env) -> subprocess.Popen:
    return start_portal(data, port, CITYCHECK_MAX_FILE_BYTES=str(MAX_BYTES), **env)


@pytest.fixture(scope="module")
def portal(sample_warehouse, tmp_path_factory):
    data = tmp_path_factory.mktemp("portal") / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    with pytest.MonkeyPatch.context() as mp:
        settings = make_settings(data, mp)
        dp.add_user(settings, "water_clerk", "clerk", "371000", "water", PASSWORD["water_clerk"])
        dp.add_user(settings, "housing_clerk", "clerk", "371000", "housing",
                    PASSWORD["housing_clerk"])
        dp.add_user(settings, "office", "office", "371000", password=PASSWORD["office"])
        dp.add_user(settings, "careless", "office", "371000", password=PASSWORD["careless"])
        dp.add_user(settings, "zibo_office", "office", "370300", password=PASSWORD["zibo_office"])
        port = free_port()
        proc = _start(data, port)
        try:
            yield settings, f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


_csrf = form_token


def _login(base: str, user: str, password: str | None = None) -> tuple[requests.Session, str]:
    s = requests.Session()
    token = _csrf(s.get(f"{base}/login").text)
    r = s.post(f"{base}/login", data={"username": user, "password": password or PASSWORD[user],
                                      "csrf": token})
    assert r.status_code == 200, r.text[:500]
    return s, _csrf(r.text)


def _csv(rows: list[list], department="water", year="2023") -> bytes:
    lines = [f"填报部门,{department}", "城市,371000", f"年度,{year}", "", "指标代码,区县名称,数值"]
    lines += [",".join(map(str, r)) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _upload(s, base, token, *files) -> requests.Response:
    return s.post(f"{base}/upload", data={"csrf": token},
                  files=[("files", (name, data)) for name, data in files])


def test_unauthenticated_visitors_go_to_the_login_and_forms_need_their_token(portal):
    _, base = portal
    for path in ("/", "/office", "/template?year=2023", "/receipts/x", "/office/export.xlsx?year=2023"):
        r = requests.get(base + path, allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    r = requests.post(f"{base}/upload", files=[("files", ("a.csv", b"x"))], allow_redirects=False)
    assert r.status_code == 303
    s, _ = _login(base, "water_clerk")
    # a logged-in clerk's post without the form's token (another site's form) is refused
    r = s.post(f"{base}/upload", files=[("files", ("a.csv", _csv([])))])
    assert r.status_code == 403 and "reload the page" in r.text and "Traceback" not in r.text
    assert requests.post(f"{base}/login", data={"username": "water_clerk",
                                                "password": PASSWORD["water_clerk"]}
                         ).status_code == 403


def test_a_clerk_uploads_and_reads_the_receipt_at_once_and_no_other_department_can(portal):
    settings, base = portal
    s, token = _login(base, "water_clerk")
    r = _upload(s, base, token, ("fix.csv", _csv([["sewage_treatment_rate_pct", "环翠区", "99.6"]])))
    assert r.status_code == 200
    (upload_id,) = re.findall(r'data-upload="(\w+)"', r.text)
    assert 'data-status="loaded"' in r.text and "数据报送回执" in r.text
    # the same intake as the inbox: archived, with its receipt, rows in raw
    row = dp.upload_row(settings, upload_id)
    (archived,) = query(settings.warehouse_path, "select archived_path, rows_accepted from "
                        f"raw.submission_files where file_hash = '{row['file_hash']}'")
    assert Path(archived[0]).exists() and archived[1] == 1
    assert s.get(f"{base}/receipts/{upload_id}?download=1").text.startswith("数据报送回执")
    # the home page: in the history, named as landed but not yet in the publication, and the
    # department's indicators for a year as the publication counts them
    home = s.get(f"{base}/?year=2023").text
    assert f'data-history="{upload_id}" data-via="portal" data-published="no"' in home
    assert f'data-pending="{upload_id}"' in home and "fix.csv" in home
    counted = {code: (int(present), int(none), int(owed), int(warned)) for code, present, none,
               owed, warned, _held, _returned in (
                   x.split("|") for x in re.findall(r'data-indicator="([^"]+)"', home))}
    assert set(counted) == {c for (c,) in query(settings.serving_path, "select indicator_code "
                                                "from dim_indicator where department_code = "
                                                "'water'")}
    for code, present, none in query(settings.serving_path, """
            select i.indicator_code, count(*) filter (where not f.is_missing),
                   count(*) filter (where f.is_missing)
            from dim_indicator as i left join fct_indicator_values as f
              on f.indicator_code = i.indicator_code and f.city_code = '371000'
             and f.year = 2023
            where i.department_code = 'water' group by 1"""):
        assert counted[code][:2] == (present, none), code
    assert counted["sewage_treatment_rate_pct"][2] == 0      # 2023 is complete
    # without a year: the round in collection, 2024, where the bureau owes all 7 units
    owed_2024 = {x.split("|")[0]: int(x.split("|")[3]) for x in re.findall(
        r'data-indicator="([^"]+)"', s.get(f"{base}/").text)}
    assert owed_2024["sewage_treatment_rate_pct"] == 7
    assert sum(c[3] for c in counted.values()) == query(
        settings.serving_path, "select count(*) from mart_plausibility_warnings where "
        "department_code = 'water' and city_code = '371000' and year = 2023")[0][0]

    other, _ = _login(base, "housing_clerk")
    r = other.get(f"{base}/receipts/{upload_id}")
    assert r.status_code == 403 and "another department or city" in r.text
    assert "fix.csv" not in other.get(f"{base}/").text
    office, _ = _login(base, "office")
    assert office.get(f"{base}/receipts/{upload_id}").status_code == 200
    elsewhere, _ = _login(base, "zibo_office")      # another city's office
    assert elsewhere.get(f"{base}/receipts/{upload_id}").status_code == 403
    assert other.get(f"{base}/office").status_code == 403


def test_a_clerk_cannot_submit_another_departments_indicators(portal):
    import json

    settings, base = portal
    s, token = _login(base, "water_clerk")
    # a housing indicator in a file that says it is housing's: the clerk is water's
    r = _upload(s, base, token, ("housing.csv", _csv([["lifts_added_cum", "环翠区", "30"]],
                                                     department="housing")))
    assert r.status_code == 200
    assert 'data-status="rejected"' in r.text
    assert "the file's header says 'housing', the sender (command line or portal account) " \
           "says 'water'" in html.unescape(r.text)
    # a file that names no department: the account's is stated, and the intake's
    # authorisation rejects the indicator water does not answer for
    r = _upload(s, base, token, ("nodept.csv", "\n".join([
        "城市,371000", "年度,2023", "", "指标代码,区县名称,数值",
        "lifts_added_cum,环翠区,30", "sewage_treatment_rate_pct,环翠区,99.7"]).encode()))
    (upload_id,) = re.findall(r'data-upload="(\w+)"', r.text)
    receipt = json.loads(dp.upload_row(settings, upload_id)["receipt_json"])
    assert (receipt["department_code"], receipt["rows_accepted"], receipt["rows_rejected"]) == (
        "water", 1, 1)
    assert "does not answer for indicator lifts_added_cum" in receipt["rejected"][0]["reason"]


def test_oversized_fake_and_too_many_files_are_refused_with_a_clear_message(portal):
    _, base = portal
    s, token = _login(base, "water_clerk")
    r = _upload(s, base, token, ("big.csv", b"a,b\n" * (MAX_BYTES // 4 + 10)))
    assert r.status_code == 413 and "larger than 200,000 bytes" in r.text
    r = _upload(s, base, token, ("report.xlsx", b"<html>not a workbook</html>"))
    assert r.status_code == 415 and "not an Excel .xlsx workbook" in r.text
    r = _upload(s, base, token, ("data.exe", b"MZ\x90\x00"))
    assert r.status_code == 415 and "only .xlsx, .xls and .csv" in r.text
    r = _upload(s, base, token, *[(f"f{i}.csv", _csv([])) for i in range(dp.MAX_FILES + 1)])
    assert r.status_code == 413 and f"at most {dp.MAX_FILES} files" in r.text
    assert "Traceback" not in r.text


def test_ten_uploads_at_once_are_all_receipted_and_landed(portal):
    settings, base = portal
    sessions = [_login(base, "water_clerk") for _ in range(10)]
    values = [round(95 + i / 10, 1) for i in range(10)]

    def send(i):
        s, token = sessions[i]
        r = _upload(s, base, token, (f"burst{i}.csv", _csv(
            [["sewage_treatment_rate_pct", "文登区", values[i]]], year=str(2019 + i % 5))))
        return r.status_code, re.findall(r'data-status="(\w+)"', r.text)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(send, range(10)))
    assert results == [(200, ["loaded"])] * 10
    landed = query(settings.warehouse_path, "select count(*) from raw.submission_files "
                   "where original_name like 'burst%.csv' and status = 'loaded'")
    assert landed == [(10,)]


def test_login_failures_are_limited_and_logins_and_uploads_are_audited(portal):
    settings, base = portal
    s = requests.Session()
    for _ in range(dp.LOGIN_FAILURES):
        token = _csrf(s.get(f"{base}/login").text)
        assert s.post(f"{base}/login", data={"username": "careless", "password": "guess",
                                             "csrf": token}).status_code == 401
    token = _csrf(s.get(f"{base}/login").text)
    r = s.post(f"{base}/login", data={"username": "careless", "password": PASSWORD["careless"],
                                      "csrf": token})
    assert r.status_code == 429 and "15" in r.text
    with sqlite3.connect(dp.portal_dir(settings) / "portal.db") as con:
        events = {e for (e,) in con.execute("select distinct event from audit")}
    assert {"login", "login_failed", "login_locked", "upload"} <= events


def test_the_office_reads_and_exports_the_dispatch_list_and_clerks_get_templates(portal):
    """The office page opens on the year in collection (2024: nothing received yet), and its
    departments, values owed and export say what the published round says."""
    import openpyxl

    settings, base = portal
    office, _ = _login(base, "office")
    page = office.get(f"{base}/office")
    assert page.status_code == 200 and "报送轮次" in page.text
    assert 'aria-current="true" class="wait"><td><a href="/office?year=2024">' in page.text
    departments = query(settings.serving_path, "select department_code, submission_status, "
                        "values_missing from mart_submission_status where city_code = '371000' "
                        "and year = 2024")
    shown = {d.split("|")[0]: int(d.split("|")[3])
             for d in re.findall(r'data-department="([^"]+)"', page.text)}
    assert shown == {d: owed for d, _, owed in departments}
    owed = query(settings.serving_path, "select department_code, district_code, indicator_code "
                 "from mart_round_values where city_code = '371000' and year = 2024 and "
                 "value_state = 'owed' order by 1, 3, 2")
    listed = [tuple(m.split("|")[:3]) for m in re.findall(r'data-missing="([^"]+)"', page.text)]
    assert sorted(listed) == sorted(owed) and len(owed) == sum(shown.values()) > 200
    book = openpyxl.load_workbook(io.BytesIO(office.get(
        f"{base}/office/export.xlsx?year=2024").content))
    rows = list(book.active.iter_rows(min_row=2, values_only=True))
    assert sorted((r[0], r[2]) for r in rows) == sorted((d, s) for d, s, _ in departments)
    detail = list(book.worksheets[1].iter_rows(min_row=2, values_only=True))
    assert sorted((r[0], r[2], r[4]) for r in detail) == sorted(owed)
    assert page.text.count("2024 city health check figures are still missing") == len(
        departments)
    # a year with no round: no export
    assert office.get(f"{base}/office/export.xlsx?year=2031").status_code == 404

    clerk, _ = _login(base, "water_clerk")
    template = clerk.get(f"{base}/template?year=2024")
    assert template.status_code == 200 and template.content.startswith(b"PK")
    assert "371000_water_2024.xlsx" in template.headers["content-disposition"]


@pytest.mark.parametrize("point", ["ingest.after_copy", "ingest.after_commit",
                                   "portal.after_intake"])
def test_an_upload_survives_the_portal_being_killed_during_intake(sample_warehouse,
                                                                 tmp_path, monkeypatch, point):
    """Killed before the warehouse committed, after it, or after the intake returned and
    before the portal wrote down what became of the upload: the portal starts again, lands
    the upload once, and the clerk's page shows it as landed, not waiting."""
    data = tmp_path / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    settings = make_settings(data, monkeypatch)
    dp.add_user(settings, "water_clerk", "clerk", "371000", "water", PASSWORD["water_clerk"])
    port = free_port()
    proc = _start(data, port, CITYCHECK_CRASH_AT=point)
    s, token = _login(f"http://127.0.0.1:{port}", "water_clerk")
    with pytest.raises(requests.ConnectionError):    # killed (SIGKILL) inside the intake
        _upload(s, f"http://127.0.0.1:{port}", token,
                ("kept.csv", _csv([["sewage_treatment_rate_pct", "荣成市", "96.9"]])))
    assert proc.wait(timeout=10) == -signal.SIGKILL
    landed = "select status, rows_accepted from raw.submission_files where " \
             "original_name = 'kept.csv'"
    assert query(settings.warehouse_path, landed) == (
        [] if point == "ingest.after_copy" else [("loaded", 1)])
    # started again, the portal takes in what it had kept, once
    proc = _start(data, port)
    try:
        assert query(settings.warehouse_path, landed) == [("loaded", 1)]
        s, _ = _login(f"http://127.0.0.1:{port}", "water_clerk")
        page = s.get(f"http://127.0.0.1:{port}/").text
        assert "kept.csv" in page
        (row,) = [r for r in dp.history(settings, {"city_code": "371000",
                                                     "department_code": "water"})
                  if r["file_name"] == "kept.csv"]
        assert row["status"] == "loaded" and row["file_hash"]
        assert not list((data / "portal" / "uploads").glob("*/kept.csv"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@needs_chromium
def test_a_clerk_logs_in_uploads_and_reads_the_receipt_in_a_real_browser(portal, tmp_path):
    from tests.browser import shows_something
    from tests.cdp import Browser

    settings, base = portal
    sample = SAMPLE_DIR / "submissions" / "371000_water_2023.xlsx"
    browser = Browser()
    try:
        browser.goto(f"{base}/")
        browser.wait_for("document.querySelector('input[name=username]')")  # sent to log in
        browser.fill("input[name=username]", "water_clerk")
        browser.fill("input[name=password]", PASSWORD["water_clerk"])
        browser.click("button[type=submit]")
        browser.wait_for("document.querySelector('input[type=file]')")
        assert "城市体检部门填报门户" in browser.text()
        browser.choose_file("input[type=file]", sample)
        browser.click("form[action='/upload'] button[type=submit]")
        browser.wait_for("document.querySelector('[data-status]')")
        text = browser.text()
        assert "数据报送回执 Submission receipt" in text and sample.name in text
        assert re.search(r"读取记录 Records read: \d+ = 接收 accepted \d+", text)
        browser.screenshot(tmp_path / "receipt.png")
        assert shows_something(tmp_path / "receipt.png") and not browser.console_errors
        # back home: the file in the history, the department's indicators listed
        browser.goto(f"{base}/")
        browser.wait_for("document.querySelector('[data-history]')")
        assert sample.name in browser.js(
            "document.querySelector('[data-history]').innerText")
        assert browser.js("document.querySelectorAll('[data-indicator]').length") > 0
        browser.screenshot(tmp_path / "home.png")
        assert shows_something(tmp_path / "home.png") and not browser.console_errors
    finally:
        browser.close()


def test_accounts_are_managed_from_the_command_line(portal):
    settings, base = portal
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(settings.data_dir)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "citycheck.cli", "users", *args],
                              capture_output=True, text=True, env=env, timeout=60)

    added = cli("add", "transport_clerk", "--role", "clerk", "--department", "transport")
    password = re.search(r"password \(shown once\): (\S+)", added.stdout)[1]
    _login(base, "transport_clerk", password)
    assert "transport_clerk" in cli("list").stdout
    assert cli("add", "x", "--role", "clerk", "--department", "nowhere").returncode == 1
    cli("disable", "transport_clerk")
    s = requests.Session()
    token = _csrf(s.get(f"{base}/login").text)
    assert s.post(f"{base}/login", data={"username": "transport_clerk", "password": password,
                                         "csrf": token}).status_code == 401
    cli("enable", "transport_clerk")
    renewed = re.search(r"\(shown once\): (\S+)", cli("reset", "transport_clerk").stdout)[1]
    _login(base, "transport_clerk", renewed)


def test_an_upload_kept_but_never_listed_is_still_taken_in(sample_warehouse, tmp_path,
                                                           monkeypatch):
    """The portal stopped between keeping an upload and listing it: the next start takes the
    kept file in and lists it with its receipt."""
    import json

    data = tmp_path / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    settings = make_settings(data, monkeypatch)
    folder = dp.portal_dir(settings) / "uploads" / "kept0001"
    folder.mkdir(parents=True)
    (folder / "late.csv").write_bytes(_csv([["sewage_treatment_rate_pct", "乳山市", "96.6"]]))
    (folder / "upload.json").write_text(json.dumps({
        "upload_id": "kept0001", "username": "water_clerk", "department_code": "water",
        "city_code": "371000", "file_name": "late.csv",
        "received_at": "2026-11-29T05:00:00"}), encoding="utf-8")
    assert dp.take_in_pending(settings) == 1
    row = dp.upload_row(settings, "kept0001")
    assert row["status"] == "loaded" and row["receipt_text"].startswith("数据报送回执")
    assert not folder.exists()


def test_a_reader_switches_the_pages_to_english_or_chinese_and_the_choice_is_kept(portal):
    _, base = portal
    s, token = _login(base, "water_clerk")
    both = s.get(f"{base}/").text                       # until they choose: both languages
    assert "报送数据" in both and "Send figures" in both and '<html lang="zh-CN">' in both
    english = s.get(f"{base}/?lang=en").text
    assert "Send figures" in english and "报送数据" not in english
    assert '<html lang="en">' in english
    assert "Send figures" in s.get(f"{base}/").text    # kept for the next pages
    # the receipt stays the bilingual document it is in the archive; the page around it
    # speaks the reader's language
    r = _upload(s, base, token, ("en.csv", _csv([["sewage_treatment_rate_pct", "环翠区", "99.1"]])))
    assert "Download the receipt" in r.text and "下载回执" not in r.text
    assert "数据报送回执 Submission receipt" in r.text
    chinese = s.get(f"{base}/?lang=zh").text
    assert "报送数据" in chinese and "Send figures" not in chinese
    # the login page too, before anyone logs in
    assert "User name" not in requests.get(f"{base}/login?lang=zh").text
