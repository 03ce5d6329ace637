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

import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citycheck.warehouse.raw import OPEN_DATA_TABLES, RAW_DDL, SUBMISSION_TABLES, pg_ddl
from common.engine import (
    Engine,
    Landing,
    LandingConflict,
    PublicationOutcome,
    PublicationRequest,
    PublishRefused,
    WarehouseUnavailable,
)
from common.faults import crash_point

DEFAULT_READER_ROLE = "citycheck_reader"
log = logging.getLogger(__name__)


PostgresUnavailable = WarehouseUnavailable   # the name earlier code and tests use

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

    engine = "postgres"

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
    from citycheck.warehouse.marts import comment_statements, comments, sql_path

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
    for statement in comment_statements(*comments(source, source_schema, table),
                                        f"{dest_schema}.{quote(table)}"):
        cur.execute(statement)
    cur.execute(f"select count(*) from {dest_schema}.{quote(table)}")
    return cur.fetchone()[0]


def copy_comments(cur, source_schema: str, dest_schema: str, tables: list[str]) -> None:
    """The table and column comments of source_schema's tables, onto the tables of the same
    names in dest_schema (`create table … as select` leaves them behind)."""
    cur.execute(
        "select c.relname, null, obj_description(c.oid, 'pg_class') from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s "
        "and c.relname = any(%s) and obj_description(c.oid, 'pg_class') is not null "
        "union all "
        "select c.relname, a.attname, col_description(c.oid, a.attnum) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on "
        "a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped where n.nspname = %s "
        "and c.relname = any(%s) and col_description(c.oid, a.attnum) is not null",
        [source_schema, tables, source_schema, tables])
    for table, column, text in cur.fetchall():
        target = f"{dest_schema}.{quote(table)}" + (f".{quote(column)}" if column else "")
        cur.execute(f"comment on {'column' if column else 'table'} {target} is %s", [text])


def replace_schema(source, source_schema: str, tables: list[str], cur, final: str,
                   reader_role: str | None = None, star: Path | None = None) -> dict[str, int]:
    """Copy DuckDB tables into a staging schema, grant `reader_role` on it, then swap it for
    `final`, inside the caller's transaction, bounded by set_timeouts (an exception before it
    commits leaves `final` as it was). With `star` (the dbt project), the marts' keys and views
    are declared (declare_star). Returns rows per table."""
    staging = f"{final}_next"
    counts = {}
    set_timeouts(cur)
    cur.execute(f"drop schema if exists {staging} cascade")
    cur.execute(f"create schema {staging}")
    with tempfile.TemporaryDirectory() as tmp:
        for t in tables:
            counts[t] = copy_table(source, cur, source_schema, staging, t, Path(tmp))
    if star is not None:
        declare_star(cur, staging, tables, star)
    if reader_role:
        grant_reader(cur, staging, reader_role)
    swap_schema(cur, staging, final)
    return counts


RETIRED = "_retired_"


def swap_schema(cur, staging: str, final: str) -> None:
    """Put schema `staging` in the place of `final` by renaming both, inside the caller's
    transaction: readers see the old one or the new one. Renaming a schema takes no lock on
    its tables, so a reader idle in a transaction on the old tables neither blocks the swap
    nor is blocked by it; the old schema is dropped afterwards (drop_retired), when no
    reader holds it any more."""
    cur.execute("select 1 from pg_namespace where nspname = %s", [final])
    if cur.fetchone() is not None:
        cur.execute(f"alter schema {final} rename to "
                    f"{final}{RETIRED}{uuid.uuid4().hex[:8]}")
    cur.execute(f"alter schema {staging} rename to {final}")


def drop_retired(raw, final: str) -> list[str]:
    """Drop the schemas earlier swaps retired, each in its own short transaction that waits
    at most a second for its lock: one a reader still holds stays for the next publication.
    Returns a line per schema left, naming the sessions that hold it."""
    import psycopg2

    left = []
    saved, raw.autocommit = raw.autocommit, False
    try:
        with raw, raw.cursor() as cur:
            cur.execute("select nspname from pg_namespace where nspname like %s",
                        [f"{final}{RETIRED}%"])
            retired = [r[0] for r in cur.fetchall()]
        for schema in retired:
            try:
                with raw, raw.cursor() as cur:
                    cur.execute("set local lock_timeout = '1s'")
                    cur.execute(f"drop schema {schema} cascade")
            except psycopg2.errors.LockNotAvailable as exc:
                holders = blocking_sessions(raw, schema)
                left.append(f"{schema} is kept until its readers finish: {holders or exc}")
    finally:
        raw.autocommit = saved
    return left


