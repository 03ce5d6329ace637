"""The scale-out stack for real: `python -m citycheck.operations.stack up` (what `make airflow-up` runs)
starts Airflow on a PostgreSQL metadata database with the Celery executor on Redis, two
workers, scheduler, dag-processor, triggerer and api-server; a department file dropped into
the inbox is ingested, the asset-triggered warehouse run builds, validates and publishes it,
and everything is followed through the REST API. The test stops all it started.

Needs the PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) servers; skipped, saying
which one is missing, where they do not answer."""
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.helpers import CORRECTION, PG_ADMIN_DSN, free_port, pg_admin, query

REDIS_URL = os.environ.get("CITYCHECK_TEST_REDIS_URL", "redis://127.0.0.1:6379")
RUN_TIMEOUT = 300


def _redis_or_skip(url: str):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis server answers at {url} ({exc}); start one or set "
                    "CITYCHECK_TEST_REDIS_URL")
    return client


@pytest.fixture
def stack_env(sample_warehouse, tmp_path, portal_url):
    """Environment for a private stack: its own data (a copy of the published sample), Airflow
    home, metadata database, Redis database and port."""
    admin = pg_admin()
    db = f"citycheck_airflow_test_{uuid.uuid4().hex[:8]}"
    redis_db = random.randint(1, 15)
    broker = _redis_or_skip(f"{REDIS_URL}/{redis_db}")
    data = tmp_path / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    host = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
    env = dict(os.environ,
               CITYCHECK_DATA_DIR=str(data),
               CITYCHECK_STACK_HOME=str(tmp_path / "airflow-celery"),
               CITYCHECK_AIRFLOW_DB=(f"postgresql+psycopg2://{host.get('user', 'postgres')}@"
                                     f"{host.get('host', '127.0.0.1')}:{host.get('port', 5432)}/{db}"),
               CITYCHECK_CELERY_BROKER=f"{REDIS_URL}/{redis_db}",
               CITYCHECK_AIRFLOW_PORT=str(free_port()),
               CITYCHECK_PORTAL_PORT=str(free_port()),
               CITYCHECK_PORTAL_URL=portal_url)
    yield env
    subprocess.run([sys.executable, "-m", "citycheck.operations.stack", "down"], env=env,
                   capture_output=True, timeout=120)
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {db} with (force)")
    admin.close()
    broker.flushdb()


def _wait_until_idle(session, api: str, deadline: float,
                     dag_ids=("citycheck_submissions", "citycheck_warehouse")) -> None:
    """Until every run of these DAGs has finished."""
    runs = []
    while time.monotonic() < deadline:
        runs = [x for dag_id in dag_ids
                for x in session.get(f"{api}/dags/{dag_id}/dagRuns", timeout=10).json()["dag_runs"]]
        if all(x["state"] in ("success", "failed") for x in runs):
            return
        time.sleep(3)
    raise AssertionError(f"runs still going: {runs}")


def _stack(env, action):
    return subprocess.run([sys.executable, "-m", "citycheck.operations.stack", action, "--workers", "2"],
                          env=env, capture_output=True, text=True, timeout=400)


