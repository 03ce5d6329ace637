"""The portal attacked as someone on the machine would: a real uvicorn on 127.0.0.1 (a process
of its own), raw sockets and concurrent requests. Each test is a finding of the hardening
issue that held on the code before it: bodies spooled before authentication, a lockout reset
by X-Forwarded-For or raced by simultaneous guesses, a crowd of logins exhausting memory,
sessions outliving logout, password reset and disabling, pages that could be framed."""
from __future__ import annotations

import os
import re
import select
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from citycheck.serving import department_portal as dp
from tests.helpers import form_token, free_port, make_settings, start_portal

MAX_BYTES = 100_000           # per file: an upload is at most MAX_FILES of them
MAX_ROWS = 2_000
PASSWORD = "right-pass-2026"


def _start(data: Path, port: int, **env) -> subprocess.Popen:
    return start_portal(data, port, CITYCHECK_MAX_FILE_BYTES=str(MAX_BYTES), **env)


def _portal(tmp: Path, mp, **env):
    data = tmp / "data"
    settings = make_settings(data, mp)
    for name in ("clerk", "victim", "target", "leaver"):
        dp.add_user(settings, name, "clerk", "371000", "water", PASSWORD)
    port = free_port()
    return settings, port, _start(data, port, **env)


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        settings, port, proc = _portal(tmp_path_factory.mktemp("attacks"), mp,
                                       CITYCHECK_MAX_FILE_ROWS=str(MAX_ROWS))
        try:
            yield settings, f"http://127.0.0.1:{port}", port, proc
        finally:
            proc.terminate()
            proc.wait(timeout=10)


_csrf = form_token


def _try_login(base: str, user: str, password: str, headers: dict | None = None
               ) -> requests.Response:
    s = requests.Session()
    token = _csrf(s.get(f"{base}/login").text)
    return s.post(f"{base}/login", data={"username": user, "password": password, "csrf": token},
                  headers=headers or {}, allow_redirects=False)


def _login(base: str, user: str) -> tuple[requests.Session, str]:
    s = requests.Session()
    token = _csrf(s.get(f"{base}/login").text)
    r = s.post(f"{base}/login", data={"username": user, "password": PASSWORD, "csrf": token})
    assert r.status_code == 200, r.text[:300]
    return s, _csrf(r.text)


def _signed_in(base: str, cookies) -> bool:
    """A page only an account may see: a receipt that does not exist is 404 to a live
    session and a redirect to the login to anyone else."""
    r = requests.get(f"{base}/receipts/none", cookies=cookies, allow_redirects=False)
    assert r.status_code in (303, 404), r.status_code
    return r.status_code == 404


def _raw(port: int, head: str, first: bytes = b"", keep_sending: int = 0,
         chunked: bool = False) -> tuple[bytes, int]:
    """Send a request's head and `first` bytes of body, then up to `keep_sending` more bytes in
    64 KiB pieces while the server has not answered; returns (the answer, body bytes sent)."""
    sent = len(first)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + (b"%x\r\n%s\r\n" % (len(first), first) if chunked
                                      else first))
        piece = b"x" * 65536
        while sent < len(first) + keep_sending:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        answer = b""
        sock.settimeout(10)
        try:
            # read the head, then the body it announces (it may come in a later segment)
            while chunk := sock.recv(65536):
                answer += chunk
                if _complete(answer):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    return answer, sent


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is None or len(body) >= int(length.group(1))


def _uploads(settings) -> int:
    with sqlite3.connect(dp.portal_dir(settings) / "portal.db") as con:
        return con.execute("select count(*) from uploads").fetchone()[0]


