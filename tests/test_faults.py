"""Faults caused for real (docs/reliability.md): the real CLI in a process of its own is killed
with SIGKILL at named points of intake, build and publish, or its writes fail as on a full
disk; then the normal recovery runs and the test checks what a user would find: every file
landed once with one receipt, the served content equal to what validation checked, every
output naming the same publication, no leftovers."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from common.config import SAMPLE_DIR
from tests.faults import (
    cli,
    killed,
    leftovers,
    parquet_rows,
    served_fingerprints,
    served_publication,
    sha256,
    warehouse,
)
from tests.helpers import make_settings, query

SAMPLES = sorted((SAMPLE_DIR / "submissions").iterdir())
CORRECTION = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
              ["指标代码", "区县名称", "数值"], ["sewage_treatment_rate_pct", "乳山市", "{value}"]]


def _fill_inbox(settings, files) -> dict[str, str]:
    """name -> sha256 of the files put in the inbox, arriving a second apart."""
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(files):
        dest = settings.inbox_dir / src.name
        shutil.copyfile(src, dest)
        os.utime(dest, (1_700_000_000 + i, 1_700_000_000 + i))
    return {p.name: sha256(p) for p in files}


@pytest.fixture(scope="module")
def clean_receipts(tmp_path_factory, portal_url) -> dict[str, dict]:
    """What an undisturbed run tells each sample file: sha256 -> its receipt's counts."""
    settings = make_settings(tmp_path_factory.mktemp("clean") / "data", portal_url=portal_url)
    _fill_inbox(settings, SAMPLES)
    proc = cli(settings, "ingest")
    assert proc.returncode in (0, 1), proc.stderr
    return _receipts(settings)


def _receipts(settings) -> dict[str, dict]:
    found = {}
    for path in settings.archive_dir.glob("*/*/receipt.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        found[path.parent.name] = {k: r[k] for k in ("file_name", "status", "rows_read",
                                                      "rows_accepted", "rows_rejected",
                                                      "rows_ignored")}
    return found


def _assert_each_file_landed_once(settings, digests: dict[str, str], clean: dict[str, dict]):
    assert list(settings.inbox_dir.iterdir()) == []              # nothing left waiting
    files = warehouse(settings, "select file_hash, original_name, rows_read, "
                                "(select count(*) from raw.submission_rows r "
                                " where r.file_hash = f.file_hash) from raw.submission_files f")
    assert sorted(f[0] for f in files) == sorted(digests.values())  # each once, none missing
    assert all(rows_read == rows for _, _, rows_read, rows in files)  # every record landed
    receipts = _receipts(settings)
    assert receipts == {d: clean[d] for d in digests.values()}     # as an undisturbed run
    assert list(settings.archive_dir.glob("*/*/duplicate-*")) == []  # one receipt each
    assert list(settings.archive_dir.glob("*/*/*.part")) == []
    assert list((settings.archive_dir / ".journal").glob("*")) == []  # all of it landed


@pytest.mark.both_engines
@pytest.mark.parametrize("point", ["ingest.before_copy:25", "ingest.after_copy:25",
                                   "ingest.in_transaction:2", "ingest.after_commit:2",
                                   "ingest.before_remove:2"])
def test_a_batch_killed_anywhere_loses_no_file(settings, clean_receipts, point):
    """56 files in batches of 20, killed in the second batch; the next run finishes."""
    digests = _fill_inbox(settings, SAMPLES)
    batches = {"CITYCHECK_INGEST_BATCH_FILES": "20"}
    assert killed(cli(settings, "ingest", crash_at=point, env=batches))
    proc = cli(settings, "ingest", env=batches)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    _assert_each_file_landed_once(settings, digests, clean_receipts)


@pytest.mark.both_engines
@pytest.mark.parametrize("point", ["ingest.before_copy", "ingest.after_copy",
                                   "ingest.in_transaction", "ingest.after_commit",
                                   "ingest.before_remove"])
def test_one_inbox_file_killed_anywhere_is_not_lost(settings, clean_receipts, point):
    digests = _fill_inbox(settings, SAMPLES[:1])
    assert killed(cli(settings, "ingest", crash_at=point))
    proc = cli(settings, "ingest")
    assert proc.returncode == 0, proc.stderr
    _assert_each_file_landed_once(settings, digests, clean_receipts)


