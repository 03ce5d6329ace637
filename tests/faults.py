"""Helpers of the fault-injection tests: run the real CLI in a process of its own, killed at a
named point (common/faults.py) or failing a write, and read what a user would find."""
from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from citycheck.publication.publish import parquet_location
from citycheck.warehouse.reader import open_reader
from common.config import Settings


def cli(settings: Settings, *args: str, crash_at: str | None = None, fail_at: str | None = None,
        term_at: str | None = None, file_size_limit: int | None = None,
        env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`citycheck ARGS` in a new process on the test's data dir. `crash_at`: SIGKILL at that
    point; `term_at`: SIGTERM there; `fail_at`: ENOSPC there; `file_size_limit`: no file may
    grow past this many bytes (RLIMIT_FSIZE, as a full disk would stop it; SIGXFSZ ignored so
    the write fails)."""
    environ = dict(os.environ, CITYCHECK_DATA_DIR=str(settings.data_dir))
    environ.update(env or {})
    for variable in ("CITYCHECK_CRASH_AT", "CITYCHECK_FAIL_AT", "CITYCHECK_TERM_AT"):
        environ.pop(variable, None)
    if crash_at:
        environ["CITYCHECK_CRASH_AT"] = crash_at
    if term_at:
        environ["CITYCHECK_TERM_AT"] = term_at
    if fail_at:
        environ["CITYCHECK_FAIL_AT"] = fail_at

    def limit():
        if file_size_limit:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run([sys.executable, "-m", "citycheck.cli", *args], env=environ,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit)


def killed(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode == -signal.SIGKILL


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def warehouse(settings: Settings, sql: str, params=None) -> list[tuple]:
    """Rows of the warehouse of `settings`, whichever its engine."""
    from tests.helpers import query

    return query(settings, sql, params)


def served_fingerprints(settings: Settings) -> dict[str, tuple[int, str]]:
    """What a reader of the serving file gets, by content (the fingerprint publish uses)."""
    from citycheck.publication.publish import fingerprints

    con = open_reader(settings.serving_path)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_name <> 'publication' and table_type = 'BASE TABLE' order by 1"
        ).fetchall()]
        return fingerprints(con, "main", tables)
    finally:
        con.close()


def served_publication(settings: Settings) -> str:
    con = open_reader(settings.serving_path)
    try:
        return con.execute("select publication_id from publication").fetchone()[0]
    finally:
        con.close()


def parquet_rows(settings: Settings) -> dict[str, int]:
    """mart -> rows in the published Parquet set (a file per mart, or one per year)."""
    folder = settings.published_dir / "parquet"
    marts = sorted({p.stem for p in folder.glob("*.parquet")} |
                   {p.name for p in folder.iterdir() if p.is_dir()})
    return {t: duckdb.sql(f"select count(*) from '{parquet_location(folder, t)}'"
                          ).fetchall()[0][0] for t in marts}


def leftovers(settings: Settings) -> list[str]:
    """Anything under published/ that is not a committed publication or a reader's link."""
    root = settings.published_dir
    committed = {r[0] for r in warehouse(settings, "select publication_id from "
                                                   "audit.publications")}
    found = [p.name for p in root.iterdir()
             if p.name not in {"publications", "current", "citycheck.duckdb", "parquet"}]
    pubs = root / "publications"
    if pubs.is_dir():
        found += [f"publications/{p.name}" for p in pubs.iterdir() if p.name not in committed]
    return sorted(found)
