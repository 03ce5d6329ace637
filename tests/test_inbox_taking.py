"""Files are taken only when complete, and only once (extract/submissions/taking.py):

- a file still being copied into the inbox is left there until it has stopped changing, then
  landed whole — never half of it;
- a file that changes while it is being copied is left for the next run, nothing landed;
- a file written again after it was taken is not removed: what landed is the copy taken, the
  new bytes land at the next run;
- two `citycheck ingest` processes on one inbox land every file once, neither failing;
- bytes refused before are read again when sent again (the right --city this time), and a
  re-sent earlier file's receipt names the later file that stands.
"""
import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

from common.config import SAMPLE_DIR
from extract.submissions import ingest_file, ingest_files, ingest_inbox
from extract.submissions.inbox import inbox_item
from tests.helpers import make_settings, query

SAMPLE = SAMPLE_DIR / "submissions" / "371000_civil_affairs_2023.csv"
ROOT = Path(__file__).resolve().parents[1]


def _sample_lines() -> list[str]:
    return SAMPLE.read_text("utf-8").splitlines(keepends=True)


def _canteens_plus(lines: list[str], more: int) -> list[str]:
    """The sample with the first community-canteens figure raised by `more`."""
    changed = list(lines)
    row = next(i for i, line in enumerate(changed) if line.startswith("community_canteens"))
    cells = changed[row].split(",")
    cells[4] = str(int(cells[4]) + more)
    changed[row] = ",".join(cells)
    return changed


def _stored(settings, name: str) -> dict[tuple[str, str], float]:
    rows = query(settings.warehouse_path,
                 "select r.indicator_code, r.district_code, r.value from raw.submission_rows r "
                 "join raw.submission_files f using (file_hash) where f.original_name = ? "
                 "and r.status = 'accepted'", [name])
    return {(i, d): v for i, d, v in rows}


def _truth(lines: list[str]) -> dict[tuple[str, str], float]:
    rows = list(csv.reader(io.StringIO("".join(lines))))
    start = next(i for i, r in enumerate(rows) if r and r[0].startswith("指标代码")) + 1
    return {(r[0], r[2]): float(r[4]) for r in rows[start:] if r}


APPENDER = """
import sys, time
with open(sys.argv[1], "a", encoding="utf-8") as out:
    while True:
        out.write("y" * 512)
        out.flush()
        time.sleep(0.001)
"""

WRITER = """
import sys, time
lines = open(sys.argv[1], encoding="utf-8").read().splitlines(keepends=True)
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in lines:            # a slow copy: a line at a time
        out.write(line)
        out.flush()
        time.sleep(0.1)
"""


def test_a_file_still_being_copied_is_taken_only_once_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYCHECK_INBOX_SETTLE_SECONDS", "2")
    settings = make_settings(tmp_path / "data", monkeypatch)
    target = settings.inbox_dir / SAMPLE.name
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(SAMPLE), str(target)])
    runs, landed_while_writing = 0, []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        writing = writer.poll() is None
        receipts = ingest_inbox(settings)       # an intake run, as often as a busy schedule
        runs += 1
        if any(r.status == "loaded" for r in receipts):
            landed_while_writing.append(writing)
            break
        assert all(r.status == "waiting" for r in receipts), [r.message for r in receipts]
        time.sleep(0.3)
    assert writer.wait(timeout=30) == 0
    assert landed_while_writing == [False] and runs > 3
    # landed whole, once: every figure of the file as it was copied, nothing else
    assert _stored(settings, SAMPLE.name) == _truth(_sample_lines())
    assert query(settings.warehouse_path, "select count(*) from raw.submission_files") == [(1,)]
    assert not target.exists()


def test_a_file_that_changes_while_it_is_copied_stays_in_the_inbox(tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "data", monkeypatch)
    target = settings.inbox_dir / "371000_civil_affairs_2023.csv"
    with open(target, "w", encoding="utf-8") as out:
        out.write("".join(_sample_lines()))
        out.write("# " + "x" * (16 << 20) + "\n")     # 16 MB: its copy takes a while
    # a copy that is still going on: another process appends every millisecond
    appender = subprocess.Popen([sys.executable, "-c", APPENDER, str(target)])
    try:
        size = target.stat().st_size
        deadline = time.monotonic() + 30
        while target.stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.01)
        assert target.stat().st_size > size, "the appending process did not start"
        # taken as the DAG's ingest task takes a file listed a moment ago. (Through
        # ingest_inbox the test failed 2 runs in 24 beside four busy processes: the listing
        # leaves out a file that changed after it began to look, so the file stayed, but
        # with no receipt to check.)
        receipts = ingest_files([inbox_item(target)], settings)
    finally:
        appender.kill()
        appender.wait(timeout=30)
    assert [(r.status, r.file_hash) for r in receipts] == [("waiting", "")]
    assert "still being copied" in receipts[0].message and "仍在复制" in receipts[0].message
    assert target.exists()
    # nothing landed, nothing left half-copied in the archive
    assert query(settings.warehouse_path, "select count(*) from raw.submission_files") == [(0,)]
    archived = [p for p in settings.archive_dir.rglob("*") if p.is_file()
                and ".journal" not in p.parts]
    assert archived == []


