"""Open-data fetches against a real HTTP server on 127.0.0.1 that misbehaves on demand
(tests/scripted_portal.py): timeouts, retries, rate limits, conditional requests, pagination,
broken payloads, size limits and secrets."""
from __future__ import annotations

import json
import logging
import time

import pytest

from extract.http import FetchError, HttpClient
from extract.open_data import fetch_source
from extract.registry import Source
from tests.helpers import free_port, query
from tests.scripted_portal import Reply, ScriptedPortal

pytestmark = pytest.mark.both_engines  # conftest.py: each test on DuckDB and on PostgreSQL

DISTRICTS = ["环翠区", "文登区", "荣成市", "乳山市", "高区", "经区", "临港区"]
ROWS = [{"地区": d, "年份": "2023", "常住人口（万人）": 30.0 + i} for i, d in enumerate(DISTRICTS)]
BODY = {"data": {"items": ROWS, "pages": 1}}


def population_source(url: str, **overrides) -> Source:
    spec = dict(name="test_population", kind="json_pages", url=url, city_code="371000",
                fields={"district": "地区", "year": "年份"},
                measures={"常住人口（万人）": "resident_population_10k"},
                records_path="data.items", pages_path="data.pages")
    spec.update(overrides)
    return Source(**spec)


def quick(retries=2, **kw) -> HttpClient:
    return HttpClient(retries=retries, backoff=0.01, max_backoff=0.05, **kw)


def recorded(sleeps, **kw) -> HttpClient:
    return HttpClient(sleep=sleeps, **kw)


@pytest.fixture
def portal():
    with ScriptedPortal() as p:
        yield p


