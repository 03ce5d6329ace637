"""Talking to PostgreSQL: the DSN, a connection that answers like DuckDB's, the schemas the
engine needs (raw, intake, audit), COPY of a CSV DuckDB wrote."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citycheck.warehouse.raw import RAW_DDL, pg_ddl
from common.engine import WarehouseUnavailable

log = logging.getLogger(__name__)

DEFAULT_READER_ROLE = "citycheck_reader"


# what the PostgreSQL client says when its server went away (crashed, restarted, ended the
# session)
GONE = ("server closed the connection", "terminating connection", "connection already closed",
        "could not receive data", "SSL SYSCALL", "no connection to the server",
        "the database system is shutting down", "the database system is in recovery mode")


def gone_in(text: str) -> str | None:
    """The words in `text` (an error, dbt's message for a node) that say the server went
    away, if any."""
    return next((words for words in GONE if words in text), None)


def postgres_went_away(exc: BaseException) -> bool:
    """A lost connection to PostgreSQL (the server crashed, restarted or ended the session),
    anywhere in the exception's chain."""
    seen = 0
    while exc is not None and seen < 10:
        module = type(exc).__module__ or ""
        if module.startswith(("psycopg2", "psycopg")) and type(exc).__name__ in (
                "OperationalError", "InterfaceError", "AdminShutdown", "CrashShutdown",
                "DatabaseError") and gone_in(str(exc)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def shown_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    from psycopg2.extensions import parse_dsn

    try:
        parts = parse_dsn(dsn)
    except Exception:
        return "(unparseable DSN)"
    return " ".join(f"{k}={'***' if k == 'password' else v}" for k, v in parts.items())


def require_dsn(dsn: str | None) -> str:
    if not dsn:
        raise WarehouseUnavailable(
            "no PostgreSQL database named: set CITYCHECK_PG_DSN, e.g. "
            "'host=127.0.0.1 port=5432 dbname=citycheck user=citycheck'")
    return dsn


def dbt_env(dsn: str) -> dict[str, str]:
    """The variables the `postgres` output of dbt_project/profiles.yml reads, from one DSN."""
    from psycopg2.extensions import parse_dsn

    parts = parse_dsn(dsn)
    return {"CITYCHECK_PG_HOST": parts.get("host", "127.0.0.1"),
            "CITYCHECK_PG_PORT": str(parts.get("port", 5432)),
            "CITYCHECK_PG_USER": parts.get("user", os.environ.get("USER", "postgres")),
            "CITYCHECK_PG_PASSWORD": parts.get("password", ""),
            "CITYCHECK_PG_DBNAME": parts.get("dbname", "citycheck")}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PgConnection:
    """A psycopg2 connection that answers like a DuckDB one for the few calls the audit,
    validation and publish code make: execute(sql, params) with `?` placeholders, then
    fetchone() / fetchall() / df()."""

    def __init__(self, raw):
        self.raw = raw
        self.cursor = raw.cursor()

    def execute(self, sql: str, params=None) -> PgConnection:
        if params:
            sql = sql.replace("%", "%%").replace("?", "%s")
        self.cursor.execute(sql, params or None)
        return self

    def fetchone(self):
        return self.cursor.fetchone()

    def fetchall(self):
        return self.cursor.fetchall()

    @property
    def description(self):
        return self.cursor.description

    def executemany(self, sql: str, rows) -> PgConnection:
        self.cursor.executemany(sql.replace("%", "%%").replace("?", "%s"), rows)
        return self

    def close(self) -> None:
        self.raw.close()

    def df(self):
        import pandas as pd

        columns = [c.name for c in self.cursor.description]
        return pd.DataFrame.from_records(self.cursor.fetchall(), columns=columns)


@contextmanager
def connect(dsn: str) -> Iterator[PgConnection]:
    """Autocommitting connection (one statement, one transaction) unless the caller opens a
    transaction with `begin`."""
    import psycopg2

    try:
        raw = psycopg2.connect(dsn, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        raise WarehouseUnavailable(f"cannot connect to PostgreSQL ({shown_dsn(dsn)}): "
                                  f"{str(exc).strip()}") from None
    raw.autocommit = True
    try:
        yield PgConnection(raw)
    finally:
        raw.close()


INTAKE_DDL = """
create schema if not exists intake;
-- Files listed for intake and not landed yet, oldest first (the DAG's list_inbox task, or
-- `citycheck ingest`): a file lands after the older ones of its city and department.
create table if not exists intake.queue (
    name         text not null,
    received_at  timestamp not null,
    group_key    text,          -- city:department once read; null until then
    listed_at    timestamptz not null default now(),
    primary key (name, received_at)
);
-- a record's key (the DuckDB engine has none: raw.py says why); a warehouse made with the
-- key as a primary key keeps that index and gets no second one
do $$ begin
    if not exists (select from pg_constraint where conrelid = 'raw.submission_rows'::regclass
                   and contype = 'p') then
        create unique index if not exists submission_rows_key
            on raw.submission_rows (file_hash, record_number);
    end if;
end $$;
-- what a batch reads of the earlier rows: those of its values (PostgresLanding._history),
-- found by index rather than by scanning raw for every batch
create index if not exists submission_rows_by_value on raw.submission_rows
    (indicator_code, district_code, year) where status = 'accepted';
create index if not exists open_data_observations_by_value on raw.open_data_observations
    (indicator_code, district_code, year) where status = 'accepted';
"""
_READY: set[str] = set()   # DSNs whose raw, intake and audit schemas this process has made


def ensure_schemas(raw, dsn: str) -> None:
    """raw.*, intake.* and audit.* exist: made once per process, under a lock (concurrent
    `create table if not exists` can fail on PostgreSQL's catalog)."""
    if dsn in _READY:
        return
    from citycheck.warehouse.audit import AUDIT_DDL

    saved, raw.autocommit = raw.autocommit, False
    try:
        with raw, raw.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('citycheck.schemas'))")
            cur.execute(pg_ddl(RAW_DDL))
            cur.execute(INTAKE_DDL)
            cur.execute(pg_ddl(AUDIT_DDL))
    finally:
        raw.autocommit = saved
    _READY.add(dsn)


def copy_raw_rows(duck, cur, table: str, folder: Path, where: str = "",
                  params: list | None = None) -> None:
    """Append the rows of a DuckDB connection's raw.<table> (those `where` keeps) to
    PostgreSQL's raw.<table>, inside the caller's transaction: through a CSV DuckDB writes
    (header, every value quoted, NULL bare, so empty strings and NULLs stay apart) and COPY.
    The tables have the same columns on both sides (citycheck/warehouse/raw.py)."""
    columns = [r[0] for r in duck.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = ? order by ordinal_position", [table]).fetchall()]
    path = folder / f"{table}.csv"
    duck.execute(f"copy (select * from raw.{table} {where}) to '{path}' "
                 "(format csv, header true, force_quote *)", params or [])
    with open(path, "rb") as fh:
        cur.copy_expert(f"copy raw.{quote(table)} ({', '.join(quote(c) for c in columns)}) "
                        "from stdin with (format csv, header true)", fh)
    path.unlink()
