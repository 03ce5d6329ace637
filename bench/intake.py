"""Benchmark: ingest one large department submission (issue 3's performance goal).

    .venv/bin/python bench/intake.py [--rows 50000] [--formats csv,xlsx]

Generates a synthetic province (one city with 136 district-level units) and one department
answering for 60 indicators, writes a long-layout file with a year column of about ROWS data
rows, and ingests it with the real `ingest_file` into a fresh DuckDB warehouse, each format
in its own process so that peak memory (max RSS) is that format's alone. Prints rows/s and
peak memory, and writes bench/results/intake.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DISTRICTS = 136
INDICATORS = 60
CITY = "379900"
DEPARTMENT = "bench_department"
HEADER = ["指标代码", "区县代码", "年度", "数值", "单位", "备注"]


def write_reference(seeds: Path) -> None:
    """A synthetic reference: the real seed files' columns, a province-sized city."""
    seeds.mkdir(parents=True, exist_ok=True)

    def dump(name, header, rows):
        with open(seeds / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)

    def read_header(name):
        with open(ROOT / "dbt_project" / "seeds" / name, encoding="utf-8") as fh:
            return next(csv.reader(fh))

    dump("cities.csv", read_header("cities.csv"), [[CITY, "370000", "基准市", "Bench city"]])
    dump("departments.csv", read_header("departments.csv"),
         [[DEPARTMENT, "基准局", "Benchmark bureau"]])
    header = read_header("districts.csv")
    rows = [[CITY, CITY, "基准市", "Bench city", "city", "local", "false", "false",
             "2000-01-01", "", ""]]
    rows += [[f"{CITY[:4]}{i:02d}" if i < 100 else f"L{CITY[:3]}{i:03d}", CITY, f"第{i}区",
              f"District {i}", "district", "local", "false", "true", "2000-01-01", "", ""]
             for i in range(1, DISTRICTS + 1)]
    dump("districts.csv", header, rows)
    dump("district_aliases.csv", read_header("district_aliases.csv"), [])
    header = read_header("indicators.csv")
    ind_rows = []
    for i in range(1, INDICATORS + 1):
        row = dict.fromkeys(header, "")
        row.update(indicator_code=f"bench_indicator_{i:03d}", name_zh=f"基准指标{i}",
                   name_en=f"Bench indicator {i}", unit="%", direction="higher_better",
                   indicator_type="guidance", department_code=DEPARTMENT, aggregation="sum",
                   reporting_level="district", measure="rate", decimals="1", valid_min="0",
                   valid_max="100", required_every_year="true")
        ind_rows.append([row[h] for h in header])
    dump("indicators.csv", header, ind_rows)
    programme = dict.fromkeys(read_header("programmes.csv"), "")
    programme.update(programme_code="bench", city_code=CITY, name_zh="基准计划",
                     name_en="Bench programme", first_year="2000", round_opens="01-01")
    dump("programmes.csv", list(programme), [list(programme.values())])
    dump("framework_items.csv", read_header("framework_items.csv"),
         [["bench", "city_health_check", "chc_ecology", f"bench_indicator_{i:03d}", 2000, ""]
          for i in range(1, INDICATORS + 1)])


def data_rows(n: int) -> list[list[object]]:
    codes = [f"{CITY[:4]}{i:02d}" if i < 100 else f"L{CITY[:3]}{i:03d}"
             for i in range(1, DISTRICTS + 1)]
    rows, year = [], 2015
    while len(rows) < n:
        for ind in range(1, INDICATORS + 1):
            for d, code in enumerate(codes):
                rows.append([f"bench_indicator_{ind:03d}", code, year,
                             round((ind * 7 + d * 13 + year) % 1000 / 10, 1), "%", ""])
                if len(rows) == n:
                    return rows
        year += 1
    return rows


def write_file(path: Path, n: int) -> None:
    meta = [["填报部门", DEPARTMENT], ["城市", CITY], ["年度", "2015"], []]
    rows = data_rows(n)
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([*meta, HEADER, *rows])
    else:
        import openpyxl

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("数据")
        for r in [*meta, HEADER, *rows]:
            ws.append(r)
        wb.save(path)


def ingest_once(path: Path, seeds: Path, data_dir: Path) -> dict:
    """Runs in the child process: ingest `path` and report what happened."""
    import os

    os.environ["CITYCHECK_DATA_DIR"] = str(data_dir)
    os.environ["CITYCHECK_MAX_FILE_BYTES"] = str(1 << 30)
    from common.config import Settings
    from common.reference import load_reference
    from extract.submissions import ingest_file

    ref = load_reference(seeds)
    started = time.perf_counter()
    receipt = ingest_file(path, Settings.from_env(), ref=ref)
    seconds = time.perf_counter() - started
    data = receipt.rows_accepted
    assert receipt.status == "loaded", receipt.message
    assert receipt.rows_rejected == 0, receipt.rejected[:3]
    return {"seconds": round(seconds, 3), "rows_read": receipt.rows_read,
            "rows_accepted": data, "rows_per_second": round(data / seconds),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--child", nargs=3, metavar=("FILE", "SEEDS", "DATA"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest_once(*map(Path, args.child))))
        return 0
    results = {"rows": args.rows, "districts": DISTRICTS, "indicators": INDICATORS}
    with tempfile.TemporaryDirectory(prefix="citycheck-bench-intake-") as tmp:
        tmp = Path(tmp)
        write_reference(tmp / "seeds")
        for fmt in args.formats.split(","):
            path = tmp / f"{CITY}_{DEPARTMENT}_2015.{fmt}"
            started = time.perf_counter()
            write_file(path, args.rows)
            made = time.perf_counter() - started
            proc = subprocess.run([sys.executable, __file__, "--child", str(path),
                                   str(tmp / "seeds"), str(tmp / f"data-{fmt}")],
                                  capture_output=True, text=True)
            if proc.returncode:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return 1
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            result["file_mb"] = round(path.stat().st_size / 1e6, 2)
            results[fmt] = result
            print(f"{fmt:5} {args.rows:>7} rows  {result['seconds']:6.2f} s  "
                  f"{result['rows_per_second']:>8,} rows/s  peak {result['peak_rss_mb']:6.1f} MB"
                  f"  (file {result['file_mb']} MB, generated in {made:.1f} s)")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "intake.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
