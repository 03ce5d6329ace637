"""Fetching is polite and safe (docs/reliability.md), against real HTTP servers on loopback:
Retry-After in both forms and capped, redirect loops a recorded failure that stops no other
source, secrets sent to the portal's host only, a GBK CSV behind a UTF-8 BOM named."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

import extract.open_data as open_data
from extract.http import FetchError, HttpClient
from extract.open_data import fetch_all, fetch_source
from tests.helpers import query
from tests.scripted_portal import Reply, ScriptedPortal
from tests.test_open_data_resilience import (
    BODY,
    ROWS,
    Sleeps,
    population_source,
    quick,
)

pytestmark = pytest.mark.both_engines  # conftest.py: each test on DuckDB and on PostgreSQL


@pytest.fixture
def portal():
    with ScriptedPortal() as p:
        yield p


@pytest.fixture
def other_host():
    """A second server, reached as `localhost`: another host to requests."""
    with ScriptedPortal() as p:
        yield p


def _failed_fetches(settings) -> list[tuple]:
    return query(settings, "select source_name, message from "
                                          "raw.open_data_fetches where status = 'failed'")


def test_retry_after_as_an_http_date_is_obeyed(settings, portal):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=6), usegmt=True)
    portal.on("/api", Reply(503, "busy", "text/plain", headers={"Retry-After": when}),
              Reply(body=BODY))
    sleeps = Sleeps()
    result = fetch_source(population_source(portal.url + "/api"), settings,
                          client=HttpClient(sleep=sleeps, retries=2))
    assert result.status == "loaded"
    assert len(sleeps) == 1 and 3 <= sleeps[0] <= 6.5   # the date, not 0.5 s of own backoff


def test_a_retry_after_beyond_the_cap_is_a_recorded_failure_not_a_wait(settings, portal):
    when = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    portal.on("/api", Reply(429, "come back later", "text/plain",
                            headers={"Retry-After": when}))
    sleeps = Sleeps()
    with pytest.raises(FetchError, match="asks to wait"):
        fetch_source(population_source(portal.url + "/api"), settings,
                     client=HttpClient(sleep=sleeps, retries=3, max_retry_after=60))
    assert sleeps == [] and len(portal.requests_to("/api")) == 1
    assert "CITYCHECK_FETCH_MAX_RETRY_AFTER" in _failed_fetches(settings)[0][1]


def test_a_redirect_loop_is_recorded_and_the_other_sources_are_still_fetched(
        settings, portal, monkeypatch):
    portal.on("/loop", Reply(302, "", "text/plain", headers={"Location": "/loop"}))
    portal.on("/api", Reply(body=BODY))
    looping = population_source(portal.url + "/loop", name="test_loop", retries=0)
    good = population_source(portal.url + "/api", name="test_good", retries=0)
    monkeypatch.setattr(open_data, "load_sources", lambda: [looping, good])
    with pytest.raises(FetchError, match="redirected more than 10 times"):
        fetch_all(settings)
    assert query(settings, "select source_name, status from "
                                          "raw.open_data_fetches order by 1") == [
        ("test_good", "loaded"), ("test_loop", "failed")]
    assert "redirect loop" in _failed_fetches(settings)[0][1]


def test_a_key_in_a_custom_header_is_not_sent_to_another_host(settings, portal, other_host,
                                                              monkeypatch):
    secret = "hk-7d41c0ffee"
    monkeypatch.setenv("TEST_HEADER_KEY", secret)
    moved = other_host.url.replace("127.0.0.1", "localhost") + "/api"
    portal.on("/api", Reply(301, "", "text/plain", headers={"Location": moved}))
    other_host.on("/api", Reply(body=BODY))
    source = population_source(portal.url + "/api", auth={
        "kind": "header", "header": "X-App-Key", "env": "TEST_HEADER_KEY"})
    result = fetch_source(source, settings, client=quick())
    assert result.status == "loaded"
    assert portal.requests_to("/api")[0].headers.get("X-App-Key") == secret
    assert "X-App-Key" not in other_host.requests_to("/api")[0].headers   # dropped


def test_a_redirect_carrying_a_query_key_to_another_host_is_refused(settings, portal,
                                                                   other_host, monkeypatch):
    secret = "qk-90ab12cd"
    monkeypatch.setenv("TEST_QUERY_KEY", secret)
    moved = other_host.url.replace("127.0.0.1", "localhost") + f"/api?appkey={secret}"
    portal.on("/api", Reply(302, "", "text/plain", headers={"Location": moved}))
    other_host.on("/api", Reply(body=BODY))
    source = population_source(portal.url + "/api", auth={
        "kind": "query", "param": "appkey", "env": "TEST_QUERY_KEY"})
    with pytest.raises(FetchError, match="redirected to another host") as failed:
        fetch_source(source, settings, client=quick())
    assert secret not in str(failed.value)
    assert other_host.requests_to("/api") == []                          # never sent there


def _bom_gbk_csv() -> bytes:
    text = "地区,年份,常住人口（万人）\n" + "\n".join(
        f"{r['地区']},{r['年份']},{r['常住人口（万人）']}" for r in ROWS)
    return b"\xef\xbb\xbf" + text.encode("gbk")


def test_a_gbk_csv_behind_a_utf8_bom_is_refused_with_the_reason(settings, portal):
    portal.on("/bulletin.csv", Reply(200, _bom_gbk_csv(), "text/csv"))
    source = population_source(portal.url + "/bulletin.csv", kind="csv", records_path=None)
    with pytest.raises(FetchError, match="byte-order mark but is not UTF-8") as failed:
        fetch_source(source, settings, client=quick())
    assert "encoding: gb18030" in str(failed.value)


def test_the_same_csv_is_read_once_its_encoding_is_registered(settings, portal):
    portal.on("/bulletin.csv", Reply(200, _bom_gbk_csv(), "text/csv"))
    source = population_source(portal.url + "/bulletin.csv", kind="csv", records_path=None,
                               encoding="gb18030")
    result = fetch_source(source, settings, client=quick())
    assert (result.status, result.accepted) == ("loaded", 7)
