"""Publish the current publication into PostgreSQL, for BI tools that read a server database.

    citycheck publish --target postgres

Copies every table of the read-only serving copy (what `citycheck publish` last published,
validated) into the schema `published` of the database named by CITYCHECK_PG_DSN, in one
transaction: the tables are built in a schema of their own, then swapped for `published`
(PostgreSQL DDL is transactional, so readers see the old publication or the new one, never a
mix; the swap renames schemas, so it waits for no reader: citycheck/warehouse/pg_publication.py). A role
that can only read (CITYCHECK_PG_READER_ROLE, default citycheck_reader) is granted
SELECT on it; BI tools connect as that role.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import duckdb

from citycheck.publication.publish import PublishRefused
from citycheck.warehouse.pg_connection import (
    DEFAULT_READER_ROLE,
    postgres_went_away,
    shown_dsn,
)
from citycheck.warehouse.pg_publication import drop_retired, replace_schema, timed_out
from common.config import Settings

SCHEMA = "published"
log = logging.getLogger(__name__)


@dataclass
class PostgresPublication:
    publication_id: str
    dsn_shown: str
    reader_role: str
    tables: dict[str, int] = field(default_factory=dict)


def publish_postgres(settings: Settings, dsn: str | None = None,
                     reader_role: str | None = None) -> PostgresPublication:
    import psycopg2

    dsn = dsn or os.environ.get("CITYCHECK_PG_DSN")
    if not dsn:
        raise PublishRefused("no PostgreSQL database named: set CITYCHECK_PG_DSN, e.g. "
                             "'host=127.0.0.1 dbname=citycheck user=citycheck'")
    reader_role = reader_role or os.environ.get("CITYCHECK_PG_READER_ROLE", DEFAULT_READER_ROLE)
    if not settings.serving_path.exists():
        raise PublishRefused("nothing is published yet: run `citycheck run` (or `citycheck "
                             "publish`) first; PostgreSQL receives what was published")
    source = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        publication_id = source.execute("select publication_id from main.publication").fetchone()[0]
        tables = [r[0] for r in source.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_type = 'BASE TABLE' order by table_name").fetchall()]
        try:
            pg = psycopg2.connect(dsn)
        except psycopg2.Error as exc:
            raise PublishRefused(f"cannot connect to PostgreSQL ({shown_dsn(dsn)}): "
                                 f"{str(exc).strip()}") from None
        result = PostgresPublication(publication_id, shown_dsn(dsn), reader_role)
        try:
            with pg, pg.cursor() as cur:
                result.tables = replace_schema(source, "main", tables, cur, SCHEMA,
                                               reader_role, star=settings.dbt_project_dir)
            for line in drop_retired(pg, SCHEMA):
                log.warning(line)
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled) as exc:
            raise PublishRefused(timed_out(exc, pg, SCHEMA, "the PostgreSQL copy")) from None
        except psycopg2.Error as exc:
            if postgres_went_away(exc):
                raise       # said as such by the command: the server went away, run again
            raise PublishRefused(f"PostgreSQL refused the publication, nothing changed there: "
                                 f"{str(exc).strip()}") from None
        finally:
            pg.close()
    finally:
        source.close()
    return result


def publish_everywhere(settings: Settings) -> tuple:
    """`citycheck publish`: the DuckDB publication (citycheck/publication/publish.py) and, when
    CITYCHECK_PG_DSN names a database (DuckDB target), its copy in PostgreSQL as the same
    publication's last step. PostgreSQL cannot commit with DuckDB: if the copy fails, the
    publication is served from the DuckDB file and Parquet, PostgreSQL keeps the previous one,
    `citycheck published` flags it, and `citycheck recover` (or the next publish) copies it.
    Returns (PublishResult, PostgresPublication or None)."""
    from citycheck.publication.publish import publish
    from common.engine import engine_for

    result = publish(settings)
    if not engine_for(settings).publishes_files or not settings.pg_dsn:
        return result, None
    try:
        return result, publish_postgres(settings, settings.pg_dsn)
    except PublishRefused as exc:
        raise PublishRefused(f"publication {result.publication_id} is served from the DuckDB "
                             f"file and Parquet, but PostgreSQL still holds the previous one "
                             f"({exc}); `citycheck recover` copies it once PostgreSQL can take "
                             "it") from None