@pytest.mark.both_engines
@pytest.mark.parametrize("point", ["ingest.in_transaction", "ingest.after_commit"])
def test_a_file_handed_to_ingest_is_landed_by_recover(settings, clean_receipts, tmp_path, point):
    """`citycheck ingest FILE` killed after the file was archived: `citycheck recover` lands it
    from the archive (or writes its receipt), under its own name and arrival time."""
    src = tmp_path / SAMPLES[0].name
    shutil.copyfile(SAMPLES[0], src)
    assert killed(cli(settings, "ingest", str(src), crash_at=point))
    proc = cli(settings, "recover")
    assert proc.returncode == 0, proc.stderr
    _assert_each_file_landed_once(settings, {src.name: sha256(src)}, clean_receipts)
    assert src.exists()                               # the user's own copy is never touched
    proc = cli(settings, "ingest", str(src))          # sent again: a duplicate, said so
    assert "duplicate" in proc.stdout


@pytest.mark.parametrize("point", ["ingest.after_copy", "ingest.in_transaction",
                                   "ingest.after_commit", "ingest.before_remove"])
def test_a_sigterm_anywhere_in_intake_stops_it_in_one_line_and_the_next_run_finishes(
        settings, clean_receipts, point):
    """Airflow's task timeout (SIGTERM) arriving at each point of intake: the command says
    it was stopped, exits 143, and the next run lands every file once, as if undisturbed."""
    digests = _fill_inbox(settings, SAMPLES[:3])
    proc = cli(settings, "ingest", term_at=point)
    assert proc.returncode == 143, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[0].startswith(
        "citycheck ingest: stopped (SIGTERM)"), proc.stderr
    proc = cli(settings, "ingest")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    _assert_each_file_landed_once(settings, digests, clean_receipts)


# -- build and publish --------------------------------------------------------------------

@pytest.fixture(scope="module")
def validated(sample_warehouse, tmp_path_factory, portal_url):
    """The published sample, then a correction landed, built and validated: a new build
    waiting to be published. Tests copy it."""
    data = tmp_path_factory.mktemp("validated") / "data"
    shutil.copytree(sample_warehouse, data, symlinks=True)
    settings = make_settings(data, portal_url=portal_url)
    _correct(settings, "97.1")
    for step in ("build", "validate"):
        proc = cli(settings, step)
        assert proc.returncode == 0, proc.stderr
    return data


def _correct(settings, value: str) -> None:
    import csv

    path = settings.inbox_dir / f"water_2023_correction_{value}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[c.format(value=value) for c in row] for row in CORRECTION])
    proc = cli(settings, "ingest")
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def waiting(validated, tmp_path, monkeypatch, portal_url):
    data = tmp_path / "data"
    shutil.copytree(validated, data, symlinks=True)
    return make_settings(data, monkeypatch, portal_url)


def _validated_fingerprints(settings) -> dict[str, tuple[int, str]]:
    return {t: (n, fp) for t, n, fp in warehouse(
        settings, "select table_name, row_count, fingerprint from audit.validated_marts "
                  "where validated_at = (select max(validated_at) from audit.validations)")}


def _assert_outputs_agree(settings) -> str:
    proc = cli(settings, "published")
    assert proc.returncode == 0 and "DISAGREE" not in proc.stdout, proc.stdout + proc.stderr
    assert leftovers(settings) == []
    served = served_fingerprints(settings)
    assert parquet_rows(settings) == {t: n for t, (n, _) in served.items()}
    return served_publication(settings)


@pytest.mark.parametrize("point,rolled_forward", [
    ("publish.staged_serving", False), ("publish.staged", False),
    ("publish.in_transaction", False), ("publish.committed", True),
    ("publish.switched", True)])
def test_a_publish_killed_between_outputs_serves_one_whole_publication(waiting, point,
                                                                        rolled_forward):
    old = served_fingerprints(waiting)
    old_id = served_publication(waiting)
    new = _validated_fingerprints(waiting)
    assert new != old                                  # the correction changed the marts

    assert killed(cli(waiting, "publish", crash_at=point))
    # readers get the old publication or the new one, whole, never a mix
    assert served_fingerprints(waiting) in (old, new)

    proc = cli(waiting, "recover")
    assert proc.returncode == 0, proc.stderr
    publication = _assert_outputs_agree(waiting)
    assert served_fingerprints(waiting) == (new if rolled_forward else old)
    assert (publication != old_id) == rolled_forward

    proc = cli(waiting, "publish")                      # the next normal run publishes
    assert proc.returncode == 0, proc.stderr
    _assert_outputs_agree(waiting)
    assert served_fingerprints(waiting) == new


