"""The DuckDB engine (the default): the warehouse is one file on this machine.

It holds the append-only raw schema, dbt's models and the audit schema; DuckDB lets one
process write it at a time, so every writer waits for the file (connect) and the Airflow
pool that ingests and builds has one slot. Its publication is a folder of files
(citycheck/warehouse/files.py).
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from citycheck.warehouse.raw import LANDINGS_SQL, LATER_SQL, RAW_DDL, RESENT_SQL
from citycheck.warehouse.reader import open_reader
from common.config import DEFAULT_DUCKDB_MEMORY_LIMIT, ConfigError, make_dir
from common.engine import Engine, Landing, PublicationRequest, WarehouseBusy, taken_whole
from common.faults import crash_point


def init_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_DDL)
    _migrate_submission_rows(con)
    _drop_submission_rows_key(con)


def _drop_submission_rows_key(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses made before raw.submission_rows lost its primary key (raw.py says why) are
    copied once into the table without it, in one transaction: every row is kept. DuckDB
    cannot drop a key in place."""
    keyed = con.execute(
        "select count(*) from duckdb_constraints() where schema_name = 'raw' and "
        "table_name = 'submission_rows' and constraint_type = 'PRIMARY KEY'").fetchall()[0][0]
    if not keyed:
        return
    con.execute("begin transaction")
    try:
        con.execute("alter table raw.submission_rows rename to submission_rows_keyed")
        con.execute(RAW_DDL)
        con.execute("insert into raw.submission_rows by name "
                    "select * from raw.submission_rows_keyed")
        con.execute("drop table raw.submission_rows_keyed")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


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

    DuckDB gets the same memory limit as in dbt builds (CITYCHECK_DUCKDB_MEMORY_LIMIT, default 1.5GB):
    unbounded, publishing 40 million values took 20 GB of a 24 GB machine; bounded, DuckDB
    spills to a temporary folder beside the file instead."""
    if not read_only:
        make_dir(path.parent, private=True)     # every department's figures
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


class DuckDBLanding(Landing):
    """An intake batch judged and landed in the warehouse file itself, in one transaction:
    the file's one writer at a time keeps batches in their order."""

    def __init__(self, con) -> None:
        self.con = con

    def known_files(self, digests):
        return {row[0]: row[1:] for row in self.con.execute(
            "select file_hash, original_name, received_at, status, archived_path, city_code, "
            "department_code, year from raw.submission_files where file_hash in "
            "(select unnest(?))", [list(digests)]).fetchall()}

    def landings_of(self, digests):
        found: dict[str, list[tuple]] = {}
        if not digests:
            return found
        for row in self.con.execute(LANDINGS_SQL.format(marks="select unnest(?)"),
                                    [list(digests)]).fetchall():
            found[row[0]] = [row]
            if not taken_whole(row):
                found[row[0]] += self.con.execute(RESENT_SQL.format(mark="?"),
                                                  [row[0]]).fetchall()
        return {d: sorted(rows, key=lambda r: (r[2], r[0])) for d, rows in found.items()}

    def later_versions(self, file_hash, before):
        count, name, at = self.con.execute(LATER_SQL.format(mark="$h", before="$b"),
                                           {"h": file_hash, "b": before}).fetchone()
        return (count, name, at) if count else None

    def receipt_hashes(self):
        return [r[0] for r in self.con.execute(
            "select file_hash from raw.submission_receipts").fetchall()]

    def receipt_texts(self, digests):
        return self.con.execute("select file_hash, receipt_json from raw.submission_receipts "
                                "where file_hash in (select unnest(?))",
                                [list(digests)]).fetchall()

    def prepare(self, digests, groups, received) -> None:
        """Every earlier row is in the file already. Its one writer lands files in the order
        they arrived: the inbox oldest first, and a mapped ingest task the older files still
        waiting before its own (extract/submissions/inbox.py, ingest_inbox_file)."""

    def commit(self, digests) -> None:
        crash_point("ingest.in_transaction")
        self.con.execute("commit")

    def rollback(self) -> None:
        self.con.execute("rollback")