class Sleeps(list):
    """The delays the client chose between attempts (it waits a token 10 ms of each)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(min(seconds, 0.01))


@pytest.fixture
def sleeps():
    return Sleeps()


def fetched_rows(settings, status=None):
    sql = "select status, count(*) from raw.open_data_fetches group by 1 order by 1"
    return dict(query(settings, sql))


# -- timeouts, retries, rate limits ------------------------------------------------------

def test_read_timeout_is_retried_then_fails_clearly(settings, portal):
    portal.on("/slow", Reply(body=BODY, delay=1.5))
    source = population_source(portal.url + "/slow")
    with pytest.raises(FetchError, match=r"test_population: ReadTimeout on .*/slow.* after 3 "
                                         "attempts"):
        fetch_source(source, settings, client=quick(read_timeout=0.2))
    assert len(portal.requests_to("/slow")) == 3
    assert fetched_rows(settings) == {"failed": 1}
    assert query(settings, "select count(*) from raw.open_data_observations") == [
        (0,)]


def test_connection_refused_fails_after_retries(settings, sleeps):
    source = population_source("http://127.0.0.1:9/api")  # nothing listens on port 9
    with pytest.raises(FetchError, match=r"ConnectionError on http://127.0.0.1:9/api\?page=1 after 3"):
        fetch_source(source, settings, client=recorded(sleeps, retries=2, backoff=0.01,
                                                       connect_timeout=0.5))
    assert len(sleeps) == 2


def test_server_errors_back_off_exponentially_with_jitter_then_succeed(settings, portal, sleeps):
    portal.on("/api", Reply(503, "busy", "text/plain"), Reply(502, "bad gateway", "text/plain"),
              Reply(500, "oops", "text/plain"), Reply(body=BODY))
    client = recorded(sleeps, retries=4, backoff=0.4, max_backoff=30)
    result = fetch_source(population_source(portal.url + "/api"), settings, client=client)
    assert result.status == "loaded" and result.accepted == 7
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):  # backoff x 2^attempt, jittered into [50 %, 100 %]
        assert 0.4 * 2 ** attempt * 0.5 <= delay <= 0.4 * 2 ** attempt


def test_429_waits_as_long_as_retry_after_says(settings, portal, sleeps):
    portal.on("/api", Reply(429, "slow down", "text/plain", headers={"Retry-After": "3"}),
              Reply(body=BODY))
    result = fetch_source(population_source(portal.url + "/api"), settings,
                          client=recorded(sleeps, retries=2, backoff=0.01))
    assert result.status == "loaded"
    assert sleeps == [3.0]


def test_a_body_cut_off_mid_transfer_is_retried(settings, portal):
    portal.on("/api", Reply(body=BODY, cut_short=True),
              Reply(body=BODY))
    result = fetch_source(population_source(portal.url + "/api"), settings, client=quick())
    assert result.status == "loaded" and len(portal.requests_to("/api")) == 2


# -- conditional requests ------------------------------------------------------------------

def test_304_adds_nothing_and_records_that_nothing_changed(settings, portal):
    csv_body = "地区,年份,常住人口（万人）\n" + "\n".join(
        f"{r['地区']},{r['年份']},{r['常住人口（万人）']}" for r in ROWS)
    etag, modified = '"v1-abc"', "Wed, 01 Jul 2026 08:00:00 GMT"

    def answer(req):
        if req.headers.get("If-None-Match") == etag:
            return Reply(304, b"", "text/csv", headers={"ETag": etag})
        return Reply(200, csv_body.encode("gbk"), "text/csv; charset=gbk",
                     headers={"ETag": etag, "Last-Modified": modified})

    portal.on("/bulletin.csv", answer)
    source = population_source(portal.url + "/bulletin.csv", kind="csv", records_path=None)
    first = fetch_source(source, settings, client=quick())
    second = fetch_source(source, settings, client=quick())
    assert (first.status, first.accepted) == ("loaded", 7)       # GBK CSV read right
    assert second.status == "not_modified" and "nothing added" in second.message
    sent = portal.requests_to("/bulletin.csv")[1].headers
    assert sent["If-None-Match"] == etag and sent["If-Modified-Since"] == modified
    assert fetched_rows(settings) == {"loaded": 1, "not_modified": 1}
    assert query(settings, "select count(*) from raw.open_data_observations") == [
        (7,)]
    (manifest,) = query(settings, "select http_status, etag, payload_path from "
                        "raw.open_data_fetches where status = 'not_modified'")
    assert manifest == (304, etag, None)


# -- pagination ------------------------------------------------------------------------------

def test_offset_pagination_until_exhausted(settings, portal):
    def page(req):
        offset, limit = int(req.query["offset"]), int(req.query["limit"])
        return Reply(body={"data": {"items": ROWS[offset:offset + limit], "total": len(ROWS)}})

    portal.on("/api", page)
    source = population_source(portal.url + "/api", pages_path=None, pagination={
        "style": "offset", "page_size": 3, "total_path": "data.total"})
    result = fetch_source(source, settings, client=quick())
    assert (result.records, result.accepted) == (7, 7)
    # ... and the first page once more: it has not moved since
    assert [r.query["offset"] for r in portal.requests_to("/api")] == ["0", "3", "6", "0"]


def test_cursor_pagination_follows_the_cursor(settings, portal):
    chunks = {None: (ROWS[:4], "c2"), "c2": (ROWS[4:], None)}

    def page(req):
        items, following = chunks[req.query.get("cursor")]
        return Reply(body={"data": {"items": items}, "next": following})

    portal.on("/api", page)
    source = population_source(portal.url + "/api", pages_path=None, pagination={
        "style": "cursor", "cursor_path": "next"})
    assert fetch_source(source, settings, client=quick()).accepted == 7


def test_a_cursor_that_never_advances_fails_the_fetch(settings, portal):
    portal.on("/api", lambda req: Reply(body={"data": {"items": [dict(
        ROWS[0], 年份=req.query.get("cursor", "2020"))]}, "next": "2021"}))
    source = population_source(portal.url + "/api", pages_path=None, pagination={
        "style": "cursor", "cursor_path": "next", "max_pages": 50})
    with pytest.raises(FetchError, match="the cursor did not advance after page 2 \\('2021'"):
        fetch_source(source, settings, client=quick())
    assert len(portal.requests_to("/api")) == 2
    assert query(settings, "select count(*) from raw.open_data_observations") == [
        (0,)]


def test_endless_pages_stop_at_the_page_cap(settings, portal):
    portal.on("/api", lambda req: Reply(body={"data": {"items": [
        dict(ROWS[0], 年份=str(2000 + int(req.query["page"])))], "pages": 10_000}}))
    source = population_source(portal.url + "/api", pages_path="data.pages",
                               pagination={"max_pages": 5})
    with pytest.raises(FetchError, match="more than 5 pages"):
        fetch_source(source, settings, client=quick())
    assert len(portal.requests_to("/api")) == 5


# -- broken payloads -------------------------------------------------------------------------

@pytest.mark.parametrize("reply, message", [
    (Reply(body='{"data": {"items": [{"地区": "环翠区", "年'), "invalid or truncated JSON"),
    (Reply(body="地区,年份\n环翠区,2023", ctype="text/csv"), "got Content-Type 'text/csv'"),
    (Reply(body="<html><body>系统维护中</body></html>", ctype="text/html"),
     "an HTML error page?"),
])
def test_broken_json_payloads_fail_with_a_clear_message(settings, portal, reply, message):
    portal.on("/api", reply)
    with pytest.raises(FetchError, match=message):
        fetch_source(population_source(portal.url + "/api"), settings, client=quick())
    assert fetched_rows(settings) == {"failed": 1}


def test_html_page_with_status_200_instead_of_a_download(settings, portal):
    portal.on("/file.csv", Reply(body="<!DOCTYPE html><html>维护</html>", ctype="text/plain"))
    source = population_source(portal.url + "/file.csv", kind="csv", records_path=None)
    with pytest.raises(FetchError, match="answered HTTP 200 with an HTML page instead of a CSV"):
        fetch_source(source, settings, client=quick())


def test_body_over_the_size_limit(settings, portal):
    portal.on("/api", Reply(body={"data": {"items": ROWS * 200}}))
    with pytest.raises(FetchError, match="larger than 10,000 bytes"):
        fetch_source(population_source(portal.url + "/api"), settings,
                     client=quick(max_bytes=10_000))


def test_xlsx_download(settings, portal, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["地区", "年份", "常住人口（万人）"])
    for r in ROWS:
        wb.active.append([r["地区"], int(r["年份"]), r["常住人口（万人）"]])
    wb.save(tmp_path / "p.xlsx")
    portal.on("/p.xlsx", Reply(body=(tmp_path / "p.xlsx").read_bytes(),
                               ctype="application/vnd.openxmlformats-officedocument."
                                     "spreadsheetml.sheet"))
    source = population_source(portal.url + "/p.xlsx", kind="xlsx", records_path=None)
    result = fetch_source(source, settings, client=quick())
    assert (result.status, result.accepted) == ("loaded", 7)
    assert query(settings, "select value from raw.open_data_observations where "
                 "district_code = '371002'") == [(30.0,)]


# -- secrets ---------------------------------------------------------------------------------

def _everything_written(settings, caplog) -> str:
    """Logs, every column of every raw table, and every landed file, as one text."""
    parts = [caplog.text]
    for table in ("open_data_fetches", "open_data_observations"):
        parts += [json.dumps(r, default=str, ensure_ascii=False)
                  for r in query(settings, f"select * from raw.{table}")]
    parts += [p.read_text("utf-8", errors="replace")
              for p in settings.landing_dir.rglob("*") if p.is_file()]
    return "\n".join(parts)


def test_secrets_never_reach_logs_manifests_payloads_or_errors(settings, portal, monkeypatch,
                                                               caplog, sleeps):
    secret = "sk-live-5f0e7c1a9b"
    monkeypatch.setenv("TEST_PORTAL_KEY", secret)
    portal.on("/api", Reply(503, "busy", "text/plain"),
              Reply(body=BODY))
    portal.on("/broken", Reply(500, "down", "text/plain"))
    caplog.set_level(logging.DEBUG)
    source = population_source(portal.url + "/api", auth={
        "kind": "query", "param": "appkey", "env": "TEST_PORTAL_KEY"})
    ok = fetch_source(source, settings, client=quick())
    assert ok.status == "loaded" and secret not in ok.url + ok.message
    failing = population_source(portal.url + "/broken", name="test_broken", auth={
        "kind": "query", "param": "appkey", "env": "TEST_PORTAL_KEY"})
    with pytest.raises(FetchError) as failed:
        fetch_source(failing, settings, client=quick())
    assert secret not in str(failed.value) and "appkey=***" in str(failed.value)
    assert portal.requests_to("/api")[-1].query["appkey"] == secret  # the key was used
    written = _everything_written(settings, caplog)
    assert "appkey=***" in written and secret not in written


def test_auth_by_airflow_connection(settings, portal, monkeypatch):
    secret = "conn-secret-77"
    monkeypatch.setenv("AIRFLOW_CONN_TEST_PORTAL",
                       json.dumps({"conn_type": "http", "password": secret}))
    portal.on("/api", Reply(body=BODY))
    source = population_source(portal.url + "/api", auth={
        "kind": "header", "header": "X-App-Key", "airflow_conn": "test_portal"})
    assert fetch_source(source, settings, client=quick()).status == "loaded"
    assert portal.requests_to("/api")[0].headers["X-App-Key"] == secret


def test_a_registry_entry_with_the_secret_inline_is_refused():
    with pytest.raises(ValueError, match="never the secret itself"):
        population_source("http://x", auth={"kind": "query", "param": "appkey",
                                            "value": "s3cret"})


def test_a_portal_that_ignores_the_page_parameter_is_caught(settings, portal):
    portal.on("/api", Reply(body={"data": {"items": ROWS[:3]}}))  # the same page every time
    source = population_source(portal.url + "/api", pages_path=None)
    with pytest.raises(FetchError, match="page 2 repeats page 1: the portal ignores the page"):
        fetch_source(source, settings, client=quick())
    assert len(portal.requests_to("/api")) == 2


def test_a_local_portal_that_is_not_running_is_named_in_one_line_at_once(settings, monkeypatch):
    """After `make run` the demo portal is gone: `citycheck run` says what to start instead of
    retrying for a minute and printing a wall of warnings."""
    import time

    from tests.faults import cli

    port = free_port()          # a loopback port nobody listens on
    started = time.monotonic()
    proc = cli(settings, "fetch", env={"CITYCHECK_PORTAL_URL": f"http://127.0.0.1:{port}"})
    assert time.monotonic() - started < 15
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert f"no open-data portal answers at http://127.0.0.1:{port}" in line
    assert "python -m citycheck.devtools.demo_portal" in line and "--no-fetch" in line


# -- pages that change while they are read -------------------------------------------------

def _shifting(rows_by_request):
    """An offset-paged API whose data changes between requests: the n-th request is answered
    from rows_by_request[min(n, last)]."""
    count = {"n": 0}

    def page(req):
        rows = rows_by_request[min(count["n"], len(rows_by_request) - 1)]
        count["n"] += 1
        offset, limit = int(req.query["offset"]), int(req.query["limit"])
        return Reply(body={"data": {"items": rows[offset:offset + limit], "total": len(rows)}})
    return page


NEW = dict(ROWS[0], 年份="2022")      # a record more: 环翠区's 2022 figure


def test_a_record_inserted_at_the_front_while_paging_is_read_again(settings, portal):
    """A record inserted in front between page 1 and page 2 shifts every record down: one
    appears on two pages. The read is started again; the second read, of settled data,
    lands every record once."""
    before, after = ROWS, [NEW, *ROWS]
    portal.on("/api", _shifting([before, after]))
    source = population_source(portal.url + "/api", pages_path=None, pagination={
        "style": "offset", "page_size": 3, "total_path": "data.total"})
    result = fetch_source(source, settings, client=quick())
    assert result.status == "loaded" and result.records == len(after)
    landed = query(settings, "select count(distinct record_json) from "
                             "raw.open_data_observations")
    assert landed == [(len(after),)]


@pytest.mark.parametrize("change", ["inserted", "removed"])
def test_data_that_keeps_moving_fails_the_fetch_saying_why(settings, portal, change):
    """Records inserted (shown twice) or removed (one skipped) at the front between every
    request: after three reads the fetch fails, says what moved, and nothing lands."""
    moved = [NEW, *ROWS] if change == "inserted" else ROWS[1:]
    portal.on("/api", _shifting([ROWS, moved] * 20))
    source = population_source(portal.url + "/api", pages_path=None, pagination={
        "style": "offset", "page_size": 3, "total_path": "data.total"})
    with pytest.raises(FetchError, match="the portal's data changed while it was read page by "
                                         "page .*, 3 times in a row; nothing landed"):
        fetch_source(source, settings, client=quick())
    assert query(settings, "select status, message like '%changed while it was read%' from "
                           "raw.open_data_fetches") == [("failed", True)]
    assert query(settings, "select count(*) from raw.open_data_observations") == [(0,)]


def test_a_page_numbered_api_whose_front_moved_is_read_again(settings, portal):
    """Without a total of records, a record removed at the front after page 1 skips one
    record silently (page 2 starts one later); the first page, read again at the end, shows
    the front moved, and the source is read again, whole."""
    count = {"n": 0}

    def page(req):
        rows = ROWS if count["n"] == 0 else ROWS[1:]
        count["n"] += 1
        n = int(req.query["page"])
        return Reply(body={"data": {"items": rows[(n - 1) * 3:n * 3], "pages": 3}})

    portal.on("/api", page)
    source = population_source(portal.url + "/api", pagination={"page_param": "page"})
    result = fetch_source(source, settings, client=quick())
    assert result.status == "loaded" and result.records == len(ROWS) - 1
    landed = {json.loads(r)["地区"] for (r,) in query(
        settings, "select distinct record_json from raw.open_data_observations")}
    assert landed == {r["地区"] for r in ROWS[1:]}
