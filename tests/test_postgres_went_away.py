"""PostgreSQL going away under a command (a crash, a restart, an administrator ending the
sessions): one line that says so and what to do, exit 1, in every command — then, with the
server back, the same command lands everything once. Before, the same loss gave exit 1 in one
process and exit 2 "please report it" in another."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from common.config import SAMPLE_DIR
from tests.helpers import make_settings

psycopg2 = pytest.importorskip("psycopg2")


def _end_sessions_until(dsn: str, name: str, stop: threading.Event) -> None:
    """What a server crash does to its clients, over and over: end every session of the
    database but this one."""
    con = psycopg2.connect(dsn.replace(f"dbname={name}", "dbname=postgres"))
    con.autocommit = True
    try:
        with con.cursor() as cur:
            while not stop.is_set():
                cur.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                            "where datname = %s and pid <> pg_backend_pid()", [name])
                time.sleep(0.05)
    finally:
        con.close()


def _while_the_server_goes_away(command: list[str], env: dict, dsn: str,
                                after: float = 0) -> None:
    """`citycheck COMMAND` while every session of its database is ended, `after` seconds in
    (from the moment it first connects, by default): it says so in one line and exits 1."""
    name = dsn.split("dbname=")[1].split()[0]
    stop = threading.Event()
    proc = subprocess.Popen([sys.executable, "-m", "citycheck.cli", *command], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    killer = threading.Thread(target=_end_sessions_until, args=(dsn, name, stop))
    killer.start()
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        stop.set()
        killer.join()
    assert proc.returncode == 1, (out, err)
    said = [line for line in err.splitlines() if line.startswith(f"citycheck {command[0]}")]
    assert len(said) == 1 and f"PostgreSQL went away during {command[0]}" in said[0], err
    assert "please report" not in err and "Traceback" not in err


def test_postgres_going_away_mid_ingest_is_one_line_and_the_next_run_lands_it(
        tmp_path, pg_database, monkeypatch):
    monkeypatch.setenv("CITYCHECK_WAREHOUSE_TARGET", "postgres")
    monkeypatch.setenv("CITYCHECK_PG_DSN", pg_database)
    settings = make_settings(tmp_path / "data", monkeypatch)
    settings.ensure_dirs()
    files = sorted((SAMPLE_DIR / "submissions").glob("371000_*"))
    for f in files:
        shutil.copy(f, settings.inbox_dir / f.name)
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(settings.data_dir),
           "CITYCHECK_WAREHOUSE_TARGET": "postgres", "CITYCHECK_PG_DSN": pg_database}
    # from the moment the command first connects, as if the server crashed under it
    _while_the_server_goes_away(["ingest"], env, pg_database)

    again = subprocess.run([sys.executable, "-m", "citycheck.cli", "ingest"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
        cur.execute("select count(distinct file_hash), count(*) from raw.submission_files "
                    "where status = 'loaded'")
        distinct, landed = cur.fetchone()
    assert distinct == landed == len(files)
    assert not any(settings.inbox_dir.iterdir())


def test_postgres_going_away_mid_publish_is_one_line_and_the_next_publish_completes(
        built, pg_database):
    """`citycheck publish --target postgres` (the scale-out serving database) losing its
    server: one line, exit 1, nothing half-published; the next publish completes."""
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(built.data_dir),
           "CITYCHECK_PG_DSN": pg_database}
    _while_the_server_goes_away(["publish", "--target", "postgres"], env, pg_database)
    with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
        cur.execute("select count(*) from information_schema.tables "
                    "where table_schema = 'published'")
        assert cur.fetchone()[0] == 0          # nothing half-published

    again = subprocess.run([sys.executable, "-m", "citycheck.cli", "publish", "--target",
                            "postgres"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
        cur.execute("select count(*) from published.fct_indicator_values")
        assert cur.fetchone()[0] > 0


def test_postgres_going_away_mid_build_is_one_line_and_the_next_build_completes(
        tmp_path, pg_database, monkeypatch):
    monkeypatch.setenv("CITYCHECK_WAREHOUSE_TARGET", "postgres")
    monkeypatch.setenv("CITYCHECK_PG_DSN", pg_database)
    settings = make_settings(tmp_path / "data", monkeypatch)
    settings.ensure_dirs()
    for f in sorted((SAMPLE_DIR / "submissions").glob("371000_*"))[:6]:
        shutil.copy(f, settings.inbox_dir / f.name)
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(settings.data_dir),
           "CITYCHECK_WAREHOUSE_TARGET": "postgres", "CITYCHECK_PG_DSN": pg_database}
    landed = subprocess.run([sys.executable, "-m", "citycheck.cli", "ingest"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert landed.returncode in (0, 1), landed.stderr
    # dbt connected and running its models
    _while_the_server_goes_away(["build"], env, pg_database, after=4)
    again = subprocess.run([sys.executable, "-m", "citycheck.cli", "build"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
