"""A folder of files is landed in batches (one transaction, one lookup of earlier copies and
versions per batch). Batching must not change a single verdict, version or receipt, and a
batch that cannot be landed must leave every file where it was."""
from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from extract.submissions import Submission, ingest_files, ingest_inbox
from tests.helpers import make_settings, query
from tests.test_intake_real_world import CANTEENS, civil_affairs, reconciled, write_csv

pytestmark = pytest.mark.both_engines  # conftest.py: each test on DuckDB and on PostgreSQL

T0 = datetime(2024, 3, 1, 9, 0)  # UTC, naive as the warehouse keeps it


def _corrected(value: str) -> list[list[str]]:
    rows = [r[:] for r in CANTEENS]
    rows[0][4] = value                 # 环翠区
    return rows


def _fill_inbox(inbox: Path) -> list[Path]:
    """Four files in the order they arrived: an original, the same bytes again, a
    correction, and a file that is refused whole."""
    inbox.mkdir(parents=True, exist_ok=True)
    paths = [write_csv(inbox / "v1.csv", civil_affairs(CANTEENS)),
             inbox / "v1-again.csv",
             write_csv(inbox / "v2.csv", civil_affairs(_corrected("1,240"))),
             write_csv(inbox / "notes.csv", [["会议纪要"], ["无数据"]])]
    paths[1].write_bytes(paths[0].read_bytes())
    for minutes, path in enumerate(paths):
        stamp = (T0.replace(tzinfo=UTC) + timedelta(minutes=minutes)).timestamp()
        os.utime(path, (stamp, stamp))
    return paths


def _comparable(receipt) -> dict:
    r = dataclasses.asdict(receipt)
    r["archived_path"] = Path(r["archived_path"]).name if r["archived_path"] else None
    return r


@pytest.mark.parametrize("batch", ["1", "500"])
def test_one_batch_or_one_file_at_a_time_gives_the_same_receipts(tmp_path, monkeypatch,
                                                                  portal_url, batch):
    reference = make_settings(tmp_path / "file-by-file", monkeypatch, portal_url)
    _fill_inbox(reference.inbox_dir)
    one_by_one = [ingest_files([item], reference)[0] for item in _inbox_items(reference)]

    monkeypatch.setenv("CITYCHECK_INGEST_BATCH_FILES", batch)
    settings = make_settings(tmp_path / f"batch-{batch}", monkeypatch, portal_url)
    assert settings.ingest_batch_files == int(batch)
    _fill_inbox(settings.inbox_dir)
    receipts = ingest_inbox(settings)

    assert [_comparable(r) for r in receipts] == [_comparable(r) for r in one_by_one]
    original, again, correction, notes = receipts
    for r in receipts:
        reconciled(r)
    assert (original.status, again.status, correction.status, notes.status) == (
        "loaded", "duplicate", "loaded", "rejected")
    assert again.message.startswith("identical to 'v1.csv' received 2024-03-01")
    assert [(s["district_code"], s["earlier_value"], s["value"], s["earlier_file"])
            for s in correction.superseded] == [("371002", 1234.0, 1240.0, "v1.csv")]
    assert "no data table found" in notes.message
    stored = query(settings, "select original_name, status, rows_read from "
                   "raw.submission_files order by received_at")
    assert stored == [("v1.csv", "loaded", 9), ("v2.csv", "loaded", 9),
                      ("notes.csv", "rejected", 0)]
    assert os.listdir(settings.inbox_dir) == []
    # the duplicate's receipt sits beside the first copy's
    folder = Path(original.archived_path).parent
    assert [p.name for p in folder.glob("duplicate-*.txt")] == ["duplicate-20240301T090100.txt"]


def _inbox_items(settings) -> list[Submission]:
    from extract.submissions import inbox_item, list_inbox

    return [inbox_item(p) for p in list_inbox(settings)]