def blocking_sessions(raw, schema: str) -> str:
    """The other sessions holding locks on tables of `schema`: pid, user, application,
    state and since when, for a message a database administrator can act on. (Called after
    the caller's transaction was rolled back; it reads in a transaction of its own.)"""
    try:
        with raw.cursor() as cur:
            cur.execute("""
                select distinct a.pid, a.usename, a.application_name, a.state,
                       coalesce(a.xact_start, a.state_change)
                from pg_locks l
                join pg_class c on c.oid = l.relation
                join pg_namespace n on n.oid = c.relnamespace
                join pg_stat_activity a on a.pid = l.pid
                where n.nspname = %s and l.pid <> pg_backend_pid()
                order by 1""", [schema])
            rows = cur.fetchall()
    finally:
        if not raw.autocommit:
            raw.rollback()
    return "; ".join(f"pid {pid} (user {user}, application '{app or '-'}', {state}, since "
                     f"{since:%Y-%m-%d %H:%M:%S})" for pid, user, app, state, since in rows)


def set_timeouts(cur) -> None:
    """Bound every statement of a publication (SET LOCAL: this transaction only):
    CITYCHECK_PG_LOCK_TIMEOUT (default 10s) for a lock, CITYCHECK_PG_STATEMENT_TIMEOUT
    (default 30min) for a statement."""
    cur.execute("select set_config('lock_timeout', %s, true), "
                "set_config('statement_timeout', %s, true)",
                [os.environ.get("CITYCHECK_PG_LOCK_TIMEOUT", "10s"),
                 os.environ.get("CITYCHECK_PG_STATEMENT_TIMEOUT", "30min")])


def timed_out(exc: Exception, raw, schema: str, what: str) -> str:
    """A one-line message for a publication PostgreSQL stopped on a timeout."""
    holders = blocking_sessions(raw, schema)
    return (f"{what} stopped after waiting too long ({str(exc).strip().splitlines()[0]}); "
            f"nothing changed, the previous publication is still served. Sessions holding "
            f"{schema}: {holders or 'none now'}. Raise CITYCHECK_PG_LOCK_TIMEOUT or "
            "CITYCHECK_PG_STATEMENT_TIMEOUT, or end those sessions")


def declare_star(cur, schema: str, tables: list[str], project_dir: Path) -> None:
    """Primary and foreign keys on the published marts (from the YAML's unique/not_null and
    relationships tests, citycheck/warehouse/star.py), and the scorecard's district and city views, so a
    BI tool reflects the star schema. A key the rows break refuses the publication."""
    from citycheck.warehouse.star import VIEW_COMMENTS, VIEWS, star_keys

    keys, foreign = star_keys(project_dir)
    present = set(tables)
    for table, column in keys.items():
        if table in present:
            cur.execute(f"alter table {schema}.{quote(table)} add primary key ({quote(column)})")
    for table, column, ref, ref_column in foreign:
        if table in present and ref in present:
            cur.execute(f"alter table {schema}.{quote(table)} add foreign key ({quote(column)}) "
                        f"references {schema}.{quote(ref)} ({quote(ref_column)})")
    if "mart_indicator_scorecard" in present:
        for view, sql in VIEWS.items():
            cur.execute(f"create view {schema}.{quote(view)} as "
                        + sql.replace("from mart_", f"from {schema}.mart_"))
            cur.execute(f"comment on view {schema}.{quote(view)} is %s", [VIEW_COMMENTS[view]])
            # the views' columns are the scorecard's: so are their descriptions
            cur.execute("select a.attname, col_description(a.attrelid, a.attnum) "
                        "from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0 "
                        "and not a.attisdropped",
                        [f"{schema}.mart_indicator_scorecard"])
            for column, text in cur.fetchall():
                if text:
                    cur.execute(f"comment on column {schema}.{quote(view)}.{quote(column)} "
                                "is %s", [text])


