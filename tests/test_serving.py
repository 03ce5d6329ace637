"""BI tools read the serving copy through SQLAlchemy (duckdb-engine, as Superset and Metabase
do) while a pipeline run writes the warehouse and publishes: no lock errors, and every read
sees one whole publication."""
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("duckdb_engine")


def test_readers_see_whole_publications_while_the_pipeline_publishes(built, tmp_path):
    with open(built.inbox_dir / "water_2023_correction.csv", "w", newline="",
              encoding="utf-8") as fh:
        csv.writer(fh).writerows([["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
                                  ["指标代码", "区县名称", "数值"],
                                  ["sewage_treatment_rate_pct", "乳山市", "97.9"]])
    engine = sa.create_engine(f"duckdb:///{built.serving_path}",
                              connect_args={"read_only": True}, poolclass=sa.pool.NullPool)
    env = dict(os.environ, CITYCHECK_DATA_DIR=str(built.data_dir))
    writer = subprocess.Popen([sys.executable, "-m", "citycheck.cli", "run", "--no-fetch"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    seen: dict[str, set[int]] = {}
    reads = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        running = writer.poll() is None
        with engine.connect() as con:  # one connection: one file, one publication
            (publication,) = con.execute(sa.text("select publication_id from publication")).one()
            (versions,) = con.execute(sa.text(
                "select count(*) from fct_indicator_value_versions")).one()
        seen.setdefault(publication, set()).add(versions)
        reads += 1
        if not running:
            break
        time.sleep(0.05)
    output = writer.communicate()[0]
    assert writer.returncode == 0, output[-3000:]
    assert len(seen) == 2, f"expected the old and the new publication, saw {seen}"
    assert all(len(counts) == 1 for counts in seen.values()), seen  # never a half-publication
    (old,), (new,) = (seen[p] for p in sorted(seen))
    assert new == old + 1 and reads > 20


def test_a_reader_that_forgets_read_only_cannot_lock_the_others_out(built):
    """The serving file is read-only on disk: as any user but root, a plain
    `duckdb.connect(path)` (or a `duckdb:///…` URL without read_only) is refused with
    "Permission denied" instead of taking the write lock, and read-only readers go on."""
    import shutil
    import stat
    import tempfile

    served = built.serving_path.resolve()
    assert stat.S_IMODE(served.stat().st_mode) == 0o444
    if os.geteuid() != 0:
        user = []
    elif shutil.which("setpriv"):
        user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    else:
        pytest.skip("running as root without setpriv: file modes do not bind root, and no "
                    "other user is at hand to try as")
    folder = Path(tempfile.mkdtemp(prefix="citycheck-reader-"))
    try:
        folder.chmod(0o755)
        copy = folder / "citycheck.duckdb"
        shutil.copy2(served, copy)             # the mode comes along
        script = ("import duckdb, sys\n"
                  "try:\n"
                  "    duckdb.connect(sys.argv[1])\n"
                  "    print('opened for writing')\n"
                  "except duckdb.Error as exc:\n"
                  "    print('refused:', exc)\n"
                  "ro = duckdb.connect(sys.argv[1], read_only=True)\n"
                  "print('read:', ro.execute('select count(*) from dim_year').fetchone()[0])\n")
        done = subprocess.run([*user, sys.executable, "-c", script, str(copy)],
                              capture_output=True, text=True, timeout=60, cwd=folder)
        assert "refused:" in done.stdout and "Permission denied" in done.stdout, done
        assert "read: " in done.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