def test_a_dropped_file_is_published_by_the_celery_stack(stack_env):
    from citycheck.operations.stack import StackConfig, api_token
    from common.config import Settings

    started = _stack(stack_env, "up")
    assert started.returncode == 0, started.stdout + started.stderr
    status = _stack(stack_env, "status")
    assert status.returncode == 0, status.stdout
    assert "citycheck-worker-1@" in status.stdout and "citycheck-worker-2@" in status.stdout
    # the department portal runs with the stack
    portal = requests.get(f"http://127.0.0.1:{stack_env['CITYCHECK_PORTAL_PORT']}/login",
                          timeout=10)
    assert portal.status_code == 200 and "部门填报门户" in portal.text

    saved = dict(os.environ)
    os.environ.update(stack_env)
    try:
        cfg = StackConfig.from_env()
        settings = Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    api = cfg.api_url + "/api/v2"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_token(cfg)}"
    health = session.get(f"{api}/monitor/health", timeout=10).json()
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy"

    (value_before,) = query(settings.serving_path, "select value from fct_indicator_values where "
                                                   "indicator_code = 'sewage_treatment_rate_pct' "
                                                   "and district_code = '371002' and year = 2023")
    assert value_before != (99.1,)

    for dag_id in ("citycheck_submissions", "citycheck_warehouse"):
        r = session.patch(f"{api}/dags/{dag_id}", json={"is_paused": False}, timeout=10)
        assert r.status_code == 200 and r.json()["is_paused"] is False, r.text
    (settings.inbox_dir / "371000_water_2023_correction.csv").write_text(CORRECTION,
                                                                          encoding="utf-8")
    r = session.post(f"{api}/dags/citycheck_submissions/dagRuns", json={"logical_date": None},
                     timeout=10)
    assert r.status_code == 200, r.text

    deadline = time.monotonic() + RUN_TIMEOUT
    run = None
    while time.monotonic() < deadline:
        runs = session.get(f"{api}/dags/citycheck_warehouse/dagRuns", timeout=10).json()
        # (unpausing also starts the latest annual review, a scheduled run: not this one)
        finished = [x for x in runs["dag_runs"] if x["state"] in ("success", "failed")
                    and x["run_type"] == "asset_triggered"]
        if finished:
            run = finished[0]
            break
        time.sleep(3)
    assert run is not None, f"no asset-triggered warehouse run finished in {RUN_TIMEOUT} s"
    tasks = session.get(f"{api}/dags/citycheck_warehouse/dagRuns/{run['dag_run_id']}/"
                        "taskInstances", timeout=10).json()["task_instances"]
    states = {t["task_id"]: t["state"] for t in tasks}
    logs = cfg.home / "logs"
    assert run["state"] == "success", (states, [
        (logs / f).read_text()[-2000:] for f in ("worker-1.log", "worker-2.log")])
    assert states == {"check_freshness": "success", "dbt_build": "success",
                      "validate": "success", "publish": "success", "reports": "success"}
    # every task that writes the warehouse queues on its one slot; the reports read the
    # publication only
    assert all(t["pool"] == "citycheck_warehouse" and t["hostname"] for t in tasks
               if t["task_id"] != "reports")

    # the Celery workers ran the tasks (not a local executor)
    executed = sum((logs / f"worker-{i}.log").read_text().count("succeeded in")
                   for i in (1, 2))
    assert executed >= len(tasks)

    # published: the new value, traceable to the file and cell it came from
    row = query(settings.serving_path, "select f.value, s.source_name, f.source_cell from "
                                       "fct_indicator_values f join dim_source s using "
                                       "(source_id) where f.indicator_code = "
                                       "'sewage_treatment_rate_pct' and f.district_code = "
                                       "'371002' and f.year = 2023")
    assert row == [(99.1, "371000_water_2023_correction.csv", "C6")]

    # Backfill two annual reviews (2022-04-01 and 2023-04-01 review 2021 and 2022): the same
    # raw data gives the same publication, with nothing duplicated.
    published = "select * from {} order by 1"
    # The submissions DAG runs every quarter hour, and its recovery task holds the warehouse
    # (one writer) while it runs: pause it, so that the reads below cannot meet it.
    r = session.patch(f"{api}/dags/citycheck_submissions", json={"is_paused": True}, timeout=10)
    assert r.status_code == 200 and r.json()["is_paused"] is True, r.text
    # unpausing also started the latest annual review (a scheduled run): its tasks hold the
    # warehouse until it ends, so wait for it, and any submissions run, before reading
    _wait_until_idle(session, api, time.monotonic() + RUN_TIMEOUT)
    before = {t: query(settings.serving_path, published.format(t))
              for t in ("fct_indicator_values", "mart_indicator_scorecard")}
    (versions_before,) = query(settings.warehouse_path,
                               "select count(*) from marts.fct_indicator_value_versions")
    r = session.post(f"{api}/backfills", json={
        "dag_id": "citycheck_warehouse", "from_date": "2022-01-01T00:00:00Z",
        "to_date": "2023-12-31T00:00:00Z", "max_active_runs": 1}, timeout=10)
    assert r.status_code == 200, r.text
    backfill_id = r.json()["id"]
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        runs = [x for x in session.get(f"{api}/dags/citycheck_warehouse/dagRuns",
                                       timeout=10).json()["dag_runs"]
                if x["run_type"] == "backfill"]
        if len(runs) == 2 and all(x["state"] in ("success", "failed") for x in runs):
            break
        time.sleep(3)
    beijing = ZoneInfo("Asia/Shanghai")
    assert sorted((datetime.fromisoformat(x["logical_date"]).astimezone(beijing).isoformat(),
                   x["state"]) for x in runs) == [
        ("2022-04-01T06:00:00+08:00", "success"), ("2023-04-01T06:00:00+08:00", "success")], (
        backfill_id, runs)
    for table, rows in before.items():
        assert query(settings.serving_path, published.format(table)) == rows, table
    assert query(settings.warehouse_path, "select count(*) from marts."
                                          "fct_indicator_value_versions") == [versions_before]

    # A clerk's upload through the portal lands at once and, announced to Airflow as an event
    # of the raw-submissions asset, runs the warehouse DAG that publishes it.
    added = subprocess.run([sys.executable, "-m", "citycheck.cli", "users", "add", "wc",
                            "--role", "clerk", "--department", "water"], env=stack_env,
                           capture_output=True, text=True, timeout=60)
    password = re.search(r"\(shown once\): (\S+)", added.stdout)[1]
    portal = f"http://127.0.0.1:{stack_env['CITYCHECK_PORTAL_PORT']}"
    clerk = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', clerk.get(f"{portal}/login").text)[1]
    page = clerk.post(f"{portal}/login", data={"username": "wc", "password": password,
                                               "csrf": token}).text
    token = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    triggered = {x["dag_run_id"] for x in session.get(
        f"{api}/dags/citycheck_warehouse/dagRuns", timeout=10).json()["dag_runs"]}
    upload = clerk.post(f"{portal}/upload", data={"csrf": token}, files=[("files", (
        "portal_fix.csv", "城市,371000\n年度,2023\n\n指标代码,区县名称,数值\n"
                          "sewage_treatment_rate_pct,乳山市,97.7\n".encode()))])
    assert 'data-status="loaded"' in upload.text, upload.text[-2000:]
    upload_id = re.search(r'data-upload="(\w+)"', upload.text)[1]
    assert f'data-history="{upload_id}" data-via="portal" data-published="no"' in clerk.get(
        f"{portal}/").text
    deadline = time.monotonic() + RUN_TIMEOUT
    new_runs = []
    while time.monotonic() < deadline:
        new_runs = [x for x in session.get(f"{api}/dags/citycheck_warehouse/dagRuns",
                                           timeout=10).json()["dag_runs"]
                    if x["dag_run_id"] not in triggered and x["run_type"] == "asset_triggered"]
        if new_runs and all(x["state"] in ("success", "failed") for x in new_runs):
            break
        time.sleep(3)
    assert [x["state"] for x in new_runs] == ["success"], new_runs
    assert query(settings.serving_path, "select value from mart_indicator_scorecard where "
                 "indicator_code = 'sewage_treatment_rate_pct' and year = 2023 and "
                 "district_name_zh = '乳山市'") == [(97.7,)]
    # the clerk's page now counts it in the publication
    home = clerk.get(f"{portal}/").text
    assert f'data-history="{upload_id}" data-via="portal" data-published="yes"' in home
    assert f'data-pending="{upload_id}"' not in home

    stopped = _stack(stack_env, "down")
    assert stopped.returncode == 0 and "stopped worker-2" in stopped.stdout
    after = _stack(stack_env, "status")
    assert after.returncode == 1 and "running" not in after.stdout