def grant_reader(cur, schema: str, role: str) -> None:
    cur.execute("select 1 from pg_roles where rolname = %s", [role])
    if cur.fetchone() is None:
        cur.execute(f"create role {quote(role)} login")
    cur.execute(f"grant usage on schema {schema} to {quote(role)}")
    cur.execute(f"grant select on all tables in schema {schema} to {quote(role)}")
    # a reader sees the data and cannot change it, nor create its own tables beside it
    cur.execute(f"revoke create on schema {schema} from public")


def publish_marts(con: PgConnection, tables: list[str], publication_id: str,
                  build_id: str, reader_role: str | None = None,
                  project_dir: Path | None = None) -> dict:
    """Copy marts.* into a new schema and swap it for `published`, with the audit row, in one
    bounded transaction (set_timeouts); then drop the schemas earlier swaps retired."""
    import psycopg2

    reader_role = reader_role or os.environ.get("CITYCHECK_PG_READER_ROLE", DEFAULT_READER_ROLE)
    counts = {}
    raw = con.raw
    raw.autocommit = False
    try:
        with raw, raw.cursor() as cur:
            set_timeouts(cur)
            cur.execute("drop schema if exists published_next cascade")
            cur.execute("create schema published_next")
            for t in tables:
                cur.execute(f"create table published_next.{quote(t)} as "
                            f"select * from marts.{quote(t)}")
                cur.execute(f"select count(*) from published_next.{quote(t)}")
                counts[t] = cur.fetchone()[0]
            copy_comments(cur, "marts", "published_next", tables)
            if project_dir is not None:
                declare_star(cur, "published_next", tables, project_dir)
            cur.execute("create table published_next.publication as select %s::text as "
                        "publication_id, %s::text as build_id, now() as published_at",
                        [publication_id, build_id])
            grant_reader(cur, "published_next", reader_role)
            swap_schema(cur, "published_next", "published")
            cur.execute("insert into audit.publications values (%s,%s,now(),%s,%s,null,null)",
                        [publication_id, build_id, len(tables), sum(counts.values())])
    except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled) as exc:
        raise PublishRefused(timed_out(exc, raw, "published", "the PostgreSQL publication")
                             ) from None
    finally:
        raw.autocommit = True
    for line in drop_retired(raw, "published"):
        log.warning(line)
    return counts


# -- the engine -------------------------------------------------------------------------------

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
-- what a batch reads of the earlier rows: those of its values (PostgresLanding._history),
-- found by index rather than by scanning raw for every batch
create index if not exists submission_rows_by_value on raw.submission_rows
    (indicator_code, district_code, year) where status = 'accepted';
create index if not exists open_data_observations_by_value on raw.open_data_observations
    (indicator_code, district_code, year) where status = 'accepted';