@pytest.mark.parametrize("point,rolled_forward", [
    ("publish.staged", False), ("publish.in_transaction", False),
    ("publish.committed", True), ("publish.switched", True)])
def test_a_sigterm_anywhere_in_publish_stops_it_at_a_safe_point(waiting, point,
                                                                rolled_forward):
    """SIGTERM at each point of publish: one line, exit 143, readers keep one whole
    publication; `citycheck recover` finishes (rolls forward what was committed), the next
    publish publishes."""
    old, old_id = served_fingerprints(waiting), served_publication(waiting)
    new = _validated_fingerprints(waiting)
    proc = cli(waiting, "publish", term_at=point)
    assert proc.returncode == 143, proc.stderr
    said = proc.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("citycheck publish: stopped (SIGTERM)"), \
        proc.stderr
    assert served_fingerprints(waiting) in (old, new)
    proc = cli(waiting, "recover")
    assert proc.returncode == 0, proc.stderr
    assert (_assert_outputs_agree(waiting) != old_id) == rolled_forward
    assert served_fingerprints(waiting) == (new if rolled_forward else old)
    assert cli(waiting, "publish").returncode == 0
    _assert_outputs_agree(waiting)
    assert served_fingerprints(waiting) == new


@pytest.mark.parametrize("point", ["publish.serving", "publish.parquet", "publish.commit"])
def test_a_full_disk_during_any_output_changes_nothing(waiting, point):
    old, old_id = served_fingerprints(waiting), served_publication(waiting)
    proc = cli(waiting, "publish", fail_at=point)
    assert proc.returncode == 1
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    assert served_fingerprints(waiting) == old and served_publication(waiting) == old_id
    _assert_outputs_agree(waiting)


def test_a_full_disk_while_switching_is_finished_by_recover(waiting):
    proc = cli(waiting, "publish", fail_at="publish.switch")
    assert proc.returncode == 1 and "citycheck recover" in proc.stderr, proc.stderr
    proc = cli(waiting, "published")
    assert proc.returncode == 4 and "DISAGREE" in proc.stdout    # flagged, not hidden
    assert cli(waiting, "recover").returncode == 0
    _assert_outputs_agree(waiting)
    assert served_fingerprints(waiting) == _validated_fingerprints(waiting)


def test_a_file_size_limit_stops_the_serving_copy_cleanly(waiting):
    """A real write error: no file may grow past 256 KB, so the new serving copy cannot be
    written (as on a full disk)."""
    old_id = served_publication(waiting)
    proc = cli(waiting, "publish", file_size_limit=256 * 1024)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "previous publication" in proc.stderr
    assert served_publication(waiting) == old_id
    _assert_outputs_agree(waiting)


