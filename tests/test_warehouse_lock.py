"""The warehouse file has one writer at a time: a writer held for a moment by another process
(the department portal landing an upload) is waited for; one held longer is a clear error."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from citycheck.warehouse.duckdb import WarehouseBusy, connect

HOLD = ("import duckdb, sys, time\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n")


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse" / "citycheck.duckdb"
    with connect(path):
        pass
    return path


def _hold(path, seconds: float) -> subprocess.Popen:
    """Another process holding the warehouse for `seconds`, once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_writer_held_for_a_moment_is_waited_for(warehouse, monkeypatch):
    monkeypatch.setenv("CITYCHECK_WAREHOUSE_LOCK_WAIT", "20")
    holder = _hold(warehouse, 2)
    started = time.monotonic()
    with connect(warehouse) as con:
        assert con.execute("select count(*) from raw.submission_files").fetchone() == (0,)
    assert time.monotonic() - started > 0.5       # it did wait for the other process
    holder.wait(timeout=10)


def test_a_writer_held_longer_is_a_clear_error_naming_the_process(warehouse, monkeypatch):
    monkeypatch.setenv("CITYCHECK_WAREHOUSE_LOCK_WAIT", "0.5")
    holder = _hold(warehouse, 30)
    try:
        with pytest.raises(WarehouseBusy, match=f"PID {holder.pid}.*one writer"):
            with connect(warehouse):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=10)