def test_in_one_batch_versions_follow_arrival_not_the_order_given(settings, tmp_path):
    """Mapped tasks, or a caller, may hand files over in any order: the later arrival wins
    and its receipt names the value it corrects, even inside one batch."""
    v1 = write_csv(tmp_path / "v1.csv", civil_affairs(CANTEENS))
    v2 = write_csv(tmp_path / "v2.csv", civil_affairs(_corrected("1,240")))
    later, earlier = ingest_files([Submission(v2, T0 + timedelta(hours=1)),
                                   Submission(v1, T0)], settings)
    assert [(s["earlier_value"], s["value"], s["earlier_file"]) for s in later.superseded] == [
        (1234.0, 1240.0, "v1.csv")]
    assert earlier.superseded == [] and earlier.status == "loaded"


def test_a_batch_that_cannot_be_landed_leaves_every_file_in_the_inbox(settings, monkeypatch):
    from extract.submissions import judging

    real_superseded = judging.superseded
    paths = _fill_inbox(settings.inbox_dir)
    before = {p.name: p.read_bytes() for p in paths}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(judging, "superseded", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ingest_inbox(settings)
    assert {p.name: p.read_bytes() for p in settings.inbox_dir.iterdir()} == before
    assert query(settings, "select count(*) from raw.submission_files") == [(0,)]
    assert query(settings, "select count(*) from raw.submission_rows") == [(0,)]
    assert not [p for p in settings.archive_dir.rglob("*") if p.suffix == ".csv"]

    monkeypatch.setattr(judging, "superseded", real_superseded)
    receipts = ingest_inbox(settings)
    assert [r.status for r in receipts] == ["loaded", "duplicate", "loaded", "rejected"]


def _keyed_ddl() -> str:
    """raw.submission_rows as warehouses made before 2026-12-07 have it: with a primary key."""
    import re

    from citycheck.warehouse.raw import RAW_DDL

    table = re.search(r"create table if not exists raw\.submission_rows \(.*?\n\);", RAW_DDL,
                      re.S)[0]
    return table.replace("loaded_at        timestamp not null",
                         "loaded_at        timestamp not null,\n"
                         "    primary key (file_hash, record_number)")


def test_a_record_is_unique_by_its_file_and_number_and_an_older_warehouse_keeps_every_row(
        settings):
    """DuckDB keeps no index of (file_hash, record_number) (it was half the cost of landing
    rows); a warehouse made with that key is copied once into the table without it, every
    row kept, and intake goes on. PostgreSQL keeps the key as a unique index."""
    paths = _fill_inbox(settings.inbox_dir)
    later = paths[2].read_bytes()
    paths[2].unlink()
    ingest_inbox(settings)
    if settings.warehouse_target == "postgres":
        indexes = {name for (name,) in query(settings, "select indexname from pg_indexes "
                                                       "where schemaname = 'raw' and "
                                                       "tablename = 'submission_rows'")}
        assert indexes & {"submission_rows_key", "submission_rows_pkey"}, indexes
        return

    import duckdb

    keys = ("select count(*) from duckdb_constraints() where schema_name = 'raw' and "
            "table_name = 'submission_rows' and constraint_type = 'PRIMARY KEY'")
    every_row = "select * exclude (loaded_at) from raw.submission_rows order by all"
    assert query(settings, keys) == [(0,)]
    with duckdb.connect(str(settings.warehouse_path)) as con:     # an older warehouse
        con.execute("alter table raw.submission_rows rename to submission_rows_new")
        con.execute(_keyed_ddl())
        con.execute("insert into raw.submission_rows select * from raw.submission_rows_new")
        con.execute("drop table raw.submission_rows_new")
        before = con.execute(every_row).fetchall()
        assert con.execute(keys).fetchall() == [(1,)] and len(before) > 5

    # the correction arrives: intake opens the older warehouse, which loses its key
    (settings.inbox_dir / "v2.csv").write_bytes(later)
    os.utime(settings.inbox_dir / "v2.csv", (T0.timestamp() + 3600,) * 2)
    [receipt] = ingest_inbox(settings)
    assert receipt.status == "loaded" and receipt.rows_accepted > 0
    after = query(settings, every_row)
    assert query(settings, keys) == [(0,)]
    assert set(before) <= set(after)
    assert len(after) == len(before) + receipt.rows_read