def test_a_body_is_refused_before_it_is_read(portal):
    settings, base, port, _ = portal
    # 1 GiB announced, no session: the answer comes after the first KiB, nothing spooled
    head = ("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1073741824\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    answer, sent = _raw(port, head, b"x" * 1024, keep_sending=50 * 2**20)
    assert answer.startswith(b"HTTP/1.1 303") and b"location: /login" in answer.lower()
    assert sent < 50 * 2**20
    # signed in, more than ten files' worth announced: 413 with the limit, unread
    s, token = _login(base, "clerk")
    cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
    too_much = dp.MAX_FILES * MAX_BYTES + 10 * 2**20
    answer, sent = _raw(port, head.replace("1073741824", str(too_much)).replace(
        "\r\n\r\n", f"\r\nCookie: {cookie}\r\n\r\n"), b"x" * 1024, keep_sending=too_much)
    assert answer.startswith(b"HTTP/1.1 413") and "The request is too large" in answer.decode()
    assert sent < too_much
    # signed in, no length said (chunked): counted as it arrives, cut off past the limit
    chunked = head.replace("Content-Length: 1073741824", "Transfer-Encoding: chunked").replace(
        "\r\n\r\n", f"\r\nCookie: {cookie}\r\n\r\n")
    part = (b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\n")
    answer, sent = _raw(port, chunked, part, keep_sending=too_much, chunked=True)
    assert b" 413 " in answer.split(b"\r\n")[0], answer[:200]
    assert sent < too_much
    # a login form is small: a large one is refused too
    r = requests.post(f"{base}/login", data={"username": "x" * (300 * 1024)})
    assert r.status_code == 413
    assert _uploads(settings) == 0
    assert _signed_in(base, s.cookies)          # and the portal goes on serving


def test_x_forwarded_for_does_not_choose_the_address_the_lockout_counts(portal):
    settings, base, _, _ = portal
    for i in range(dp.LOGIN_FAILURES):
        r = _try_login(base, "victim", "guess", {"X-Forwarded-For": f"10.0.0.{i}"})
        assert r.status_code == 401
    r = _try_login(base, "victim", PASSWORD, {"X-Forwarded-For": "10.9.9.9"})
    assert r.status_code == 429 and "15" in r.text
    with sqlite3.connect(dp.portal_dir(settings) / "portal.db") as con:
        addresses = {a for (a,) in con.execute(
            "select distinct address from audit where username = 'victim'")}
    assert addresses == {"127.0.0.1"}


def test_simultaneous_guesses_are_counted_one_after_another(portal):
    settings, base, _, _ = portal
    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda _: _try_login(base, "target", "guess").status_code,
                              range(30)))
    assert codes.count(401) == dp.LOGIN_FAILURES, codes
    assert set(codes) <= {401, 429, 503}
    with sqlite3.connect(dp.portal_dir(settings) / "portal.db") as con:
        checked = con.execute("select count(*) from audit where username = 'target' and "
                              "event = 'login_failed'").fetchone()[0]
    assert checked == dp.LOGIN_FAILURES


def test_logout_password_reset_and_disabling_end_every_session(portal):
    settings, base, _, _ = portal
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(settings.data_dir)}

    def users(*args):
        done = subprocess.run([sys.executable, "-m", "citycheck.cli", "users", *args],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # logout: a saved copy of the cookie opens nothing afterwards
    s, token = _login(base, "leaver")
    saved = s.cookies.copy()
    assert _signed_in(base, saved)
    s.post(f"{base}/logout", data={"csrf": token})
    assert not _signed_in(base, saved)
    # a password reset ends the sessions of every browser the account used
    a, _ = _login(base, "leaver")
    b, _ = _login(base, "leaver")
    renewed = re.search(r"\(shown once\): (\S+)", users("reset", "leaver"))[1]
    assert not _signed_in(base, a.cookies) and not _signed_in(base, b.cookies)
    # disabling too, and enabling again does not bring them back
    dp_password = renewed
    s = requests.Session()
    token = _csrf(s.get(f"{base}/login").text)
    assert s.post(f"{base}/login", data={"username": "leaver", "password": dp_password,
                                         "csrf": token}).status_code == 200
    assert _signed_in(base, s.cookies)
    users("disable", "leaver")
    users("enable", "leaver")
    assert not _signed_in(base, s.cookies)


def test_every_answer_forbids_framing_sniffing_and_scripts(portal):
    _, base, port, _ = portal
    s, _ = _login(base, "clerk")
    for r in (requests.get(f"{base}/login"), s.get(f"{base}/receipts/none"),
              requests.get(f"{base}/reports/"), requests.get(f"{base}/nowhere"),
              requests.post(f"{base}/login", data={})):
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, r.url
        assert "script-src" not in csp          # no script is allowed from anywhere
        assert r.headers.get("x-frame-options") == "DENY"
        assert r.headers.get("x-content-type-options") == "nosniff"
        assert r.headers.get("referrer-policy") == "same-origin"
    answer, _ = _raw(port, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
                     b"hello")
    assert b"frame-ancestors 'none'" in answer        # the refusals before any route too


def _peak_rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text)[1]) / 1024


