"""`citycheck bench --scale M --engine postgres --workers 1 2`: intake and build on PostgreSQL
with 1, 2, … intake processes side by side, on the same synthetic files as the DuckDB bench.

For each number of workers it makes a fresh database of a name of its own (on the server of
CITYCHECK_BENCH_PG_ADMIN_DSN, default the local one; dropped at the end, and nothing it did
not create is ever dropped), lands every file with that many
processes — each takes whole cities, in the order the files arrived, as a deployment would
shard intake by city — and then runs the dbt build once. Wall time of each, values per
second, and whether every value landed, go to bench/results/<scale>-postgres.json.

Then the same files are landed and built on the DuckDB engine, and every mart the first
PostgreSQL database built is compared with DuckDB's, row by row
(citycheck/devtools/engines.py): the result says how many rows agreed, or the first
differences.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from citycheck.devtools.bench import (
    RESULTS_DIR,
    SCALES,
    WORK_DIR,
    _run,
    write_reference,
    write_submissions,
)

ADMIN_DSN = "host=127.0.0.1 port=5432 dbname=postgres user=postgres"

# One intake process: its files, in batches (CITYCHECK_INGEST_BATCH_FILES), exit 1 unless
# every file was loaded.
WORKER = """
import sys
from pathlib import Path
from common.config import Settings
from extract.submissions import inbox_item, ingest_files
receipts = ingest_files([inbox_item(Path(p)) for p in sys.argv[1:]], Settings.from_env())
refused = [r.file_name + ': ' + r.message for r in receipts if r.status != 'loaded']
print('\\n'.join(refused[:5]))
sys.exit(1 if refused else 0)
"""


def _admin():
    import psycopg2

    con = psycopg2.connect(os.environ.get("CITYCHECK_BENCH_PG_ADMIN_DSN", ADMIN_DSN))
    con.autocommit = True
    return con


def _shares(inbox: Path, workers: int) -> list[list[Path]]:
    """The inbox's files for each worker: whole cities (file names start with the city's
    code), each share in arrival order."""
    files = sorted(inbox.iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
    cities = sorted({p.name.split("_", 1)[0] for p in files})
    mine = {c: i % workers for i, c in enumerate(cities)}
    return [[p for p in files if mine[p.name.split("_", 1)[0]] == k] for k in range(workers)]


def run_postgres_bench(scale_name: str, workers: list[int], workdir: Path | None = None,
                       results: Path = RESULTS_DIR) -> dict:
    import psycopg2

    scale = SCALES[scale_name]
    work = (workdir or WORK_DIR) / f"{scale.name}-postgres"
    if work.exists():
        shutil.rmtree(work)
    project, inputs = work / "dbt_project", work / "input"
    write_reference(scale, project)
    files = write_submissions(scale, inputs)
    admin = _admin()
    result = {"scale": scale.name, "values": scale.values, "files": files,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "ingest_batch_files": int(os.environ.get("CITYCHECK_INGEST_BATCH_FILES", 500)),
              "runs": []}
    created: list[str] = []      # dropped at the end: only what this run made
    try:
        for n in workers:
            # a name of this run's own: two people benchmarking on one server never meet
            name = f"citycheck_bench_{scale.name.lower()}_{n}_{uuid.uuid4().hex[:8]}"
            with admin.cursor() as cur:
                cur.execute(f"create database {name}")
            created.append(name)
            dsn = admin.dsn.replace("dbname=postgres", f"dbname={name}")
            data = work / f"workers-{n}"
            shutil.copytree(inputs, data / "inbox")     # copy2: the arrival times too
            env = dict(os.environ, CITYCHECK_DATA_DIR=str(data),
                       CITYCHECK_DBT_PROJECT_DIR=str(project),
                       CITYCHECK_WAREHOUSE_TARGET="postgres", CITYCHECK_PG_DSN=dsn,
                       DBT_SEND_ANONYMOUS_USAGE_STATS="false", GX_ANALYTICS_ENABLED="false")
            started = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-c", WORKER, *map(str, share)],
                                      env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
                     for share in _shares(data / "inbox", n)]
            outputs = [p.communicate()[0] for p in procs]
            ingest = time.perf_counter() - started
            failed = [o[-3000:] for p, o in zip(procs, outputs, strict=True) if p.returncode]
            if failed:
                raise RuntimeError("an intake worker failed:\n" + "\n".join(failed))
            with psycopg2.connect(dsn) as pg, pg.cursor() as cur:
                cur.execute("select count(*) from raw.submission_rows "
                            "where status = 'accepted'")
                landed = cur.fetchone()[0]
            build = _run("build", [sys.executable, "-m", "citycheck.cli", "build"], env,
                         scale.values)
            result["runs"].append({
                "workers": n, "ingest_seconds": round(ingest, 2),
                "ingest_values_per_second": round(scale.values / ingest),
                "values_landed": landed, "build_seconds": build.seconds,
                "build_peak_rss_mb": build.peak_rss_mb})
            if "engines" not in result:
                result["engines"] = compare_with_duckdb(inputs, project, work / "duckdb", dsn)
    finally:
        with admin.cursor() as cur:
            for name in created:
                cur.execute(f"drop database if exists {name} with (force)")
        admin.close()
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{scale.name}-postgres.json").write_text(
        json.dumps(result, indent=2) + "\n", "utf-8")
    return result


def compare_with_duckdb(inputs: Path, project: Path, data: Path, dsn: str) -> dict:
    """The same files landed (one intake process) and built on the DuckDB engine, and every
    mart compared with what PostgreSQL built (`dsn`)."""
    from citycheck.devtools.engines import FETCHES, duckdb_rows, mart_differences

    shutil.copytree(inputs, data / "inbox")
    env = dict(os.environ, CITYCHECK_DATA_DIR=str(data), CITYCHECK_DBT_PROJECT_DIR=str(project),
               DBT_SEND_ANONYMOUS_USAGE_STATS="false", GX_ANALYTICS_ENABLED="false")
    for key in ("CITYCHECK_WAREHOUSE_TARGET", "CITYCHECK_PG_DSN", "CITYCHECK_WAREHOUSE"):
        env.pop(key, None)
    files = sorted((data / "inbox").iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
    done = subprocess.run([sys.executable, "-c", WORKER, *map(str, files)], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError("intake on DuckDB failed:\n" + (done.stdout + done.stderr)[-3000:])
    build = _run("build on DuckDB", [sys.executable, "-m", "citycheck.cli", "build"], env, 0)
    warehouse = data / "warehouse" / "citycheck.duckdb"
    started = time.perf_counter()
    problems, counts = mart_differences(warehouse, duckdb_rows(warehouse, FETCHES)[1], dsn,
                                        "marts", duck_schema="marts")
    return {"duckdb_build_seconds": build.seconds, "marts_compared": len(counts),
            "rows_compared": sum(counts.values()), "agree": not problems,
            "differences": problems[:20],
            "compare_seconds": round(time.perf_counter() - started, 2)}


def print_postgres_result(result: dict, out=None) -> None:
    out = out or sys.stdout
    print(f"scale {result['scale']} on PostgreSQL: {result['values']:,} values in "
          f"{result['files']:,} files ({result['machine']})", file=out)
    for run in result["runs"]:
        print(f"  {run['workers']} intake worker(s): ingest {run['ingest_seconds']:>7.2f} s "
              f"({run['ingest_values_per_second']:>8,} values/s, {run['values_landed']:,} "
              f"landed), build {run['build_seconds']:>7.2f} s", file=out)
    engines = result.get("engines")
    if engines:
        verdict = ("every row agrees" if engines["agree"] else
                   "DIFFERENT: " + "; ".join(engines["differences"][:5]))
        print(f"  PostgreSQL and DuckDB, {engines['marts_compared']} marts and "
              f"{engines['rows_compared']:,} rows compared: {verdict}", file=out)
