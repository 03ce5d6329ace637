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


def test_a_build_keeps_the_warehouse_from_its_first_look_until_dbt_is_done(
        sample_warehouse, tmp_path, monkeypatch):
    """A portal upload arriving just as dbt connects used to take the file first and fail the
    build. Now another process trying to write at that moment finds the file held, and the
    build publishes as usual."""
    import shutil

    from dbt.cli.main import dbtRunner

    from citycheck.warehouse.build import build
    from tests.helpers import make_settings, query

    data = tmp_path / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    settings = make_settings(data, monkeypatch)
    attempts = []
    invoke = dbtRunner.invoke

    def another_writer_first(self, args, **kw):
        # the moment between build's first look and dbt's own connection
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(settings.warehouse_path), "5"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        said = proc.stdout.readline().strip()
        attempts.append((said, proc.stderr.read() if not said else ""))
        proc.kill()
        proc.wait(timeout=10)
        return invoke(self, args, **kw)

    # a review step landed: the build has something to run dbt for
    from citycheck.operations.rounds import review
    from tests.test_incremental_build import OFFICE, _held_item
    review(settings, _held_item(settings), "return", OFFICE, "a decimal point?")
    monkeypatch.setattr(dbtRunner, "invoke", another_writer_first)
    result = build(settings)
    (said, error), = attempts
    assert said == "" and "lock" in error.lower(), (said, error)
    assert query(settings.warehouse_path, "select status from audit.builds where build_id = "
                 f"'{result.build_id}'") == [("success",)]
