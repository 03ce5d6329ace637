"""The warehouse on PostgreSQL (`CITYCHECK_WAREHOUSE_TARGET=postgres`): the scale-out path.

Intake still lands every file and fetch in the DuckDB file's append-only raw schema (one
writer, in the warehouse pool). With the postgres target, each build then:

1. mirrors the raw schema into the PostgreSQL database named by CITYCHECK_PG_DSN (schema
   `raw`, replaced in one transaction, so dbt never sees half a copy);
2. runs the same dbt project with `--target postgres` (the models are portable: anything
   adapter-specific is a macro in dbt_project/macros/portable.sql);
3. records builds, validations and publications in that database's `audit` schema;

validation reads the marts from PostgreSQL into DataFrames (the same Great Expectations
suites), and publishing swaps `marts` into `published` inside PostgreSQL in one transaction
and grants a read-only role SELECT on it. docs/operations.md describes the deployment.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_READER_ROLE = "citycheck_reader"


class PostgresUnavailable(Exception):
    """The PostgreSQL warehouse cannot be reached or is not configured."""


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
        raise PostgresUnavailable(
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
        raise PostgresUnavailable(f"cannot connect to PostgreSQL ({shown_dsn(dsn)}): "
                                  f"{str(exc).strip()}") from None
    raw.autocommit = True
    try:
        yield PgConnection(raw)
    finally:
        raw.close()


# DuckDB type (prefix) -> PostgreSQL type; anything else is copied as text.
TYPES = [("BIGINT", "bigint"), ("HUGEINT", "numeric"), ("INTEGER", "integer"),
         ("SMALLINT", "smallint"), ("TINYINT", "smallint"), ("DOUBLE", "double precision"),
         ("FLOAT", "real"), ("DECIMAL", "numeric"), ("BOOLEAN", "boolean"), ("DATE", "date"),
         ("TIMESTAMP WITH TIME ZONE", "timestamptz"), ("TIMESTAMP", "timestamp"),
         ("VARCHAR", "text")]


def pg_type(duckdb_type: str) -> str:
    upper = duckdb_type.upper()
    return next((pg for prefix, pg in TYPES if upper.startswith(prefix)), "text")


def copy_table(source, cur, source_schema: str, dest_schema: str, table: str, tmp: Path) -> int:
    """Copy one DuckDB table into a new PostgreSQL table of the same columns (psycopg2 cursor,
    inside the caller's transaction). Returns the rows copied."""
    from citycheck.publish import sql_path

    columns = source.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? "
        "and table_name = ? order by ordinal_position", [source_schema, table]).fetchall()
    ddl = ", ".join(f"{quote(c)} {pg_type(t)}" for c, t in columns)
    cur.execute(f"create table {dest_schema}.{quote(table)} ({ddl})")
    path = tmp / f"{table}.csv"
    # Empty strings are quoted and NULLs are bare, so PostgreSQL tells them apart.
    source.execute(f"copy {source_schema}.{quote(table)} to {sql_path(path)} "
                   "(format csv, header true, force_quote *)")
    with open(path, "rb") as fh:
        cur.copy_expert(f"copy {dest_schema}.{quote(table)} from stdin with (format csv, "
                        "header true)", fh)
    path.unlink()
    cur.execute(f"select count(*) from {dest_schema}.{quote(table)}")
    return cur.fetchone()[0]


def replace_schema(source, source_schema: str, tables: list[str], cur, final: str
                   ) -> dict[str, int]:
    """Copy DuckDB tables into `<final>_next`, then swap that for `final`, inside the
    caller's transaction (an exception before it commits leaves `final` as it was).
    Returns rows per table."""
    staging = f"{final}_next"
    counts = {}
    cur.execute(f"drop schema if exists {staging} cascade")
    cur.execute(f"create schema {staging}")
    with tempfile.TemporaryDirectory() as tmp:
        for t in tables:
            counts[t] = copy_table(source, cur, source_schema, staging, t, Path(tmp))
    swap_schema(cur, staging, final)
    return counts


def swap_schema(cur, staging: str, final: str) -> None:
    """Replace schema `final` by `staging` (inside the caller's transaction: readers see the
    old one or the new one)."""
    cur.execute(f"drop schema if exists {final} cascade")
    cur.execute(f"alter schema {staging} rename to {final}")


def mirror_raw(settings, dsn: str) -> dict[str, int]:
    """Copy the DuckDB raw schema into PostgreSQL schema `raw`, replaced in one transaction.
    Returns rows per table (the same counts as in DuckDB: checked)."""
    import duckdb
    import psycopg2

    from citycheck.warehouse import connect as duck_connect

    with duck_connect(settings.warehouse_path):  # make sure raw.* exists (an empty warehouse)
        pass
    source = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        tables = [r[0] for r in source.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' "
            "and table_type = 'BASE TABLE' order by 1").fetchall()]
        expected = {t: source.execute(f"select count(*) from raw.{quote(t)}").fetchone()[0]
                    for t in tables}
        try:
            pg = psycopg2.connect(dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            raise PostgresUnavailable(f"cannot connect to PostgreSQL ({shown_dsn(dsn)}): "
                                      f"{str(exc).strip()}") from None
        try:
            with pg, pg.cursor() as cur:  # one transaction: a short copy replaces nothing
                copied = replace_schema(source, "raw", tables, cur, "raw")
                if copied != expected:
                    raise RuntimeError(f"raw mirror incomplete: copied {copied}, DuckDB has "
                                       f"{expected}; nothing was replaced")
        finally:
            pg.close()
    finally:
        source.close()
    return copied


def grant_reader(cur, schema: str, role: str) -> None:
    cur.execute("select 1 from pg_roles where rolname = %s", [role])
    if cur.fetchone() is None:
        cur.execute(f"create role {quote(role)} login")
    cur.execute(f"grant usage on schema {schema} to {quote(role)}")
    cur.execute(f"grant select on all tables in schema {schema} to {quote(role)}")
    # a reader sees the data and cannot change it, nor create its own tables beside it
    cur.execute(f"revoke create on schema {schema} from public")


def publish_marts(con: PgConnection, tables: list[str], reader_role: str | None = None) -> dict:
    """Copy marts.* into a new schema and swap it for `published`, in one transaction."""
    reader_role = reader_role or os.environ.get("CITYCHECK_PG_READER_ROLE", DEFAULT_READER_ROLE)
    counts = {}
    raw = con.raw
    raw.autocommit = False
    try:
        with raw, raw.cursor() as cur:
            cur.execute("drop schema if exists published_next cascade")
            cur.execute("create schema published_next")
            for t in tables:
                cur.execute(f"create table published_next.{quote(t)} as "
                            f"select * from marts.{quote(t)}")
                cur.execute(f"select count(*) from published_next.{quote(t)}")
                counts[t] = cur.fetchone()[0]
            swap_schema(cur, "published_next", "published")
            grant_reader(cur, "published", reader_role)
    finally:
        raw.autocommit = True
    return counts
