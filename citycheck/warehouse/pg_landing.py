"""An intake batch landing in PostgreSQL (PostgresEngine.landing): judged in an in-process
DuckDB that holds the earlier rows of the batch's values, COPYed into raw.* in one
transaction, in its turn among the files of its city and department."""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from citycheck.warehouse.pg_connection import copy_raw_rows, ensure_schemas, shown_dsn
from citycheck.warehouse.raw import (
    LANDINGS_SQL,
    LATER_SQL,
    OPEN_DATA_TABLES,
    RAW_DDL,
    RESENT_SQL,
    SUBMISSION_TABLES,
)
from common.engine import Landing, LandingConflict, WarehouseUnavailable, taken_whole
from common.faults import crash_point

log = logging.getLogger(__name__)


def _order_wait() -> float:
    return float(os.environ.get("CITYCHECK_INTAKE_ORDER_WAIT", "300"))


class PostgresLanding(Landing):
    """An intake batch: judged in an in-process DuckDB (con) holding the earlier rows of the
    batch's values, landed in PostgreSQL with COPY in one transaction."""

    def __init__(self, dsn: str) -> None:
        import duckdb
        import psycopg2

        self.dsn = dsn
        try:
            self.pg = psycopg2.connect(self.dsn, connect_timeout=10,
                                       application_name="citycheck intake")
        except psycopg2.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to PostgreSQL ({shown_dsn(self.dsn)}): "
                                       f"{str(exc).strip()}") from None
        self.pg.autocommit = True
        ensure_schemas(self.pg, self.dsn)
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

    def landings_of(self, digests):
        found: dict[str, list[tuple]] = {}
        if not digests:
            return found
        with self.pg.cursor() as cur:
            cur.execute(LANDINGS_SQL.format(marks="select unnest(%s::text[])"), [list(digests)])
            for row in cur.fetchall():
                found[row[0]] = [row]
                if not taken_whole(row):
                    cur2 = self.pg.cursor()
                    cur2.execute(RESENT_SQL.format(mark="%s").replace("'~%'", "'~%%'"), [row[0]])
                    found[row[0]] += cur2.fetchall()
        return {d: sorted(rows, key=lambda r: (r[2], r[0])) for d, rows in found.items()}

    def later_versions(self, file_hash, before):
        with self.pg.cursor() as cur:
            cur.execute(LATER_SQL.format(mark="%(h)s", before="%(b)s"),
                        {"h": file_hash, "b": before})
            count, name, at = cur.fetchone()
        return (count, name, at) if count else None

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
        for table in (*SUBMISSION_TABLES, *OPEN_DATA_TABLES, "round_events"):
            self.con.execute(f"delete from raw.{table}")
        # the rounds' events, whole (a few per city and year): records for a closed round
        # are refused (extract/submissions/judging.py)
        self._pull(cur, "round_events", "select * from raw.round_events")
        # fetchall, not fetchone: DuckDB refuses to register a frame on a connection whose
        # last result was not read to its end
        if not self.con.execute("select count(*) from duckdb_tables() where temporary and "
                                "table_name = 'incoming_rows'").fetchall()[0][0]:
            return      # no file of the batch had records to judge
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
            for table in SUBMISSION_TABLES:    # what the batch added, not the history
                copy_raw_rows(self.con, cur, table, Path(self.tmp.name),
                              "where file_hash in (select unnest(?))", [list(digests)])
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