def _close_dbt_connection() -> None:
    """dbt-duckdb keeps its DuckDB connection from one dbt invocation to the next in a process
    while the profile is the same, and the profile names the warehouse by its file name alone
    (DuckDBEngine.dbt_env), the same in every data dir: an invocation must open the file of
    its own data dir, never keep the connection to another's (tests/test_dbt_parsing.py)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


class DuckDBEngine(Engine):
    name = "duckdb"
    publishes_files = True

    def describe(self) -> str:
        return f"the DuckDB file {self.settings.warehouse_path}"

    @contextmanager
    def connect(self, read_only: bool = False):
        with connect(self.settings.warehouse_path, read_only=read_only) as con:
            yield con

    @contextmanager
    def landing(self):
        with connect(self.settings.warehouse_path) as con:
            yield DuckDBLanding(con)

    def land(self, frames: dict) -> None:
        with connect(self.settings.warehouse_path) as con:
            con.execute("begin transaction")
            try:
                for table, frame in frames.items():
                    con.register("incoming_frame", frame)
                    con.execute(f"insert into raw.{table} by name select * from incoming_frame")
                    con.unregister("incoming_frame")
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise

    def writer_slots(self) -> int:
        """One: DuckDB lets one process write the file."""
        return 1

    @contextmanager
    def held_for_dbt(self):
        # An open connection holds the file's lock for this process: dbt-duckdb, connecting
        # in the same process, shares the database instance, and a department portal's upload
        # arriving meanwhile waits (then retries) instead of taking the file between
        # build's first look and dbt's connect, which failed the build.
        with connect(self.settings.warehouse_path):
            # dbt opens the file by its name from its folder (dbt_env): the profile dbt keeps
            # in its parsed project is then the same for every data dir, and a new or copied
            # one parses nothing again (citycheck/warehouse/build.py, shared_parse)
            here = os.getcwd()
            os.chdir(self.settings.warehouse_path.resolve().parent)
            try:
                _close_dbt_connection()
                yield
            finally:
                try:
                    _close_dbt_connection()     # and the file is this process's no longer
                finally:
                    os.chdir(here)

    def dbt_env(self) -> dict[str, str]:
        return {"CITYCHECK_DBT_TARGET": "duckdb",
                "CITYCHECK_DBT_DUCKDB_PATH": self.settings.warehouse_path.name}

    def row_hash(self, alias: str) -> str:
        return f"hash({alias})::hugeint"

    def publish(self, con, request: PublicationRequest):
        from citycheck.warehouse.files import publish_files

        return publish_files(con, self.settings, request)

    def recover_publication(self, con) -> str | None:
        from citycheck.warehouse.files import recover_publication

        return recover_publication(con, self.settings)

    def read_latest(self):
        path, serving = self.settings.warehouse_path, self.settings.serving_path
        if path.exists():
            origin = f"latest build ({path})"
            try:
                return duckdb.connect(str(path), read_only=True), "marts.", origin
            except duckdb.ConnectionException:
                # this process already holds the file (dbt ran in it): share its configuration
                return duckdb.connect(str(path)), "marts.", origin
            except duckdb.IOException:
                pass  # another process is writing: read the publication instead
        if serving.exists():
            con = open_reader(serving)
            return con, "", f"published copy ({serving}; the warehouse is busy)"
        raise FileNotFoundError("nothing has been built yet: run `citycheck run` (or "
                                "`make run`)")

    def published_id(self) -> str | None:
        from citycheck.warehouse.files import current_publication

        return current_publication(self.settings)

    def open_published(self):
        """The serving file, read-only and without file access (open_reader); None when
        nothing is published yet."""
        path = self.settings.serving_path
        if not path.exists():
            return None
        return open_reader(path.resolve())

    def published_tables(self):
        from citycheck.warehouse.files import published_summary

        return iter(published_summary(self.settings))