def test_a_build_killed_half_way_blocks_publication(waiting):
    """Killed once dbt has rebuilt fct_indicator_values but not yet the scorecard: publish
    refuses, readers keep the last publication, the next complete build publishes."""
    _correct(waiting, "96.4")
    old, old_id = served_fingerprints(waiting), served_publication(waiting)
    run_dir = waiting.data_dir / "dbt" / "target" / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    scorecard = run_dir / "citycheck" / "models" / "marts" / "mart_indicator_scorecard.sql"
    env = dict(os.environ, CITYCHECK_DATA_DIR=str(waiting.data_dir))
    proc = subprocess.Popen([sys.executable, "-m", "citycheck.cli", "build"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not scorecard.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)                   # as the dbt model starts
    assert proc.wait() == -signal.SIGKILL

    for step in ("validate", "publish"):
        refused = cli(waiting, step)
        assert refused.returncode == 1 and "did not finish" in refused.stderr, refused.stderr
    assert served_fingerprints(waiting) == old and served_publication(waiting) == old_id

    for step in ("build", "validate", "publish"):
        done = cli(waiting, step)
        assert done.returncode == 0, done.stderr
    _assert_outputs_agree(waiting)
    from citycheck.publication.publish import published_marts

    assert sorted(served_fingerprints(waiting)) == published_marts(waiting)  # no swap tables
    assert served_fingerprints(waiting) == _validated_fingerprints(waiting)
    # the build after the kill is incremental, and the scorecard the killed one never reached
    # still shows the correction: the next build finds what is behind, whatever stopped it
    assert query(waiting.warehouse_path, "select full_refresh from audit.builds "
                 "order by started_at desc limit 1") == [(False,)]
    assert query(waiting.serving_path,
                 "select value from mart_indicator_scorecard where indicator_code = "
                 "'sewage_treatment_rate_pct' and district_name_zh = '乳山市' and year = 2023"
                 ) == [(96.4,)]


def test_marts_changed_after_validation_are_not_published(waiting):
    """What is served is what was validated, by content: a mart written after validation
    (by hand, a stray process, a half-run dbt) is refused even though the audit says
    'validated'."""
    import duckdb

    old_id = served_publication(waiting)
    con = duckdb.connect(str(waiting.warehouse_path))
    con.execute("update marts.fct_indicator_values set value = 250 where year = 2019 and "
                "indicator_code = 'sewage_treatment_rate_pct'")
    con.execute("create table marts.dim_indicator__dbt_backup as select * from marts.dim_indicator")
    con.close()
    proc = cli(waiting, "publish")
    assert proc.returncode == 1 and "changed after build" in proc.stderr, proc.stderr
    assert "fct_indicator_values" in proc.stderr
    assert served_publication(waiting) == old_id


def test_validating_one_year_still_checks_every_year_it_publishes(waiting):
    """`validate --year 2023` on a build with a 250 % value in 2019 fails on 2019: a run
    validates everything it will publish (docs/validation.md)."""
    import duckdb

    con = duckdb.connect(str(waiting.warehouse_path))
    con.execute("update marts.fct_indicator_values set value = 250 where year = 2019 and "
                "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371002'")
    con.close()
    proc = cli(waiting, "validate", "--year", "2023")
    assert proc.returncode == 1 and "[year=2019]" in proc.stderr, proc.stderr
    assert cli(waiting, "publish").returncode == 1


@pytest.fixture
def on_a_small_disk(validated, tmp_path, monkeypatch, portal_url):
    """The waiting build on a disk of its own (a tmpfs a few times its size), so that the disk
    can be filled for real."""
    used = sum(f.stat().st_size for f in validated.rglob("*") if f.is_file() and
               not f.is_symlink())
    disk = tmp_path / "disk"
    disk.mkdir()
    size_mib = 3 * used // 2**20 + 64
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs",
                              str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a real full disk needs a tmpfs of its own, and mounting one was refused "
                    f"here ({mounted.stderr.strip()}): run as root to include this test")
    try:
        data = disk / "data"
        shutil.copytree(validated, data, symlinks=True)
        yield make_settings(data, monkeypatch, portal_url)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.parametrize("point", ["publish.serving", "publish.parquet", "publish.commit"])
def test_a_disk_that_fills_up_anywhere_in_publish_changes_nothing(on_a_small_disk, point):
    """The disk fills for real at each point of publish (the step goes on and meets it
    wherever it writes next)."""
    settings = on_a_small_disk
    old, old_id = served_fingerprints(settings), served_publication(settings)
    proc = cli(settings, "publish", env={"CITYCHECK_FILL_DISK_AT": point})
    assert proc.returncode == 1, proc.stderr
    said = proc.stderr.strip().splitlines()
    assert len(said) <= 2 and "No space left on device" in said[0], proc.stderr
    # the disk named is the one written to next: the publications' folder while staging,
    # the warehouse's at the commit
    device = settings.published_dir / "publications" if point == "publish.serving" else \
        settings.warehouse_path.parent
    assert f"The disk holding {device} is full: free space there" in said[0], said[0]
    assert "please report" not in proc.stderr and "TransactionContext" not in proc.stderr
    assert served_fingerprints(settings) == old and served_publication(settings) == old_id
    assert leftovers(settings) == []              # no staged publication left behind
    # space freed: the next publish goes through, every output on one publication
    (settings.data_dir / ".filler").unlink()
    proc = cli(settings, "publish")
    assert proc.returncode == 0, proc.stderr
    assert _assert_outputs_agree(settings) != old_id