def test_a_crowd_of_logins_under_unknown_names_is_throttled_and_bounded(tmp_path,
                                                                          monkeypatch):
    settings, port, proc = _portal(tmp_path, monkeypatch)
    base = f"http://127.0.0.1:{port}"
    try:
        before = _peak_rss_mib(proc.pid)
        with ThreadPoolExecutor(40) as pool:
            codes = list(pool.map(
                lambda i: _try_login(base, f"nobody{i}", "guess").status_code, range(40)))
        # every name is new, yet one address gets ADDRESS_FAILURES checks in the window
        assert codes.count(401) == dp.ADDRESS_FAILURES, codes
        assert set(codes) <= {401, 429, 503}
        # at most HASH_SLOTS Argon2 checks (64 MiB each) at once: the crowd took the portal
        # from 118 MiB to 1.7 GiB before
        grown = _peak_rss_mib(proc.pid) - before
        assert grown < 64 * (dp.HASH_SLOTS + 2), f"{grown:.0f} MiB"
        # the address is locked for a known account too, and the right password waits
        assert _try_login(base, "clerk", PASSWORD).status_code == 429
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _multipart(name: bytes, data: bytes, csrf: str) -> tuple[bytes, str]:
    """A form as a browser would send it, with the file name's bytes exactly as given."""
    boundary = "citycheckboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\""
            ).encode() + name + b"\"\r\nContent-Type: text/csv\r\n\r\n" + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_file_name_that_cannot_be_kept_is_refused_saying_why(portal):
    settings, base, _, _ = portal
    s, token = _login(base, "clerk")
    uploads = dp.portal_dir(settings) / "uploads"
    before = sorted(uploads.iterdir()) if uploads.exists() else []
    for name, says in ((b"water\x002023.csv", "control characters"),
                       (b"water\x1b[31m.csv", "control characters"),
                       (("填报" * 100 + ".csv").encode(), "longer than 120 characters")):
        body, kind = _multipart(name, "填报部门,water\n".encode(), token)
        r = s.post(f"{base}/upload", data=body, headers={"Content-Type": kind})
        assert r.status_code == 400, (name, r.status_code)
        assert says in r.text and "文件名" in r.text and "Traceback" not in r.text
    # nothing half-kept: no staging folder, no upload row
    assert (sorted(uploads.iterdir()) if uploads.exists() else []) == before
    assert _uploads(settings) == 0


def test_only_the_public_reports_are_served(portal):
    settings, base, _, _ = portal
    for folder, name in (("validation", "latest.html"), ("annual", "371000_2023.html")):
        (settings.reports_dir / folder).mkdir(parents=True, exist_ok=True)
        (settings.reports_dir / folder / name).write_text(f"<p>{folder}</p>", encoding="utf-8")
    assert requests.get(f"{base}/reports/annual/371000_2023.html").status_code == 200
    # the validation reports (quarantined rows, cell by cell) are the office's
    for path in ("/reports/validation/latest.html", "/reports/validation/",
                 "/reports/annual/../validation/latest.html", "/reports/%2e%2e/validation/"):
        r = requests.get(base + path, allow_redirects=False)
        assert r.status_code in (303, 404) and "<p>validation</p>" not in r.text, path


def _water_csv(rows: int, value: str) -> bytes:
    lines = ["填报部门,water", "城市,371000", "年度,2023", "", "指标代码,区县名称,数值"]
    lines += [f"sewage_treatment_rate_pct,环翠区,{value}{i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_a_large_bad_file_is_bounded_in_rows_and_in_its_receipt_page(portal):
    settings, base, _, _ = portal
    s, token = _login(base, "clerk")
    # more rows than a department file may hold: refused unread, saying the limit
    started = time.monotonic()
    r = s.post(f"{base}/upload", data={"csrf": token},
               files=[("files", ("371000_water_2023.csv", _water_csv(MAX_ROWS + 200, "9")))])
    assert r.status_code == 200 and time.monotonic() - started < 30
    assert f"{MAX_ROWS + 200 + 5:,} rows" in r.text and f"{MAX_ROWS:,}" in r.text
    assert "行" in r.text and "未予读取" in r.text
    # within the limit but every figure bad: the page shows the receipt's first lines and
    # says how many more the download holds
    r = s.post(f"{base}/upload", data={"csrf": token},
               files=[("files", ("371000_water_2023_b.csv", _water_csv(1_500, "abc")))])
    assert r.status_code == 200
    more = int(re.search(r'data-receipt-more="(\d+)"', r.text)[1])
    assert more > 500 and len(r.content) < 300_000
    upload_id = re.search(r"/receipts/([0-9a-f]+)\?download=1", r.text)[1]
    full = s.get(f"{base}/receipts/{upload_id}?download=1").text
    assert len(full.splitlines()) >= 400 + more - 1
    assert "abc999" in full and "abc999" not in r.text
    # the receipt itself is bounded: the first 1,000 rejections, the other 500 by reason
    assert "abc1499" not in full and "另有 500 条退回记录未逐条列出" in full