"""
_READY: set[str] = set()   # DSNs whose raw, intake and audit schemas this process has made


def _ensure_schemas(raw, dsn: str) -> None:
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


def _copy_in(cur, table: str, columns: list[str], path: Path) -> None:
    """COPY a CSV written by DuckDB (header, every value quoted, NULL bare) into `table`."""
    with open(path, "rb") as fh:
        cur.copy_expert(f"copy {table} ({', '.join(quote(c) for c in columns)}) from stdin "
                        "with (format csv, header true)", fh)


def _order_wait() -> float:
    return float(os.environ.get("CITYCHECK_INTAKE_ORDER_WAIT", "300"))


class PostgresLanding(Landing):
    """An intake batch: judged in an in-process DuckDB (con) holding the earlier rows of the
    batch's values, landed in PostgreSQL with COPY in one transaction."""

    def __init__(self, engine: PostgresEngine) -> None:
        import duckdb
        import psycopg2

        self.dsn = engine.dsn
        try:
            self.pg = psycopg2.connect(self.dsn, connect_timeout=10,
                                       application_name="citycheck intake")
        except psycopg2.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to PostgreSQL ({shown_dsn(self.dsn)}): "
                                       f"{str(exc).strip()}") from None
        self.pg.autocommit = True
        _ensure_schemas(self.pg, self.dsn)
        self.con = duckdb.connect(":memory:")
        self.con.execute(RAW_DDL)
        self.tmp = tempfile.TemporaryDirectory(prefix="citycheck-landing-")
        self.mine: list[tuple[str, object]] = []

    def close(self) -> None:
        self.con.close()
        self.pg.close()
        self.tmp.cleanup()

    def known_files(self, digests):
        with self.pg.cursor() as cur:
            cur.execute("select file_hash, original_name, received_at, status, archived_path, "
                        "city_code, department_code, year from raw.submission_files "
                        "where file_hash = any(%s)", [list(digests)])
            return {row[0]: row[1:] for row in cur.fetchall()}

    def receipt_hashes(self):
        with self.pg.cursor() as cur:
            cur.execute("select file_hash from raw.submission_receipts")
            return [r[0] for r in cur.fetchall()]

    def receipt_texts(self, digests):
        with self.pg.cursor() as cur:
            cur.execute("select file_hash, receipt_json from raw.submission_receipts "
                        "where file_hash = any(%s)", [list(digests)])
            return cur.fetchall()

    def prepare(self, digests, groups, received) -> None:
        """Wait for the older files of the batch's groups, lock the groups, check that no
        file of the batch landed meanwhile, and bring the earlier rows of its values into
        con's raw tables."""
        import time

        self.mine = list(received)
        keys = sorted({g for g in groups if g})
        with self.pg.cursor() as cur:   # say what the batch's files are, for the others
            for (name, at), group in zip(received, groups, strict=True):
                cur.execute("update intake.queue set group_key = %s where name = %s "
                            "and received_at = %s", [group, name, at])
        deadline = time.monotonic() + _order_wait()
        self.pg.autocommit = False
        while True:
            cur = self.pg.cursor()
            for key in keys + sorted(digests):
                cur.execute("select pg_advisory_xact_lock(hashtext(%s))",
                            [f"citycheck.intake:{key}"])
            if not keys or not self._older_waiting(cur, keys) or time.monotonic() > deadline:
                break
            self.pg.rollback()          # let the older file of the group land first
            time.sleep(0.2)
        if self._older_waiting(cur, keys):
            log.warning("landing %s although older files of %s are still listed: they did "
                        "not land within CITYCHECK_INTAKE_ORDER_WAIT=%ss",
                        ", ".join(n for n, _ in received), ", ".join(keys), _order_wait())
        cur.execute("select file_hash from raw.submission_files where file_hash = any(%s)",
                    [list(digests)])
        if cur.fetchall():
            raise LandingConflict("a file of the batch landed meanwhile")
        self._history(cur)

    def _older_waiting(self, cur, keys: list[str]) -> bool:
        """A file of the queue older than the batch's, of one of its groups or not read yet,
        and not the batch's own."""
        oldest = min(at for _, at in self.mine) if self.mine else None
        if oldest is None:
            return False
        cur.execute("select count(*) from intake.queue where received_at < %s and "
                    "(group_key is null or group_key = any(%s)) and "
                    "(name, received_at) not in (select * from unnest(%s::text[], "
                    "%s::timestamp[]))",
                    [oldest, keys, [n for n, _ in self.mine], [a for _, a in self.mine]])
        return cur.fetchone()[0] > 0

    def _history(self, cur) -> None:
        """The earlier rows the batch's judgement reads (extract/submissions: what each value
        supersedes, the plausibility rules): those of its values, the year before and the
        city's, into con's raw tables (emptied first: con serves one batch at a time)."""
        for table in (*SUBMISSION_TABLES, *OPEN_DATA_TABLES):
            self.con.execute(f"delete from raw.{table}")
        keys = self.con.execute("""
            select distinct indicator_code, district_code, year from incoming_rows
            where status = 'accepted'
            union select distinct indicator_code, district_code, year - 1 from incoming_rows
            where status = 'accepted'
            union select distinct r.indicator_code, f.city_code, r.year
            from incoming_rows as r join incoming_files as f using (file_hash)
            where r.status = 'accepted'""").fetchall()
        if not keys:
            return
        cur.execute("create temp table batch_keys (indicator_code text, district_code text, "
                    "year integer) on commit drop")
        from psycopg2.extras import execute_values

        execute_values(cur, "insert into batch_keys values %s", keys, page_size=5000)
        cur.execute("analyze batch_keys")
        queries = {
            "submission_rows": "select r.* from raw.submission_rows as r join batch_keys "
                               "using (indicator_code, district_code, year) "
                               "where r.status = 'accepted'",
            "open_data_observations": "select o.* from raw.open_data_observations as o join "
                                      "batch_keys using (indicator_code, district_code, year) "
                                      "where o.status = 'accepted'"}
        for table, sql in queries.items():
            self._pull(cur, table, sql)
        self._pull(cur, "submission_files", "select * from raw.submission_files where "
                   "file_hash in (select distinct r.file_hash from raw.submission_rows as r "
                   "join batch_keys using (indicator_code, district_code, year))")
        self._pull(cur, "open_data_fetches", "select * from raw.open_data_fetches where "
                   "fetch_id in (select distinct o.fetch_id from raw.open_data_observations "
                   "as o join batch_keys using (indicator_code, district_code, year))")

    def _pull(self, cur, table: str, sql: str) -> None:
        """Rows of a PostgreSQL query into con's raw.<table> (CSV through COPY: the columns
        are the same on both sides)."""
        path = Path(self.tmp.name) / f"{table}.csv"
        with open(path, "wb") as fh:
            cur.copy_expert(f"copy ({sql}) to stdout with (format csv, header true)", fh)
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in self.con.execute(
            "select column_name, data_type from information_schema.columns where "
            "table_schema = 'raw' and table_name = ? order by ordinal_position",
            [table]).fetchall())
        self.con.execute(f"insert into raw.{table} select * from read_csv(?, header = true, "
                         f"columns = {{{columns}}})", [str(path)])
        path.unlink()

    def commit(self, digests) -> None:
        cur = self.pg.cursor()
        try:
            for table in SUBMISSION_TABLES:
                columns = [r[0] for r in self.con.execute(
                    "select column_name from information_schema.columns where table_schema = "
                    "'raw' and table_name = ? order by ordinal_position", [table]).fetchall()]
                path = Path(self.tmp.name) / f"{table}.csv"
                self.con.execute(f"copy (select * from raw.{table} where file_hash in (select "
                                 f"unnest(?))) to '{path}' (format csv, header true, "
                                 "force_quote *)", [list(digests)])
                _copy_in(cur, f"raw.{table}", columns, path)
                path.unlink()
            cur.execute("delete from intake.queue where (name, received_at) in (select * from "
                        "unnest(%s::text[], %s::timestamp[]))",
                        [[n for n, _ in self.mine], [a for _, a in self.mine]])
            crash_point("ingest.in_transaction")
            self.pg.commit()
        except Exception as exc:
            import psycopg2

            self.pg.rollback()
            if isinstance(exc, psycopg2.errors.UniqueViolation):
                raise LandingConflict(str(exc).splitlines()[0]) from None
            raise
        finally:
            self.pg.autocommit = True
        self.con.execute("commit")

    def rollback(self) -> None:
        if not self.pg.autocommit:
            self.pg.rollback()
            self.pg.autocommit = True
        self.con.execute("rollback")

    def done(self, received) -> None:
        if not received:
            return
        with self.pg.cursor() as cur:
            cur.execute("delete from intake.queue where (name, received_at) in (select * from "
                        "unnest(%s::text[], %s::timestamp[]))",
                        [[n for n, _ in received], [a for _, a in received]])


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
                _ensure_schemas(con.raw, self.dsn)
            yield con

    @contextmanager
    def landing(self):
        landing = PostgresLanding(self)
        try:
            yield landing
        finally:
            landing.close()

    def land(self, frames: dict) -> None:
        import duckdb
        import psycopg2

        with connect(self.dsn) as con, tempfile.TemporaryDirectory() as tmp:
            _ensure_schemas(con.raw, self.dsn)
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
                        columns = [r[0] for r in local.execute(
                            "select column_name from information_schema.columns where "
                            "table_schema = 'raw' and table_name = ? order by ordinal_position",
                            [table]).fetchall()]
                        path = Path(tmp) / f"{table}.csv"
                        local.execute(f"copy raw.{table} to '{path}' "
                                      "(format csv, header true, force_quote *)")
                        _copy_in(cur, f"raw.{table}", columns, path)
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
            _ensure_schemas(con.raw, self.dsn)
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
