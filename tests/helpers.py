"""Reading the sample files independently of citycheck's own parser, to check its results."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import duckdb
import openpyxl

from common.config import SAMPLE_DIR, Settings

# Weihai's water bureau corrects its 2023 sewage treatment rates (环翠区 99.1, cell C6): a
# one-file re-submission several tests drop in the inbox as 371000_water_2023_correction.csv
CORRECTION = """威海市2023年城市污水处理率（更正）
填报单位：,市水务局
年度：,2023年
城市：,威海市
指标名称,单位,环翠区,文登区,荣成市,乳山市,高区,经区,临港区
城市污水处理率,%,99.1,97.5,96.0,96.4,99.3,97.1,98.8
"""


def sample_rows(indicator_code: str, year: int) -> dict[str, float]:
    """district_code -> value for an indicator and year, read straight from the sample files."""
    found: dict[str, float] = {}
    for path in sorted((SAMPLE_DIR / "submissions").glob(f"*_{year}.*")):
        if path.suffix == ".csv":
            rows = list(csv.reader(open(path, encoding="utf-8")))
        else:
            rows = [list(r) for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]
        for row in rows:
            if row and row[0] == indicator_code:
                found[str(row[2])] = float(row[4])
    return found


def query(path, sql: str, params=None):
    """Query a DuckDB file, or the warehouse of Settings whichever its engine (`?` for
    parameters either way). The published serving copy is opened read-only, as BI tools do;
    the pipeline's own warehouse with the pipeline's configuration (dbt keeps a connection to
    it open in this process, and DuckDB refuses a second one configured differently)."""
    if isinstance(path, Settings):
        if path.warehouse_target == "duckdb":
            return query(path.warehouse_path, sql, params)
        from common.engine import engine_for

        with engine_for(path).connect() as pg:
            return [tuple(r) for r in pg.execute(sql, params).fetchall()]
    if path.parent.name == "warehouse":
        con = duckdb.connect(str(path))
    else:       # as every reader of a publication opens it
        from citycheck.warehouse.reader import open_reader

        con = open_reader(path)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def make_settings(data_dir: Path, monkeypatch=None, portal_url: str | None = None) -> Settings:
    """Point the whole pipeline at `data_dir` (and the portal at `portal_url`)."""
    env = {"CITYCHECK_DATA_DIR": str(data_dir)}
    if portal_url:
        env["CITYCHECK_PORTAL_URL"] = portal_url
    for key, value in env.items():
        if monkeypatch:
            monkeypatch.setenv(key, value)
        else:
            os.environ[key] = value
    settings = Settings.from_env()
    settings.ensure_dirs()
    return settings


# The PostgreSQL server tests use (the one on 127.0.0.1:5432 on these machines).
PG_ADMIN_DSN = os.environ.get("CITYCHECK_TEST_PG_ADMIN_DSN",
                              "host=127.0.0.1 port=5432 dbname=postgres user=postgres")


def pg_admin():
    """An autocommitting admin connection, or the test is skipped saying why."""
    import psycopg2
    import pytest

    try:
        con = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers at {PG_ADMIN_DSN} ({exc}); start one or set "
                    "CITYCHECK_TEST_PG_ADMIN_DSN")
    con.autocommit = True
    return con


def land_unknown_indicator(where):
    """An intake bug: an accepted value for an indicator that is not in the catalogue, landed
    straight into raw.* of a DuckDB file (a path) or of the warehouse of `where` (Settings),
    whichever its engine."""
    from common.engine import engine_for

    statements = [
        "insert into raw.submission_files values ('bug', 'bug.csv', null, 1, now(), "
        "'371000', 'water', 2023, 'long', 'loaded', 1, 1, 0, 0, 'simulated intake bug')",
        "insert into raw.submission_rows (file_hash, record_number, sheet_name, row_number, "
        "cell, status, indicator_code, district_code, year, value, is_missing, loaded_at) "
        "values ('bug', 1, 'bug.csv', 2, 'E2', 'accepted', 'no_such_indicator', '371002', "
        "2023, 1.0, false, now())"]
    if isinstance(where, Path):
        con = duckdb.connect(str(where))
        for statement in statements:
            con.execute(statement)
        con.close()
        return
    with engine_for(where).connect() as con:
        for statement in statements:
            con.execute(statement)


def parquet_files(settings: Settings, mart: str, publication_id: str | None = None
                  ) -> dict[str, Path]:
    """A published mart's Parquet files, by their path under the Parquet folder: one file,
    or one per year (parquet/<mart>/year=<year>/data0.parquet). The current publication's,
    or the publication named."""
    folder = (settings.published_dir / "publications" / publication_id / "parquet"
              if publication_id else settings.published_dir / "parquet")
    single = folder / f"{mart}.parquet"
    files = [single] if single.exists() else sorted((folder / mart).glob("*/*.parquet"))
    return {str(p.relative_to(folder)): p for p in files}


def parquet_digest(settings: Settings, mart: str) -> str:
    """One sha256 over a published mart's Parquet files (names and bytes)."""
    import hashlib

    h = hashlib.sha256()
    for name, path in parquet_files(settings, mart).items():
        h.update(name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def free_port() -> int:
    """A loopback port nobody listens on now (for a server a test starts, or one it must not
    find)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_portal(data: Path, port: int, **env):
    """The department portal in a process of its own on 127.0.0.1:`port`, serving `data`
    (plain HTTP: insecure cookies allowed), once it answers; `env` adds settings."""
    import subprocess
    import sys
    import time

    import requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "citycheck.serving.portal_app", "--port", str(port)],
        env={**os.environ, "CITYCHECK_DATA_DIR": str(data),
             "CITYCHECK_PORTAL_INSECURE_COOKIES": "1", **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return proc
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
    raise AssertionError("the portal did not start")


def form_token(html: str) -> str:
    """The CSRF token of a portal page's form."""
    import re

    return re.search(r'name="csrf" value="([^"]+)"', html)[1]
