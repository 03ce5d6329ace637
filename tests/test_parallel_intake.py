"""Intake from several processes at once on PostgreSQL (issue: scale-out without a single
writer): 50 files — first submissions, corrections, identical re-sends and figures withdrawn
without a reason — landed by 4 concurrent processes, as 4 Celery workers running the mapped
ingest tasks would, give the same receipts, rows, counts and value versions as one process
landing them in order."""
import csv
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from common.config import SAMPLE_DIR
from tests.helpers import make_settings, pg_admin

psycopg2 = pytest.importorskip("psycopg2")

# 10 city × department × year templates, 5 versions each, arriving interleaved
BASES = [f"371000_{dept}_{year}.csv" for dept in ("civil_affairs", "education")
         for year in range(2019, 2024)]
FILES = 50
PROCESSES = 4


def _version(base: Path, version: int) -> list[list[str]]:
    """A department's file as sent the `version`-th time: 0 the sample, 1 two figures
    corrected, 2 the very same bytes again, 3 a figure withdrawn as 无 with no reason (refused)
    and another corrected, 4 back to the sample's figures, saying so in a note."""
    rows = list(csv.reader(open(base, encoding="utf-8")))
    start = next(i for i, r in enumerate(rows) if r and r[0].startswith("指标代码")) + 1
    body = rows[start:]
    if version in (1, 2, 3):
        for r in body[:2]:
            r[4] = str(float(r[4]) + 1)
    if version == 3:
        body[0][4] = "无"
        body[2][4] = str(float(body[2][4]) * 2)
    if version == 4:
        body[0][7] = "恢复原值 figures as first reported"
    return rows[:start] + body


def _fill_inbox(inbox: Path, base_time: float) -> list[Path]:
    paths = []
    for i in range(FILES):
        base, version = BASES[i % len(BASES)], i // len(BASES)
        path = inbox / f"v{version}_{base}"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(_version(SAMPLE_DIR / "submissions" / base, version))
        os.utime(path, (base_time + i, base_time + i))   # file i arrived i seconds after 0
        paths.append(path)
    return paths


@pytest.fixture
def two_databases():
    admin = pg_admin()
    names = [f"citycheck_test_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f"create database {name}")
    yield [admin.dsn.replace("dbname=postgres", f"dbname={n}") for n in names]
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f"drop database {name} with (force)")
    admin.close()


def _settings(tmp_path: Path, name: str, dsn: str, monkeypatch):
    monkeypatch.setenv("CITYCHECK_WAREHOUSE_TARGET", "postgres")
    monkeypatch.setenv("CITYCHECK_PG_DSN", dsn)
    return make_settings(tmp_path / name, monkeypatch)


WORKER = """
import json, sys, time
from common.config import Settings
from extract.submissions import ingest_inbox_file
settings = Settings.from_env()
started, out = time.time(), []
for path in sys.argv[1:]:
    r = ingest_inbox_file(path, settings)
    out.append([r.file_name, r.status, r.message, r.rows_accepted, r.rows_rejected])
print(json.dumps({"started": started, "finished": time.time(), "receipts": out}))
"""


def _rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg2.connect(dsn) as pg, pg.cursor() as cur:
        cur.execute(sql)
        return sorted(cur.fetchall(), key=repr)


def _receipts(dsn: str) -> dict[str, dict]:
    """Each landed file's receipt as stored, without where this run archived it."""
    found = {}
    for (text,) in _rows(dsn, "select receipt_json from raw.submission_receipts"):
        receipt = json.loads(text)
        receipt.pop("archived_path")
        found[receipt["file_name"]] = receipt
    return found


COMPARED = {
    "submission_files": "original_name, file_hash, received_at, status, rows_read, "
                        "rows_accepted, rows_rejected, rows_ignored, message",
    "submission_rows": "file_hash, record_number, status, reason, indicator_code, "
                       "district_code, year, value, is_missing",
    "submission_warnings": "file_hash, record_number, rule, compared_with, message",
}


def test_four_processes_landing_fifty_files_give_what_one_process_gives(
        two_databases, tmp_path, monkeypatch):
    from citycheck.warehouse.build import build
    from extract.submissions import ingest_inbox, queue_inbox

    serial_dsn, parallel_dsn = two_databases
    serial = _settings(tmp_path, "serial", serial_dsn, monkeypatch)
    arrived = time.time() - 3600
    _fill_inbox(serial.inbox_dir, arrived)
    expected = {r.file_name: [r.file_name, r.status, r.message, r.rows_accepted,
                              r.rows_rejected] for r in ingest_inbox(serial)}
    statuses = sorted(r[1] for r in expected.values())
    assert statuses.count("duplicate") == 10 and statuses.count("loaded") == 40
    assert sum(r[4] for r in expected.values()) == 10   # the 10 withdrawals, refused

    parallel = _settings(tmp_path, "parallel", parallel_dsn, monkeypatch)
    paths = _fill_inbox(parallel.inbox_dir, arrived)
    queue_inbox(parallel)       # what the DAG's list task does before the mapped ingests
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER,
                                 *[str(p) for p in paths[k::PROCESSES]]],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env) for k in range(PROCESSES)]
    results = []
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    # they did run at once: every process started before any had finished
    assert max(r["started"] for r in results) < min(r["finished"] for r in results)
    got = {r[0]: r for result in results for r in result["receipts"]}
    assert got == expected
    assert not list(parallel.inbox_dir.iterdir())
    assert _rows(parallel_dsn, "select * from intake.queue") == []

    for table, columns in COMPARED.items():
        sql = f"select {columns} from raw.{table}"
        assert _rows(parallel_dsn, sql) == _rows(serial_dsn, sql), table
    assert _receipts(parallel_dsn) == _receipts(serial_dsn)

    # the versions of every value the warehouse builds from them
    for settings in (serial, parallel):
        build(settings)
    versions = ("select indicator_code, district_code, year, value, version_number, "
                "version_count, is_current, previous_version_value, changes_value "
                "from marts.fct_indicator_value_versions")
    found = _rows(parallel_dsn, versions)
    assert found == _rows(serial_dsn, versions)
    assert max(r[5] for r in found) >= 3      # corrections made versions
