"""BI tools read the serving copy through SQLAlchemy (duckdb-engine, as Superset and Metabase
do) while a pipeline run writes the warehouse and publishes: no lock errors, and every read
sees one whole publication."""
import csv
import os
import subprocess
import sys
import time

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
