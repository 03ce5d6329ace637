"""Publish the current publication into PostgreSQL, for BI tools that read a server database.

    citycheck publish --target postgres

Copies every table of the read-only serving copy (what `citycheck publish` last published,
validated) into the schema `published` of the database named by CITYCHECK_PG_DSN, in one
transaction: the tables are built in a schema of their own, then swapped for `published`
(PostgreSQL DDL is transactional, so readers see the old publication or the new one, never a
mix). A role that can only read (CITYCHECK_PG_READER_ROLE, default citycheck_reader) is granted
SELECT on it; BI tools connect as that role.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from citycheck.config import Settings
from citycheck.publish import PublishRefused, sql_path

SCHEMA = "published"
# DuckDB type (prefix) -> PostgreSQL type; anything else is copied as text.
TYPES = [("BIGINT", "bigint"), ("HUGEINT", "numeric"), ("INTEGER", "integer"),
         ("SMALLINT", "smallint"), ("TINYINT", "smallint"), ("DOUBLE", "double precision"),
         ("FLOAT", "real"), ("DECIMAL", "numeric"), ("BOOLEAN", "boolean"), ("DATE", "date"),
         ("TIMESTAMP WITH TIME ZONE", "timestamptz"), ("TIMESTAMP", "timestamp"),
         ("VARCHAR", "text")]


@dataclass
class PostgresPublication:
    publication_id: str
    dsn_shown: str
    reader_role: str
    tables: dict[str, int] = field(default_factory=dict)


def pg_type(duckdb_type: str) -> str:
    upper = duckdb_type.upper()
    return next((pg for prefix, pg in TYPES if upper.startswith(prefix)), "text")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def shown_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    from psycopg2.extensions import parse_dsn

    try:
        parts = parse_dsn(dsn)
    except Exception:
        return "(unparseable DSN)"
    return " ".join(f"{k}={'***' if k == 'password' else v}" for k, v in parts.items())


def publish_postgres(settings: Settings, dsn: str | None = None,
                     reader_role: str | None = None) -> PostgresPublication:
    import psycopg2

    dsn = dsn or os.environ.get("CITYCHECK_PG_DSN")
    if not dsn:
        raise PublishRefused("no PostgreSQL database named: set CITYCHECK_PG_DSN, e.g. "
                             "'host=127.0.0.1 dbname=citycheck user=citycheck'")
    reader_role = reader_role or os.environ.get("CITYCHECK_PG_READER_ROLE", "citycheck_reader")
    if not settings.serving_path.exists():
        raise PublishRefused("nothing is published yet: run `citycheck run` (or `citycheck "
                             "publish`) first; PostgreSQL receives what was published")
    source = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        publication_id = source.execute("select publication_id from main.publication").fetchone()[0]
        tables = [r[0] for r in source.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "order by table_name").fetchall()]
        try:
            pg = psycopg2.connect(dsn)
        except psycopg2.Error as exc:
            raise PublishRefused(f"cannot connect to PostgreSQL ({shown_dsn(dsn)}): "
                                 f"{str(exc).strip()}") from None
        result = PostgresPublication(publication_id, shown_dsn(dsn), reader_role)
        staging = f"{SCHEMA}_next"
        try:
            with pg, pg.cursor() as cur, tempfile.TemporaryDirectory() as tmp:
                cur.execute(f"drop schema if exists {staging} cascade")
                cur.execute(f"create schema {staging}")
                for table in tables:
                    result.tables[table] = _copy_table(source, cur, staging, table, Path(tmp))
                cur.execute(f"drop schema if exists {SCHEMA} cascade")
                cur.execute(f"alter schema {staging} rename to {SCHEMA}")
                _grant_reader(cur, reader_role)
        except psycopg2.Error as exc:
            raise PublishRefused(f"PostgreSQL refused the publication, nothing changed there: "
                                 f"{str(exc).strip()}") from None
        finally:
            pg.close()
    finally:
        source.close()
    return result


def _copy_table(source, cur, schema: str, table: str, tmp: Path) -> int:
    columns = source.execute(
        "select column_name, data_type from information_schema.columns where table_schema = "
        "'main' and table_name = ? order by ordinal_position", [table]).fetchall()
    ddl = ", ".join(f"{_quote(c)} {pg_type(t)}" for c, t in columns)
    cur.execute(f"create table {schema}.{_quote(table)} ({ddl})")
    path = tmp / f"{table}.csv"
    # Empty strings are quoted and NULLs are bare, so PostgreSQL tells them apart.
    source.execute(f"copy main.{_quote(table)} to {sql_path(path)} "
                   "(format csv, header true, force_quote *)")
    with open(path, "rb") as fh:
        cur.copy_expert(f"copy {schema}.{_quote(table)} from stdin with (format csv, header true)",
                        fh)
    cur.execute(f"select count(*) from {schema}.{_quote(table)}")
    return cur.fetchone()[0]


def _grant_reader(cur, role: str) -> None:
    cur.execute("select 1 from pg_roles where rolname = %s", [role])
    if cur.fetchone() is None:
        cur.execute(f"create role {_quote(role)} login")
    cur.execute(f"grant usage on schema {SCHEMA} to {_quote(role)}")
    cur.execute(f"grant select on all tables in schema {SCHEMA} to {_quote(role)}")
    # a reader sees the data and cannot change it, nor create its own tables beside it
    cur.execute(f"revoke create on schema {SCHEMA} from public")
