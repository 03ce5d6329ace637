"""What the command line says in the small cases a user meets: a busy port, nothing to
recover, a validation of a build that no longer holds everything, and a SQL prompt that
edits lines and remembers them."""
from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time

from tests.faults import cli


def test_serve_on_a_busy_port_says_the_port_is_busy(built):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = cli(built, "serve", "--port", str(port))
    assert proc.returncode == 1
    assert f"port {port} is in use" in proc.stderr and "--port" in proc.stderr
    assert "disk" not in proc.stderr and "Traceback" not in proc.stderr


def test_recover_says_when_there_was_nothing_to_recover(built):
    proc = cli(built, "recover")
    assert proc.returncode == 0 and proc.stdout.startswith("nothing to recover"), proc.stdout


def test_validate_says_when_files_landed_after_the_build_it_checks(built):
    proc = cli(built, "validate")
    assert proc.returncode == 0 and "landed after build" not in proc.stdout
    # a clerk's file lands after the build: what validate checked does not hold it
    correction = built.inbox_dir / "371000_water_2023_correction.csv"
    correction.write_text("填报部门,water\n城市,371000\n年度,2023\n\n指标代码,区县名称,数值\n"
                          "sewage_treatment_rate_pct,环翠区,99.1\n", encoding="utf-8")
    landed = cli(built, "ingest")
    assert landed.returncode == 0 and "1 records accepted" in landed.stdout, landed.stdout
    proc = cli(built, "validate")
    assert proc.returncode == 0
    assert "landed after build" in proc.stdout and "citycheck build" in proc.stdout


def _type(fd: int, keys: bytes, until: bytes, timeout: float = 60) -> bytes:
    """Send keys to the terminal and read what it shows until `until` appears."""
    os.write(fd, keys)
    seen = b""
    deadline = time.monotonic() + timeout
    while until not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_the_sql_prompt_edits_lines_and_remembers_them(built, tmp_path):
    history = tmp_path / "history"
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(built.data_dir),
           "CITYCHECK_SQL_HISTORY": str(history), "TERM": "xterm"}

    def session(keys: list[tuple[bytes, bytes]]) -> bytes:
        main, child = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "citycheck.cli", "sql"], stdin=child,
                                stdout=child, stderr=child, env=env, close_fds=True)
        os.close(child)
        try:
            shown = _type(main, b"", b"citycheck> ")
            for typed, until in keys:
                shown += _type(main, typed, until)
            proc.wait(timeout=60)
        finally:
            os.close(main)
        return shown

    # a forgotten first letter put in with Ctrl-A before Enter: line editing
    shown = session([(b"elect 40 + 3 as answer;\x01s\r", b"43"), (b".quit\r", b"")])
    assert b"43" in shown
    assert "select 40 + 3 as answer;" in history.read_text()
    # the next session brings it back with the up arrow (twice: .quit is the last line)
    shown = session([(b"\x1b[A\x1b[A\r", b"43"), (b".quit\r", b"")])   # above .quit
    assert b"select 40 + 3 as answer;" in shown and b"43" in shown   # recalled, answered


def test_sigterm_stops_a_build_in_one_line_and_the_next_run_finishes(built):
    """Airflow's task timeout, `kill`, a container stopping: SIGTERM mid-build."""
    from tests.helpers import query

    correction = built.inbox_dir / "371000_water_2023_fix.csv"
    correction.write_text("填报部门,water\n城市,371000\n年度,2023\n\n指标代码,区县名称,数值\n"
                          "sewage_treatment_rate_pct,环翠区,98.9\n", encoding="utf-8")
    assert cli(built, "ingest").returncode == 0
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(built.data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "citycheck.cli", "build"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)                       # imports done, dbt running its models
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, (out, err)
    said = [line for line in err.splitlines() if line.startswith("citycheck build")]
    assert said and "stopped (SIGTERM)" in said[0] and "citycheck recover" in said[0]
    assert "Traceback" not in err
    # the next run finishes: the correction is published
    done = cli(built, "run")
    assert done.returncode == 0, done.stderr
    (value,) = query(built.serving_path, "select value from fct_indicator_values where "
                     "indicator_code = 'sewage_treatment_rate_pct' and district_code = "
                     "'371002' and year = 2023")[0]
    assert value == 98.9


def _zibo_inbox(settings) -> list[str]:
    """Zibo's sample files in the inbox, arrived a day ago one minute apart (one of them
    draws a plausibility warning that holds a value)."""
    import shutil

    from common.config import SAMPLE_DIR

    names = []
    for minute, path in enumerate(sorted((SAMPLE_DIR / "submissions").glob("370300_*"))):
        shutil.copy(path, settings.inbox_dir / path.name)
        stamp = time.time() - 86400 + 60 * minute
        os.utime(settings.inbox_dir / path.name, (stamp, stamp))
        names.append(path.name)
    return names


def test_ingesting_the_inbox_prints_a_line_per_file_as_it_lands(settings):
    """A backlog's whole receipts were printed at the end (270 MB of text for a national
    one, held in memory until then): now each file is one line as its batch lands, then a
    total and where the whole receipts are."""
    names = _zibo_inbox(settings)
    proc = cli(settings, "ingest", env={"CITYCHECK_INGEST_BATCH_FILES": "4"})
    assert proc.returncode == 0, proc.stderr
    *lines, total = proc.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == names
    assert all(": 已接收 / loaded — " in line and "records accepted" in line
               and "采用" in line for line in lines), lines
    assert any("held for the office's review" in line for line in lines), lines
    assert total.startswith(f"{len(names)} 个文件 files: {len(names)} loaded; ")
    assert str(settings.archive_dir) in total and "receipt.txt" in total


def test_ingesting_the_inbox_as_json_gives_each_whole_receipt_on_its_line(settings):
    """--json: one line of JSON per file, the whole receipt as archived (its warnings and
    the rows it ignored included), though intake keeps only counts of each once landed."""
    import json

    names = _zibo_inbox(settings)
    proc = cli(settings, "ingest", "--json", env={"CITYCHECK_INGEST_BATCH_FILES": "4"})
    assert proc.returncode == 0, proc.stderr
    receipts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file_name"] for r in receipts] == names
    for r in receipts:
        digest = r["file_hash"]
        archived = settings.archive_dir / digest[:2] / digest / "receipt.json"
        assert json.loads(archived.read_text(encoding="utf-8")) == r
    assert any(w["action"] == "hold" for r in receipts for w in r["warnings"])
    assert all(r["ignored"] or r["layout"] == "wide" for r in receipts)
