"""Open-data fetches against a real HTTP server on 127.0.0.1."""
import json
import shutil

import pytest

from citycheck.devtools.demo_portal import Portal
from common.config import SAMPLE_DIR
from extract.http import FetchError, HttpClient
from extract.open_data import fetch_source
from extract.registry import load_sources
from tests.helpers import query


def _source(name):
    return next(s for s in load_sources() if s.name == name)


def test_schema_drift_fails_naming_the_field_and_keeps_earlier_data(settings, tmp_path, monkeypatch):
    first = fetch_source(_source("weihai_air_quality"), settings)
    assert first.status == "loaded" and first.accepted == 35
    drifted = tmp_path / "portal"
    shutil.copytree(SAMPLE_DIR / "portal", drifted)
    records = json.loads((drifted / "ckan_air_quality.json").read_text("utf-8"))
    for r in records:
        r["优良天数"] = r.pop("good_days")  # the portal renamed a column
    (drifted / "ckan_air_quality.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    with Portal(data_dir=drifted) as url:
        monkeypatch.setenv("CITYCHECK_PORTAL_URL", url)
        from common.config import Settings

        with pytest.raises(FetchError, match="weihai_air_quality: record 1 has no field 'good_days'"):
            fetch_source(_source("weihai_air_quality"), Settings.from_env())
    rows = query(settings.warehouse_path, "select status, count(*) from raw.open_data_fetches "
                 "group by 1 order by 1")
    assert rows == [("failed", 1), ("loaded", 1)]
    assert query(settings.warehouse_path,
                 "select count(*) from raw.open_data_observations") == [(35,)]


def test_secret_never_reaches_manifest_or_error(settings, monkeypatch):
    secret = "s3cr3t-app-key-98765"
    monkeypatch.setenv("CITYCHECK_STATS_APP_KEY", secret)
    source = _source("weihai_statistics_population")
    source.auth = {"kind": "query", "param": "appkey", "env": "CITYCHECK_STATS_APP_KEY"}
    source.url = "http://127.0.0.1:9/unreachable"  # nothing listens on the discard port
    client = HttpClient(retries=1, backoff=0.01, connect_timeout=0.5)
    with pytest.raises(FetchError) as failed:
        fetch_source(source, settings, client=client)
    assert secret not in str(failed.value) and "***" in str(failed.value)
    stored = query(settings.warehouse_path, "select url, message from raw.open_data_fetches")
    assert stored and all(secret not in (cell or "") for row in stored for cell in row)


def test_http_error_page_fails_the_fetch_with_the_status(settings, monkeypatch):
    source = _source("weihai_statistics_population")
    source.url = "{portal_url}/not-an-api"  # the portal answers 404 with an HTML page
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_source(source, settings, client=HttpClient(retries=0))


def test_changed_payload_revises_only_the_changed_value(built, tmp_path, monkeypatch):
    """A re-published dataset where one record changed: every record is re-stated as a new
    version, but only the changed one is a revision; the newest value wins."""
    from citycheck.warehouse.build import build
    from common.config import Settings

    changed = tmp_path / "portal"
    shutil.copytree(SAMPLE_DIR / "portal", changed)
    records = json.loads((changed / "ckan_air_quality.json").read_text("utf-8"))
    target = next(r for r in records if r["district_code"] == "371083" and r["year"] == "2022")
    old_value = target["good_days"]
    target["good_days"] = old_value - 12  # the monitoring station corrected its figure
    (changed / "ckan_air_quality.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    with Portal(data_dir=changed) as url:
        monkeypatch.setenv("CITYCHECK_PORTAL_URL", url)
        result = fetch_source(_source("weihai_air_quality"), Settings.from_env())
    assert result.status == "loaded"
    build(built)
    rows = query(built.warehouse_path,
                 "select district_code, year, value, is_revised, version_count from "
                 "marts.fct_indicator_values where indicator_code = 'air_quality_good_days'")
    assert len(rows) == 35 and all(r[4] == 2 for r in rows)
    revised = [r for r in rows if r[3]]
    assert revised == [("371083", 2022, float(old_value - 12), True, 2)]


def test_schema_drift_keeps_the_publication_as_it_was(built, tmp_path, monkeypatch):
    """A run whose fetch fails on drift stops before building: BI tools keep what they had."""
    import hashlib

    from citycheck.pipeline import run_all
    from common.config import Settings

    drifted = tmp_path / "portal"
    shutil.copytree(SAMPLE_DIR / "portal", drifted)
    records = json.loads((drifted / "statistics_population.json").read_text("utf-8"))
    for r in records:
        r["常住人口"] = r.pop("常住人口（万人）")
    (drifted / "statistics_population.json").write_text(json.dumps(records, ensure_ascii=False),
                                                        "utf-8")
    before = hashlib.sha256(built.serving_path.read_bytes()).hexdigest()
    with Portal(data_dir=drifted) as url:
        monkeypatch.setenv("CITYCHECK_PORTAL_URL", url)
        with pytest.raises(FetchError, match="has no field '常住人口（万人）'"):
            run_all(Settings.from_env())
    assert hashlib.sha256(built.serving_path.read_bytes()).hexdigest() == before
    assert query(built.serving_path, "select count(*) from fct_indicator_values where "
                 "indicator_code = 'resident_population_10k'") == [(35,)]
