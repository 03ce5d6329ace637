"""The PostgreSQL engine (`CITYCHECK_WAREHOUSE_TARGET=postgres`): the scale-out path.

Everything happens in the database CITYCHECK_PG_DSN names; no DuckDB file is written:

1. intake lands each batch of files (or each fetch) in schema `raw` with COPY, in one
   transaction. Several processes land at once (the Airflow pool has as many slots as
   workers): a batch judges its records in an in-process DuckDB against the earlier rows
   of the values it holds, read from PostgreSQL under a lock per city and department, and
   files of one city and department land in the order they arrived (intake.queue);
2. dbt builds with `--target postgres` (the models are portable: anything adapter-specific
   is a macro in dbt_project/macros/portable.sql);
3. validation reads the marts (the same suites), builds, validations and publications are
   recorded in schema `audit`;
4. publishing copies `marts` into a new schema and swaps it for `published` in one
   transaction, granting a read-only role SELECT on it.

docs/operations.md describes the deployment.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from citycheck.warehouse.pg_connection import (
    PgConnection,
    connect,
    copy_raw_rows,
    dbt_env,
    ensure_schemas,
    gone_in,
    quote,
    require_dsn,
    shown_dsn,
)
from citycheck.warehouse.pg_landing import PostgresLanding
from citycheck.warehouse.pg_publication import publish_marts
from citycheck.warehouse.raw import RAW_DDL
from common.engine import (
    Engine,
    PublicationOutcome,
    PublicationRequest,
    WarehouseUnavailable,
)


class PostgresEngine(Engine):
    name = "postgres"
    publishes_files = False

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.dsn = require_dsn(settings.pg_dsn)

    def describe(self) -> str:
        return f"PostgreSQL ({shown_dsn(self.dsn)})"

    @contextmanager
    def connect(self, read_only: bool = False):
        with connect(self.dsn) as con:
            if not read_only:
                ensure_schemas(con.raw, self.dsn)
            yield con

    @contextmanager
    def landing(self):
        landing = PostgresLanding(self.dsn)
        try:
            yield landing
        finally:
            landing.close()

    def land(self, frames: dict) -> None:
        import duckdb
        import psycopg2

        with connect(self.dsn) as con, tempfile.TemporaryDirectory() as tmp:
            ensure_schemas(con.raw, self.dsn)
            local = duckdb.connect(":memory:")
            local.execute(RAW_DDL)
            raw = con.raw
            raw.autocommit = False
            try:
                with raw, raw.cursor() as cur:
                    for table, frame in frames.items():
                        local.register("incoming_frame", frame)
                        local.execute(f"insert into raw.{table} by name "
                                      "select * from incoming_frame")
                        copy_raw_rows(local, cur, table, Path(tmp))
            except psycopg2.Error as exc:
                raise WarehouseUnavailable(f"PostgreSQL refused the rows, nothing landed: "
                                           f"{str(exc).strip()}") from None
            finally:
                raw.autocommit = True
                local.close()

    def queue(self, items: list[tuple[str, object]]) -> None:
        """Files listed for intake (name, received_at), replacing the previous list: each
        lands after the older ones of its city and department (PostgresLanding.prepare)."""
        with connect(self.dsn) as con:
            ensure_schemas(con.raw, self.dsn)
            raw = con.raw
            raw.autocommit = False
            try:
                with raw, raw.cursor() as cur:
                    cur.execute("delete from intake.queue")
                    from psycopg2.extras import execute_values

                    if items:
                        execute_values(cur, "insert into intake.queue (name, received_at) "
                                       "values %s on conflict do nothing", items)
            finally:
                raw.autocommit = True

    def writer_slots(self) -> int:
        """CITYCHECK_WRITER_SLOTS (default 4): as many ingest tasks as the workers run at
        once land side by side; builds still run one at a time (the warehouse DAG has one
        active run)."""
        from common.config import ConfigError

        text = os.environ.get("CITYCHECK_WRITER_SLOTS", "4")
        if not text.strip().isdigit() or int(text) < 1:
            raise ConfigError(f"CITYCHECK_WRITER_SLOTS={text!r} is not a positive whole "
                              "number (default 4)")
        return int(text)

    def dbt_env(self) -> dict[str, str]:
        return {"CITYCHECK_DBT_TARGET": "postgres", **dbt_env(self.dsn)}

    def server_gone(self, text: str) -> str | None:
        return gone_in(text)

    def row_hash(self, alias: str) -> str:
        return f"hashtextextended({alias}::text, 0)::numeric"

    def publish(self, con, request: PublicationRequest) -> PublicationOutcome:
        return PublicationOutcome(publish_marts(
            con, request.tables, request.publication_id, request.build_id,
            project_dir=self.settings.dbt_project_dir))

    def recover_publication(self, con) -> str | None:
        """Nothing to finish: a publication commits in one transaction."""
        return self.published_id()

    def read_latest(self):
        import psycopg2

        try:
            raw = psycopg2.connect(self.dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to PostgreSQL ({shown_dsn(self.dsn)}): "
                                       f"{str(exc).strip()}") from None
        raw.set_session(readonly=True, autocommit=True)
        con = PgConnection(raw)
        if con.execute("select to_regclass('marts.mart_submission_status')").fetchone()[0] \
                is None:
            raw.close()
            raise FileNotFoundError("nothing has been built yet: run `citycheck run`")
        return con, "marts.", f"latest build ({self.describe()})"

    def published_id(self) -> str | None:
        con = self._published()
        if con is None:
            return None
        try:
            row = con.execute("select publication_id from published.publication").fetchone()
            return row[0] if row else None
        finally:
            con.raw.close()

    def open_published(self):
        """An in-process DuckDB holding the published schema as it is now (one read-only
        transaction): the reports, pages and SQL prompt speak DuckDB's SQL on either engine.
        None before the first publication."""
        import duckdb
        import psycopg2

        from citycheck.warehouse.star import VIEWS

        kinds = {"text": "VARCHAR", "integer": "INTEGER", "bigint": "BIGINT",
                 "smallint": "SMALLINT", "double precision": "DOUBLE", "real": "FLOAT",
                 "numeric": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
                 "timestamp without time zone": "TIMESTAMP",
                 "timestamp with time zone": "TIMESTAMPTZ"}
        try:
            pg = psycopg2.connect(self.dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to PostgreSQL ({shown_dsn(self.dsn)}): "
                                       f"{str(exc).strip()}") from None
        local = duckdb.connect(":memory:")
        try:
            pg.set_session(readonly=True, isolation_level="REPEATABLE READ")
            with pg.cursor() as cur, tempfile.TemporaryDirectory() as tmp:
                cur.execute("select table_name, column_name, data_type from "
                            "information_schema.columns where table_schema = 'published' "
                            "and table_name in (select table_name from "
                            "information_schema.tables where table_schema = 'published' and "
                            "table_type = 'BASE TABLE') order by table_name, ordinal_position")
                tables: dict[str, list[tuple[str, str]]] = {}
                for table, column, kind in cur.fetchall():
                    tables.setdefault(table, []).append((column, kinds.get(kind, "VARCHAR")))
                if "publication" not in tables:
                    local.close()
                    return None
                for table, columns in tables.items():
                    path = Path(tmp) / f"{table}.csv"
                    with open(path, "wb") as fh:
                        cur.copy_expert(f"copy published.{quote(table)} to stdout with "
                                        "(format csv, header true)", fh)
                    spec = ", ".join(f"'{c}': '{k}'" for c, k in columns)
                    local.execute(f"create table main.{quote(table)} as select * from "
                                  f"read_csv(?, header = true, columns = {{{spec}}})",
                                  [str(path)])
            if "mart_indicator_scorecard" in tables:
                for view, sql in VIEWS.items():
                    local.execute(f"create view {view} as {sql}")
        finally:
            pg.close()
        # what it serves, it serves without file access, like the DuckDB serving file
        # (citycheck.warehouse.reader.READER_CONFIG): the copies it was loaded from are gone
        local.execute("set enable_external_access = false")
        local.execute("set lock_configuration = true")
        return local

    def _published(self):
        """A read-only PostgreSQL connection on schema `published`, None before the first
        publication."""
        import psycopg2

        raw = psycopg2.connect(self.dsn, connect_timeout=10)
        raw.set_session(readonly=True, autocommit=True)
        con = PgConnection(raw)
        try:
            con.execute("set search_path to published")
            con.execute("select 1 from published.publication")
        except psycopg2.Error:
            raw.close()
            return None
        return con

    def published_tables(self):
        con = self._published()
        if con is None:
            return iter(())
        try:
            names = [r[0] for r in con.execute(
                "select table_name from information_schema.tables where table_schema = "
                "'published' and table_type = 'BASE TABLE' and table_name <> 'publication' "
                "order by 1").fetchall()]
            return iter([(n, con.execute(f"select count(*) from published.{quote(n)}")
                          .fetchone()[0]) for n in names])
        finally:
            con.raw.close()
