"""Shared fixtures. Every test writes under its own temporary CITYCHECK_DATA_DIR; Airflow
runs on a SQLite metadata database in a temporary AIRFLOW_HOME migrated once per session."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration when first imported: set it before any test imports it.
# Once per process: were this file imported a second time (as tests.conftest), a new
# AIRFLOW_HOME would point Airflow at an empty database in the middle of the session. Each
# pytest-xdist worker has its own (their SQLite databases must not be shared).
_HOME_VAR = "CITYCHECK_TEST_AIRFLOW_HOME_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
_AIRFLOW_HOME = Path(os.environ.get(_HOME_VAR)
                     or tempfile.mkdtemp(prefix="citycheck-airflow-"))
os.environ[_HOME_VAR] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# The date the programmes' calendar reads (common/calendar.py): the rounds open by the same
# calendar in every run of the suite (Weihai 2019-2025, Zibo 2020-2022), whatever the day.
os.environ.setdefault("CITYCHECK_TODAY", "2026-12-06")
# Tests write each inbox file whole before intake runs; the wait for a file still being copied
# (extract/submissions/taking.py) is tested where it is set (tests/test_inbox_taking.py).
os.environ.setdefault("CITYCHECK_INBOX_SETTLE_SECONDS", "0")

from citycheck.devtools.demo_portal import Portal  # noqa: E402
from common.config import SAMPLE_DIR, Settings  # noqa: E402
from tests.cell_accounting import unaccounted_in  # noqa: E402
from tests.helpers import make_settings, pg_admin  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    """`airflow db migrate` once per session (about 6 s), into the temporary AIRFLOW_HOME."""
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True,
                          env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def portal_url():
    """The demo open-data portal, served for real on 127.0.0.1."""
    with Portal(data_dir=SAMPLE_DIR / "portal") as url:
        os.environ["CITYCHECK_PORTAL_URL"] = url
        yield url


@pytest.fixture
def settings(request, tmp_path, monkeypatch, portal_url) -> Settings:
    """A data dir of the test's own; on the PostgreSQL engine (a database of its own) for the
    tests marked both_engines, which run once on each."""
    if getattr(request, "param", "duckdb") == "postgres":
        monkeypatch.setenv("CITYCHECK_WAREHOUSE_TARGET", "postgres")
        monkeypatch.setenv("CITYCHECK_PG_DSN", request.getfixturevalue("pg_database"))
    return make_settings(tmp_path / "data", monkeypatch, portal_url)


def pytest_generate_tests(metafunc):
    """`pytestmark = pytest.mark.both_engines`: the module's tests that use `settings` run
    on the DuckDB engine and on the PostgreSQL one."""
    if metafunc.definition.get_closest_marker("both_engines") and \
            "settings" in metafunc.fixturenames:
        metafunc.parametrize("settings", ["duckdb", "postgres"], indirect=True)


@pytest.fixture(autouse=True)
def every_cell_accounted_for(request):
    """After a test that ingests into a `settings` or `built` warehouse: every filled cell of
    every file it loaded was accepted, rejected or ignored, per tests/cell_accounting.py."""
    used = [request.getfixturevalue(name) for name in ("settings", "built")
            if name in request.fixturenames]
    yield
    for s in used:
        found = unaccounted_in(s)
        assert not found, f"filled cells intake did not account for: {found}"


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory, portal_url) -> Path:
    """The sample data run through every step once (without Airflow); tests copy it."""
    from citycheck.pipeline import run_all

    data = tmp_path_factory.mktemp("sample") / "data"
    settings = make_settings(data, portal_url=portal_url)
    from citycheck.devtools.demo import load_sample_surveys, stage_sample_submissions

    stage_sample_submissions(settings)
    load_sample_surveys(settings)
    run_all(settings)
    return data


@pytest.fixture
def built(sample_warehouse, tmp_path, monkeypatch, portal_url) -> Settings:
    """A private copy of the published sample warehouse."""
    data = tmp_path / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    return make_settings(data, monkeypatch, portal_url)


@pytest.fixture
def pg_database():
    """A PostgreSQL database of the test's own (DSN), dropped afterwards."""
    import uuid

    name = f"citycheck_test_{uuid.uuid4().hex[:8]}"
    admin = pg_admin()
    with admin.cursor() as cur:
        cur.execute(f"create database {name}")
    dsn = admin.dsn.replace("dbname=postgres", f"dbname={name}")
    yield dsn
    with admin.cursor() as cur:
        cur.execute(f"drop database {name} with (force)")
    admin.close()


@pytest.fixture
def webhook(monkeypatch):
    """A real HTTP endpoint on 127.0.0.1 that records every JSON alert posted to it; the
    pipeline is pointed at it through CITYCHECK_ALERT_WEBHOOK_URL."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"content_type": self.headers.get("Content-Type"),
                             **json.loads(body.decode("utf-8"))})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CITYCHECK_ALERT_WEBHOOK_URL",
                       f"http://127.0.0.1:{server.server_address[1]}/alerts")
    yield received
    server.shutdown()
    server.server_close()
