"""The DuckDB warehouse file: connections and the append-only raw schema.

Raw tables are written only by `extract/` and only ever appended to. dbt reads them as
sources; nothing deletes or updates a raw row, so every published value can be traced back
to the file row or fetched record it came from.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from citycheck.config import DEFAULT_DUCKDB_MEMORY_LIMIT, ConfigError, make_dir


class WarehouseBusy(Exception):
    """Another process holds the warehouse file (DuckDB has one writer at a time)."""


RAW_DDL = """
create schema if not exists raw;

create table if not exists raw.submission_files (
    file_hash        varchar primary key,  -- sha256 of the file's bytes: the idempotence key
    original_name    varchar not null,
    archived_path    varchar,
    size_bytes       bigint,
    received_at      timestamp not null,
    city_code        varchar,
    department_code  varchar,
    year             integer,
    layout           varchar,
    status           varchar not null,     -- loaded | rejected
    rows_read        integer not null,
    rows_accepted    integer not null,
    rows_rejected    integer not null,
    rows_ignored     integer not null,
    message          varchar
);

create table if not exists raw.submission_rows (
    file_hash        varchar not null,
    record_number    integer not null,     -- 1..n within the file: the unit of accounting
    sheet_name       varchar,
    row_number       integer not null,     -- as the department sees it: 1-based line or Excel row
    cell             varchar,              -- the value's cell (E7); a wide row has one per district
    status           varchar not null,     -- accepted | rejected | ignored
    reason           varchar,              -- why rejected or ignored
    error_column     varchar,              -- the column a rejection is about
    indicator_text   varchar,
    district_text    varchar,
    year_text        varchar,
    value_text       varchar,
    unit_text        varchar,
    flag_text        varchar,
    note_text        varchar,              -- text that looked like a formula starts with '
    indicator_code   varchar,              -- resolved at intake, null when rejected
    district_code    varchar,
    year             integer,
    value            double,
    is_missing       boolean,              -- a missing marker (blank, —, 无): no value, never zero
    quality_flag     varchar,
    loaded_at        timestamp not null,
    primary key (file_hash, record_number)
);

-- The receipt each landed file got, written in the same transaction as its rows: a receipt
-- file lost to a crash is written again from here (extract/submissions.py, recover_intake).
create table if not exists raw.submission_receipts (
    file_hash        varchar not null,
    stem             varchar not null,     -- receipt (the file's own receipt)
    receipt_json     varchar not null,
    primary key (file_hash, stem)
);

-- Values accepted but implausible by a rule of seeds/plausibility_rules.csv, found when their
-- file landed (extract/submissions.py) and written in the same transaction.
create table if not exists raw.submission_warnings (
    file_hash        varchar not null,
    record_number    integer not null,
    sheet_name       varchar,
    cell             varchar,
    indicator_code   varchar not null,
    district_code    varchar not null,
    year             integer not null,
    rule             varchar not null,     -- decrease | yoy_factor | above_city_total
    compared_with    double,               -- the year before's value, or the city's
    message          varchar not null,     -- Chinese and English
    primary key (file_hash, record_number, rule)
);

create table if not exists raw.open_data_fetches (
    fetch_id         varchar primary key,
    source_name      varchar not null,
    url              varchar not null,     -- with secrets removed
    http_status      integer,
    bytes            bigint,
    content_hash     varchar,
    fetched_at       timestamp not null,
    etag             varchar,
    last_modified    varchar,
    payload_path     varchar,
    status           varchar not null,     -- loaded | unchanged | not_modified | failed
    records          integer not null,
    observations_accepted integer not null,
    observations_rejected integer not null,
    message          varchar
);

create table if not exists raw.open_data_observations (
    fetch_id         varchar not null,
    source_name      varchar not null,
    record_number    integer not null,     -- position of the record in the fetched payload
    field_name       varchar not null,     -- the payload field the value came from
    record_json      varchar not null,
    status           varchar not null,     -- accepted | rejected
    reason           varchar,
    indicator_code   varchar,
    district_text    varchar,
    district_code    varchar,
    year_text        varchar,
    year             integer,
    value_text       varchar,
    value            double,
    loaded_at        timestamp not null,
    primary key (fetch_id, record_number, field_name)
);
"""


def init_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_DDL)
    _migrate_submission_rows(con)


def _migrate_submission_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses made before records had cells (one row = one record) get the two new
    columns. Every row is kept: the table is copied, never trimmed."""
    columns = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'submission_rows'").fetchall()}
    if "record_number" in columns:
        return
    con.execute("begin transaction")
    try:
        con.execute("alter table raw.submission_rows rename to submission_rows_before_cells")
        con.execute(RAW_DDL)
        con.execute("""
            insert into raw.submission_rows by name
            select *, row_number() over (partition by file_hash order by sheet_name, row_number)
                   as record_number, cast(null as varchar) as cell
            from raw.submission_rows_before_cells""")
        con.execute("drop table raw.submission_rows_before_cells")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse file. Writers must run inside the one-slot Airflow pool.

    DuckDB gets the same memory limit as in dbt builds (CITYCHECK_DUCKDB_MEMORY_LIMIT, 2GB):
    unbounded, publishing 40 million values took 20 GB of a 24 GB machine; bounded, DuckDB
    spills to a temporary folder beside the file instead."""
    if not read_only:
        make_dir(path.parent)
    # Another process may hold the file for a moment (the department portal landing one
    # upload, a short task): wait for it a little, CITYCHECK_WAREHOUSE_LOCK_WAIT seconds
    # (default 15), before saying it is busy.
    deadline = time.monotonic() + float(os.environ.get("CITYCHECK_WAREHOUSE_LOCK_WAIT", "15"))
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            holder = re.search(r"PID (\d+)", str(exc))
            raise WarehouseBusy(
                f"the warehouse {path} is in use by another process"
                f"{f' (PID {holder[1]})' if holder else ''}: DuckDB allows one writer. Wait "
                "for that run to finish (or stop it), then try again") from None
    # a setting, not connect(config=...): dbt opens the same file in this process
    limit = os.environ.get("CITYCHECK_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)
    try:
        con.execute("set memory_limit = ?", [limit])
    except duckdb.Error:
        con.close()
        raise ConfigError(f"CITYCHECK_DUCKDB_MEMORY_LIMIT={limit!r} is not a memory size: "
                          f"write one such as 2GB or 512MB (default "
                          f"{DEFAULT_DUCKDB_MEMORY_LIMIT})") from None
    try:
        if not read_only:
            init_raw_schema(con)
        yield con
    finally:
        con.close()


@contextmanager
def open_warehouse(settings) -> Iterator:
    """Where dbt builds: the DuckDB file, or the PostgreSQL database when
    settings.warehouse_target is "postgres". Both answer execute(sql, [params]) with `?`
    placeholders, then fetchone() / fetchall() / df()."""
    if settings.warehouse_target == "postgres":
        from citycheck.postgres import connect as pg_connect
        from citycheck.postgres import require_dsn

        with pg_connect(require_dsn(settings.pg_dsn)) as con:
            yield con
    else:
        with connect(settings.warehouse_path) as con:
            yield con