def test_a_file_written_again_after_it_was_taken_stays_for_the_next_run(tmp_path, monkeypatch):
    """The clerk overwrites the file while the intake judges it: the bytes taken land, the
    file is not removed, and its new bytes land at the next run as the later file."""
    from extract.submissions import judging

    settings = make_settings(tmp_path / "data", monkeypatch)
    first = _sample_lines()
    second = _canteens_plus(first, 5)
    cells = next(line for line in second if line.startswith("community_canteens")).split(",")
    target = settings.inbox_dir / SAMPLE.name
    target.write_text("".join(first), "utf-8")
    os.utime(target, (time.time() - 60, time.time() - 60))
    judge = judging.judge

    def overwritten_meanwhile(*args, **kwargs):
        target.write_text("".join(second), "utf-8")
        monkeypatch.setattr(judging, "judge", judge)
        return judge(*args, **kwargs)

    monkeypatch.setattr(judging, "judge", overwritten_meanwhile)
    (receipt,) = ingest_inbox(settings)
    assert receipt.status == "loaded"
    assert _stored(settings, SAMPLE.name) == _truth(first)      # the bytes taken
    assert target.read_text("utf-8") == "".join(second)           # left for the next run
    (later,) = ingest_inbox(settings)
    assert later.status == "loaded" and later.file_hash != receipt.file_hash
    latest = query(settings.warehouse_path,
                   "select r.value from raw.submission_rows r join raw.submission_files f "
                   "using (file_hash) where r.indicator_code = 'community_canteens' and "
                   "r.district_code = ? order by f.received_at desc limit 1", [cells[2]])
    assert latest == [(float(cells[4]),)]
    assert not target.exists()


def _fill(inbox: Path, files: int) -> dict[str, str]:
    """`files` distinct complete files, arrived a minute ago: name -> department."""
    sent = {}
    for i, path in enumerate(sorted((SAMPLE_DIR / "submissions").glob("371000_*_20*.csv"))
                             [:files]):
        target = inbox / path.name
        target.write_bytes(path.read_bytes())
        os.utime(target, (time.time() - 60 + i, time.time() - 60 + i))
        sent[path.name] = path.name.split("_", 1)[1].rsplit("_", 1)[0]
    return sent


def _two_ingests_at_once(settings) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "citycheck.cli", "ingest"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), *p.communicate())
            for p in procs]


def test_two_ingests_on_one_postgres_inbox_land_every_file_once(tmp_path, monkeypatch,
                                                                  pg_database):
    import psycopg2

    monkeypatch.setenv("CITYCHECK_WAREHOUSE_TARGET", "postgres")
    monkeypatch.setenv("CITYCHECK_PG_DSN", pg_database)
    settings = make_settings(tmp_path / "data", monkeypatch)
    sent = _fill(settings.inbox_dir, 24)
    done = _two_ingests_at_once(settings)
    for p in done:
        assert p.returncode == 0, p.stderr[-2000:]
        assert "Traceback" not in p.stderr and "Errno" not in p.stdout + p.stderr
    with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
        cur.execute("select original_name, status from raw.submission_files")
        landed = sorted(cur.fetchall())
    assert landed == sorted((name, "loaded") for name in sent)
    assert list(settings.inbox_dir.iterdir()) == []


def test_two_ingests_on_one_duckdb_inbox_land_every_file_once(tmp_path, monkeypatch):
    """DuckDB has one writer: the second process either lands what is left after the first,
    or says the warehouse is in use, in words, and leaves the files for the next run."""
    settings = make_settings(tmp_path / "data", monkeypatch)
    sent = _fill(settings.inbox_dir, 12)
    done = _two_ingests_at_once(settings)
    for p in done:
        assert "Traceback" not in p.stderr and "Errno" not in p.stdout + p.stderr
        assert p.returncode == 0 or "in use by another process" in p.stderr, p.stderr[-2000:]
    if list(settings.inbox_dir.iterdir()):         # the second was turned away: run again
        ingest_inbox(settings)
    landed = query(settings.warehouse_path, "select original_name, status from "
                   "raw.submission_files order by 1")
    assert landed == sorted((name, "loaded") for name in sent)
    assert list(settings.inbox_dir.iterdir()) == []


def test_a_file_refused_for_a_wrong_city_is_taken_when_sent_again_right(tmp_path,
                                                                          monkeypatch):
    settings = make_settings(tmp_path / "data", monkeypatch)
    sent = tmp_path / "civil_affairs.csv"
    sent.write_bytes(SAMPLE.read_bytes())
    wrong = ingest_file(sent, settings, city="370300")
    assert wrong.status == "rejected" and wrong.rows_accepted == 0
    right = ingest_file(sent, settings, city="371000")
    assert right.status == "loaded" and right.rows_accepted == len(_truth(_sample_lines()))
    assert right.file_hash == f"{wrong.file_hash}~1" and right.sha256 == wrong.file_hash
    assert any("not all of it was accepted" in c and "未被全部接收" in c
               for c in right.conflicts)
    folder = settings.archive_dir / wrong.file_hash[:2] / wrong.file_hash
    assert (folder / "receipt.json").exists() and (folder / "receipt-1.json").exists()
    assert "已接收" in (folder / "receipt-1.txt").read_text("utf-8")
    # sent a third time: taken whole before, so now a duplicate of the landing that stood
    again = ingest_file(sent, settings, city="371000")
    assert again.status == "duplicate" and again.rows_accepted == 0


def test_an_earlier_file_sent_again_says_which_later_file_stands(tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "data", monkeypatch)
    lines = _sample_lines()
    corrected = _canteens_plus(lines, 2)
    for name, text, ago in (("v1.csv", lines, 300), ("v2-corrected.csv", corrected, 200),
                            ("v1-again.csv", lines, 100)):
        path = settings.inbox_dir / name
        path.write_text("".join(text), "utf-8")
        os.utime(path, (time.time() - ago, time.time() - ago))
    first, correction, again = ingest_inbox(settings)
    assert (first.status, correction.status, again.status) == ("loaded", "loaded", "duplicate")
    assert "'v2-corrected.csv'" in again.message and "those stand" in again.message
    assert "“v2-corrected.csv”" in again.message and "以更正后的数值为准" in again.message
    assert "1 of its values" in again.message
