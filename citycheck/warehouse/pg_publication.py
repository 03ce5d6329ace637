"""Publishing into PostgreSQL: copy tables into a staging schema, declare the star schema's
keys, grant the readers' role, and swap the staging schema for the published one in one
bounded transaction (readers see the old publication or the new one)."""
from __future__ import annotations

import logging
import os
import tempfile
import uuid
from pathlib import Path

from citycheck.warehouse.pg_connection import DEFAULT_READER_ROLE, PgConnection, quote
from common.engine import PublishRefused

log = logging.getLogger(__name__)

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


