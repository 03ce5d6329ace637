"""`citycheck bench --scale S|M|L|XL`: how cost grows, side by side with the alternatives.

For a scale it generates a synthetic reference (cities, district-level units, indicators of six
departments) and department submissions of realistic shape (one CSV per department, city and
year, in the long layout), then runs the real pipeline on them, one stage per process so each
stage's wall time and peak memory (VmHWM of the process, dbt included: it runs in-process)
are its own: ingest -> build (dbt) -> validate (Great Expectations) -> publish, then what people
read: the indicator pages (`citycheck site`) and every annual report with its PDF
(`citycheck report`). On the same
files it times (a) a plain pandas script and (b) one hand-written DuckDB statement computing
the same scorecard (value, change on the previous year, rank among the city's districts
honouring direction), and checks that all three agree value for value. The re-submission of
one department's file is timed until the pages and reports it touched are written again.

Results go to bench/results/<scale>.json and bench/results/summary.md. Each result names its
run (`run_id`: when it started and the commit), the commit (and whether the work tree had
changes), the machine and its load average when the run began; the scales of one
`citycheck bench --scale S M L` are one run, and the summary shows that run's results only —
a result of another run (another day, commit or machine) is listed as left out, never mixed
into the tables.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common.config import DBT_PROJECT_DIR, DEFAULT_DUCKDB_MEMORY_LIMIT, PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
WORK_DIR = PROJECT_ROOT / "bench" / "work"
DEPARTMENTS = 6
FIRST_YEAR = 2014
DIMENSIONS = ["chc_ecology", "chc_character", "chc_transport", "chc_living", "chc_inclusion",
              "chc_safety", "chc_vitality", "chc_satisfaction"]


@dataclass(frozen=True)
class Scale:
    name: str
    cities: int
    districts: int
    indicators: int
    years: int

    @property
    def values(self) -> int:
        return self.districts * self.indicators * self.years


SCALES = {
    "S": Scale("S", cities=1, districts=9, indicators=60, years=5),            # one city
    "M": Scale("M", cities=16, districts=136, indicators=120, years=10),       # a province
    "L": Scale("L", cities=300, districts=2850, indicators=120, years=10),     # the country
    "XL": Scale("XL", cities=2850, districts=40000, indicators=100, years=10),  # sub-district
}


@dataclass
class Stage:
    name: str
    seconds: float
    peak_rss_mb: float
    values_per_second: float = 0.0
    # CPU time (user + system) of the stage's process, its threads (dbt's) and the processes
    # it waited for; on 2 cores it can exceed the wall time. Chromium's renderers, forked by
    # its zygote, are not reaped through the stage: for the reports this is a lower bound
    cpu_seconds: float | None = None
    # a build's slowest dbt nodes, [unique_id, seconds] (dbt's run_results.json): what
    # dominates the build, recorded with the run it belongs to
    slowest_nodes: list | None = None


@dataclass
class BenchResult:
    scale: str
    values: int
    files: int
    stages: list[Stage] = field(default_factory=list)
    baselines: list[Stage] = field(default_factory=list)
    agree: bool = False
    compared_rows: int = 0
    machine: str = ""
    # One department of one city re-submits its latest year: ingest -> build -> validate ->
    # publish again, until the serving copy shows the new values.
    incremental: list[Stage] = field(default_factory=list)
    incremental_visible: bool = False
    duckdb_memory_limit: str = ""    # what dbt's DuckDB was allowed (DUCKDB_MEMORY_LIMIT)
    # what people read, after the publication: `citycheck site`, `citycheck report` (PDFs)
    pages: list[Stage] = field(default_factory=list)
    # which run this is: the scales of one `citycheck bench` share it (see write_summary)
    run_id: str = ""
    started_at: str = ""
    commit: str = ""
    load_average: list[float] = field(default_factory=list)

    @property
    def incremental_seconds(self) -> float:
        """From the file dropped until the touched pages and reports are written."""
        return sum(s.seconds for s in self.incremental)

    @property
    def incremental_published_seconds(self) -> float:
        """From the file dropped until the serving copy shows it."""
        return sum(s.seconds for s in self.incremental
                   if s.name.split()[-1] in ("ingest", "build", "validate", "publish"))

    @property
    def pipeline_seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


# -- the synthetic world ----------------------------------------------------------------------

def _city(c: int) -> str:
    return f"9{c:05d}"


def _district(c: int, k: int) -> str:
    return f"D{c:05d}{k:04d}"


def _layout(scale: Scale) -> dict[str, list[str]]:
    """city code -> its districts (spread as evenly as the counts allow)."""
    cities: dict[str, list[str]] = {_city(c): [] for c in range(scale.cities)}
    codes = list(cities)
    for k in range(scale.districts):
        c = k % scale.cities
        cities[codes[c]].append(_district(c, k // scale.cities))
    return cities


def _indicator(i: int) -> dict[str, str]:
    return {"indicator_code": f"bench_{i:03d}", "department": f"bench_dept_{i % DEPARTMENTS}",
            "direction": "lower_better" if i % 3 == 0 else "higher_better",
            "aggregation": "sum" if i % 2 else "none"}


def write_reference(scale: Scale, project: Path) -> None:
    """A copy of the dbt project whose seeds describe the synthetic world."""
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    seeds = project / "seeds"

    def header(name: str) -> list[str]:
        with open(DBT_PROJECT_DIR / "seeds" / name, encoding="utf-8") as fh:
            return next(csv.reader(fh))

    def dump(name: str, rows: list[dict]) -> None:
        names = header(name)
        with open(seeds / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=names, restval="")
            w.writeheader()
            w.writerows(rows)

    layout = _layout(scale)
    dump("cities.csv", [{"city_code": c, "province_code": "990000", "name_zh": f"基准{c}市",
                         "name_en": f"Bench city {c}"} for c in layout])
    dump("departments.csv", [{"department_code": f"bench_dept_{d}", "name_zh": f"基准局{d}",
                              "name_en": f"Bench bureau {d}"} for d in range(DEPARTMENTS)])
    districts = []
    for city, units in layout.items():
        districts.append({"district_code": city, "city_code": city, "name_zh": f"基准{city}市",
                          "name_en": f"Bench city {city}", "unit_level": "city",
                          "code_kind": "local", "is_central_city": "false",
                          "reports_indicators": "false", "valid_from": "2000-01-01"})
        districts += [{"district_code": d, "city_code": city, "name_zh": f"基准{d}区",
                       "name_en": f"Bench district {d}", "unit_level": "district",
                       "code_kind": "local", "is_central_city": "false",
                       "reports_indicators": "true", "valid_from": "2000-01-01"} for d in units]
    dump("districts.csv", districts)
    dump("district_aliases.csv", [])
    dump("department_aliases.csv", [])
    dump("targets.csv", [])
    dump("district_targets.csv", [])
    indicators = [_indicator(i) for i in range(scale.indicators)]
    dump("indicators.csv", [{
        "indicator_code": ind["indicator_code"], "name_zh": f"基准指标{i}",
        "name_en": f"Bench indicator {i}", "unit": "%", "direction": ind["direction"],
        "indicator_type": "guidance",
        "department_code": ind["department"], "aggregation": ind["aggregation"],
        "reporting_level": "district", "measure": "rate", "decimals": "1", "valid_min": "0",
        "valid_max": "1000", "required_every_year": "true"} for i, ind in enumerate(indicators)])
    dump("framework_items.csv", [{"programme_code": f"bench_{c}", "scheme": "city_health_check",
                                  "classification_code": DIMENSIONS[i % len(DIMENSIONS)],
                                  "indicator_code": ind["indicator_code"],
                                  "first_year": FIRST_YEAR}
                                 for c in layout for i, ind in enumerate(indicators)])
    dump("index_weights.csv", [{"indicator_code": ind["indicator_code"], "weight": "1"}
                               for ind in indicators])
    dump("source_precedence.csv", [])
    # every value checked against the year before, as a real programme's would be
    # (informing, not holding: random figures jump, and the bench publishes every one)
    dump("plausibility_rules.csv", [{"indicator_code": ind["indicator_code"],
                                     "rule": "yoy_factor", "threshold": "3",
                                     "action": "inform", "why": "bench"} for ind in indicators])
    # each city runs a programme whose rounds are the benchmark's years
    dump("programmes.csv", [{"programme_code": f"bench_{c}", "city_code": c,
                             "name_zh": f"基准{c}市计划", "name_en": f"Bench programme {c}",
                             "first_year": FIRST_YEAR,
                             "last_year": FIRST_YEAR + scale.years - 1,
                             "round_opens": "01-01", "round_deadline": ""} for c in layout])


def write_submissions(scale: Scale, inbox: Path, seed: int = 20261121) -> int:
    """One long-layout CSV per department, city and year; returns the number of files."""
    rng = random.Random(seed)
    inbox.mkdir(parents=True, exist_ok=True)
    layout = _layout(scale)
    by_department: dict[str, list[str]] = {}
    for i in range(scale.indicators):
        ind = _indicator(i)
        by_department.setdefault(ind["department"], []).append(ind["indicator_code"])
    files = 0
    stamp = time.time() - 1_000_000
    for year in range(FIRST_YEAR, FIRST_YEAR + scale.years):
        for city, units in layout.items():
            for department, codes in by_department.items():
                path = inbox / f"{city}_{department}_{year}.csv"
                with open(path, "w", newline="", encoding="utf-8") as fh:
                    w = csv.writer(fh)
                    w.writerows([["填报部门", department], ["城市", city], ["年度", year], [],
                                 ["指标代码", "区县代码", "数值"]])
                    w.writerows([code, d, round(rng.uniform(1, 999), 1)]
                                for code in codes for d in units)
                files += 1
                os.utime(path, (stamp + files, stamp + files))
    return files


def write_resubmission(scale: Scale, inbox: Path, served: Path) -> tuple[Path, dict]:
    """The first department of the first city re-submits the latest year, every value
    changed by +1.5: (file, {(indicator, district): new value}) read from what is published."""
    import duckdb

    layout = _layout(scale)
    city = next(iter(layout))
    department = _indicator(0)["department"]
    year = FIRST_YEAR + scale.years - 1
    codes = [_indicator(i)["indicator_code"] for i in range(scale.indicators)
             if _indicator(i)["department"] == department]
    con = duckdb.connect(str(served), read_only=True)
    try:
        current = con.execute(
            "select indicator_code, district_code, value from fct_indicator_values "
            "where year = ? and district_code in (select unnest(?)) and "
            "indicator_code in (select unnest(?))", [year, layout[city], codes]).fetchall()
    finally:
        con.close()
    new = {(ind, dist): round(value + 1.5, 1) for ind, dist, value in current}
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"{city}_{department}_{year}_resubmitted.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerows([["填报部门", department], ["城市", city], ["年度", year], [],
                     ["指标代码", "区县代码", "数值"]])
        w.writerows([ind, dist, value] for (ind, dist), value in sorted(new.items()))
    return path, new


def _published(served: Path, year: int, expected: dict) -> bool:
    import duckdb

    con = duckdb.connect(str(served), read_only=True)
    try:
        rows = con.execute("select indicator_code, district_code, value from "
                           "fct_indicator_values where year = ?", [year]).fetchall()
    finally:
        con.close()
    shown = {(i, d): v for i, d, v in rows if (i, d) in expected}
    return bool(expected) and shown == expected


# -- measuring --------------------------------------------------------------------------------

def _high_water_mb(pid: int) -> float | None:
    """VmHWM of a running process: its peak resident memory since exec. (ru_maxrss from
    wait4 is no use here: Linux keeps it across exec, so every child would report at least
    this parent's size.)"""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def slowest_nodes(run_results: Path, count: int = 12) -> list[list]:
    """The `count` dbt nodes (models, tests) that took longest in the build that wrote
    `run_results`, slowest first, with the seconds each took."""
    if not run_results.exists():
        return []
    results = json.loads(run_results.read_text("utf-8"))["results"]
    ranked = sorted(results, key=lambda r: r.get("execution_time") or 0, reverse=True)
    return [[r["unique_id"], round(r.get("execution_time") or 0, 2)] for r in ranked[:count]]


def _run(name: str, argv: list[str], env: dict, values: int) -> Stage:
    """Run one stage in its own process; its wall time, CPU time (the rusage of the children
    this process reaped, before and after: stages run one at a time) and peak memory (VmHWM,
    sampled every 50 ms while it runs; a high-water mark, so a late sample holds the earlier
    peaks)."""
    import resource
    import tempfile

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _high_water_mb(proc.pid) or 0.0)
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if proc.returncode:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace")[-4000:]
            raise RuntimeError(f"bench stage {name} failed (exit {proc.returncode}):\n{tail}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Stage(name, round(seconds, 2), round(peak, 1),
                 round(values / seconds) if seconds else 0.0, round(cpu, 2))


SCORECARD_SQL = """
with submitted as (
    select "指标代码" as indicator_code, "区县代码" as district_code,
           cast(regexp_extract(filename, '_(\\d{{4}})\\.csv$', 1) as integer) as year,
           cast("数值" as double) as value
    from read_csv('{inbox}/*.csv', skip = 4, header = true, filename = true,
                  columns = {{'指标代码': 'VARCHAR', '区县代码': 'VARCHAR', '数值': 'VARCHAR'}})
),
joined as (
    select s.*, d.city_code, i.direction
    from submitted as s
    join read_csv('{seeds}/districts.csv', all_varchar = true) as d
      on d.district_code = s.district_code
    join read_csv('{seeds}/indicators.csv', all_varchar = true) as i
      on i.indicator_code = s.indicator_code
)
select district_code, indicator_code, year, value,
       value - lag(value) over (partition by district_code, indicator_code order by year)
           as change_on_previous_year,
       rank() over (partition by city_code, indicator_code, year
                    order by case when direction = 'lower_better' then value else -value end)
           as rank_in_city
from joined
"""

PANDAS_SCRIPT = """
import glob, re, sys
import pandas as pd
inbox, seeds, out = sys.argv[1:4]
frames = []
for path in glob.glob(inbox + "/*.csv"):
    f = pd.read_csv(path, skiprows=4, dtype=str)
    f["year"] = int(re.search(r"_(\\d{4})\\.csv$", path).group(1))
    frames.append(f)
s = pd.concat(frames).rename(columns={"指标代码": "indicator_code", "区县代码": "district_code",
                                      "数值": "value"})
s["value"] = s["value"].astype(float)
d = pd.read_csv(seeds + "/districts.csv", dtype=str)[["district_code", "city_code"]]
i = pd.read_csv(seeds + "/indicators.csv", dtype=str)[["indicator_code", "direction"]]
s = s.merge(d, on="district_code").merge(i, on="indicator_code")
s = s.sort_values("year")
s["change_on_previous_year"] = s["value"] - s.groupby(["district_code", "indicator_code"])["value"].shift()
s["key"] = s["value"].where(s["direction"] == "lower_better", -s["value"])
s["rank_in_city"] = s.groupby(["city_code", "indicator_code", "year"])["key"].rank(method="min")
s[["district_code", "indicator_code", "year", "value", "change_on_previous_year",
   "rank_in_city"]].to_csv(out, index=False)
"""

DUCKDB_SCRIPT = """
import sys, duckdb
sql, out = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2]
duckdb.sql(f"copy ({sql}) to '{out}' (format parquet)")
"""


def _compare(serving: Path, *parquets: Path) -> tuple[bool, int]:
    """Do the pipeline's scorecard and the baselines agree on every district value?"""
    import duckdb

    con = duckdb.connect()
    con.execute(f"attach '{serving}' as p (read_only)")
    base = ("select district_code, indicator_code, year, value, change_on_previous_year, "
            "cast(rank_in_city as bigint) as rank_in_city from {}")
    ours = base.format("p.main.mart_indicator_scorecard where not is_city_total")
    n = con.execute(f"select count(*) from ({ours})").fetchone()[0]
    for parquet in parquets:
        # the CSV's types are given: sniffing a national file can type an empty-looking
        # column as text
        reader = (f"read_parquet('{parquet}')" if parquet.suffix == ".parquet" else
                  f"read_csv('{parquet}', header = true, columns = {{'district_code': 'VARCHAR', "
                  "'indicator_code': 'VARCHAR', 'year': 'INTEGER', 'value': 'DOUBLE', "
                  "'change_on_previous_year': 'DOUBLE', 'rank_in_city': 'DOUBLE'})")
        theirs = base.format(reader)
        diff = con.execute(f"""
            select count(*) from ({ours}) as a full outer join ({theirs}) as b
              using (district_code, indicator_code, year)
            where a.value is distinct from b.value
               or a.rank_in_city is distinct from b.rank_in_city
               or abs(coalesce(a.change_on_previous_year, 0)
                      - coalesce(b.change_on_previous_year, 0)) > 1e-6
               or (a.change_on_previous_year is null) <> (b.change_on_previous_year is null)
        """).fetchone()[0]
        if diff:
            return False, n
    return True, n


# DuckDB's memory limit, dbt's and every citycheck connection's, at each scale
# (CITYCHECK_DUCKDB_MEMORY_LIMIT wins when set). At XL two of the dbt tests over 40 million
# versions cannot spill enough within 2 GB and fail with DuckDB's "Out of Memory Error:
# failed to pin block"; 8 GB leaves a 24 GB machine two thirds free.
DUCKDB_MEMORY_LIMIT = {"XL": "8GB"}
# The incremental case is defined at L; at XL it would re-run an hour's pipeline for one file.
INCREMENTAL_SCALES = ("S", "M", "L")


def commit_of(root: Path = PROJECT_ROOT) -> str:
    """The checked-out commit, with "+changes" when the work tree differs from it. The
    results folder does not count: the bench writes it itself, and a run of S M L marked
    M and L "+changes" once S's results were written."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    results = RESULTS_DIR.relative_to(PROJECT_ROOT).as_posix()
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  f":(exclude){results}")
    return head + ("+changes" if changed else "")


def new_run_id(commit: str | None = None) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{commit or commit_of()}"


def run_bench(scale_name: str, workdir: Path | None = None, resume: bool = False,
              run_id: str | None = None) -> BenchResult:
    """Run one scale. Each finished stage is recorded in <work>/progress.json; with `resume`,
    a run that stopped (a failed or interrupted stage, hours into XL) goes on from the first
    unfinished stage on the same files instead of starting again."""
    scale = SCALES[scale_name]
    work = (workdir or WORK_DIR) / scale.name
    project, data, inputs = work / "dbt_project", work / "data", work / "input"
    progress_file = work / "progress.json"
    if resume and progress_file.exists():
        progress = json.loads(progress_file.read_text("utf-8"))
    else:
        if work.exists():
            shutil.rmtree(work)
        write_reference(scale, project)
        files = write_submissions(scale, data / "inbox")
        shutil.copytree(data / "inbox", inputs)  # the baselines read the same files
        progress = {"files": files, "stages": {}}
        progress_file.write_text(json.dumps(progress), "utf-8")
    env = dict(os.environ, CITYCHECK_DATA_DIR=str(data), CITYCHECK_DBT_PROJECT_DIR=str(project),
               DBT_SEND_ANONYMOUS_USAGE_STATS="false", GX_ANALYTICS_ENABLED="false",
               # the bench writes each file whole before intake runs: the time a dropped file
               # waits to be sure it is complete (10 s by default) is not intake's work
               CITYCHECK_INBOX_SETTLE_SECONDS="0")
    env.setdefault("CITYCHECK_DUCKDB_MEMORY_LIMIT",
                   DUCKDB_MEMORY_LIMIT.get(scale.name, DEFAULT_DUCKDB_MEMORY_LIMIT))

    def stage(name: str, argv: list[str], values: int) -> Stage:
        if name in progress["stages"]:
            return Stage(**progress["stages"][name])
        measured = _run(name, argv, env, values)
        if argv[-1] == "build":
            measured.slowest_nodes = slowest_nodes(data / "dbt" / "target" / "run_results.json")
        progress["stages"][name] = asdict(measured)
        progress_file.write_text(json.dumps(progress), "utf-8")
        return measured

    cli = [sys.executable, "-m", "citycheck.cli"]
    commit = commit_of()
    result = BenchResult(scale.name, scale.values, progress["files"],
                         machine=f"{platform.machine()}, {os.cpu_count()} cores, "
                                 f"{platform.python_implementation()} "
                                 f"{platform.python_version()}",
                         duckdb_memory_limit=env["CITYCHECK_DUCKDB_MEMORY_LIMIT"],
                         run_id=run_id or new_run_id(commit),
                         started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                         commit=commit, load_average=[round(x, 2) for x in os.getloadavg()])
    for name in ("ingest", "build", "validate", "publish"):
        result.stages.append(stage(name, cli + [name], scale.values))
    # what people read: every indicator page, every annual report and its PDF
    result.pages.append(stage("site", cli + ["site"], scale.values))
    result.pages.append(stage("reports", cli + ["report"], scale.values))
    sql_file = work / "scorecard.sql"
    sql_file.write_text(SCORECARD_SQL.format(inbox=inputs, seeds=project / "seeds"), "utf-8")
    for name, script, args in (
            ("pandas script", PANDAS_SCRIPT, [str(inputs), str(project / "seeds"),
                                              str(work / "pandas.csv")]),
            ("DuckDB one statement", DUCKDB_SCRIPT, [str(sql_file), str(work / "duckdb.parquet")])):
        result.baselines.append(stage(name, [sys.executable, "-c", script, *args], scale.values))
    served = data / "published" / "citycheck.duckdb"
    result.agree, result.compared_rows = _compare(served, work / "pandas.csv",
                                                  work / "duckdb.parquet")
    if scale.name not in INCREMENTAL_SCALES:
        return result

    # Incremental: what the asset-triggered warehouse run does after one new file.
    if "incremental ingest" not in progress["stages"]:
        _, expected = write_resubmission(scale, data / "inbox", served)
        progress["expected"] = [[i, d, v] for (i, d), v in expected.items()]
    expected = {(i, d): v for i, d, v in progress["expected"]}
    for name in ("ingest", "build", "validate", "publish"):
        result.incremental.append(stage(f"incremental {name}", cli + [name], len(expected)))
    result.incremental_visible = _published(served, FIRST_YEAR + scale.years - 1, expected)
    # ... until the pages and reports it touched are written again (only those)
    result.incremental.append(stage("incremental site", cli + ["site"], len(expected)))
    result.incremental.append(stage("incremental reports", cli + ["report"], len(expected)))
    return result


def write_results(result: BenchResult, out: Path = RESULTS_DIR) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data = asdict(result) | {
        "pipeline_seconds": round(result.pipeline_seconds, 2),
        "incremental_seconds": round(result.incremental_seconds, 2),
        "incremental_published_seconds": round(result.incremental_published_seconds, 2)}
    (out / f"{result.scale}.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    return write_summary(out, result.run_id)


def write_summary(out: Path = RESULTS_DIR, run_id: str | None = None) -> Path:
    """summary.md and the plot, from the <scale>.json in `out` of one run (`run_id`; else the
    run of the newest result). Results of other runs are named as left out, never mixed in."""
    everything = [(path, json.loads(path.read_text("utf-8"))) for path in sorted(out.glob("*.json"))]
    everything = [(p, r) for p, r in everything if "stages" in r]
    if run_id is None and everything:
        run_id = max(everything, key=lambda pr: pr[1].get("started_at", ""))[1].get("run_id")
    mine = [r for _, r in everything if r.get("run_id") == run_id]
    left_out = [f"{p.name} (run {r.get('run_id') or 'not recorded'})"
                for p, r in everything if r.get("run_id") != run_id]
    rows = []
    for r in sorted(mine, key=lambda r: r["values"]):
        cells = {s["name"]: s for s in r["stages"] + r["baselines"]}
        rows.append(f"| {r['scale']} | {r['values']:,} | {r['files']:,} | "
                    + " | ".join(f"{cells[n]['seconds']} s / {cells[n]['peak_rss_mb']:.0f} MB"
                                 for n in ("ingest", "build", "validate", "publish",
                                           "pandas script", "DuckDB one statement"))
                    + f" | {r['pipeline_seconds']} s | {'yes' if r['agree'] else 'NO'} |")
    table = ["| scale | values | files | ingest | build | validate | publish | pandas script | "
             "DuckDB one statement | pipeline total | same numbers |",
             "| --- | ---: | ---: | --- | --- | --- | --- | --- | --- | ---: | --- |", *rows]
    results = {r["scale"]: r for r in sorted(mine, key=lambda r: r["values"])}
    pages = [f"| {r['scale']} | " + " | ".join(
        f"{s['seconds']} s / {s['peak_rss_mb']:.0f} MB" for s in r["pages"]) + " |"
        for r in results.values() if len(r.get("pages") or []) == 2]
    incremental = [f"| {r['scale']} | {r.get('incremental_published_seconds', '–')} s | "
                   f"{r.get('incremental_seconds', '–')} s | "
                   f"{'yes' if r.get('incremental_visible') else 'no'} |"
                   for r in results.values() if r.get("incremental")]
    first = next(iter(results.values()), {})
    summary = out / "summary.md"
    summary.write_text(
        "# Benchmark results\n\n"
        f"Run {run_id}: started {first.get('started_at', '?')}, commit "
        f"{first.get('commit', '?')}, {first.get('machine', '?')}, load average "
        f"{first.get('load_average', '?')} when it began.\n"
        + (f"Left out (other runs): {', '.join(left_out)}.\n" if left_out else "")
        + "\nEach cell: wall time / peak RSS of that stage's process. "
        "Made by `citycheck bench`; see docs/performance.md.\n\n" + "\n".join(table) + "\n\n"
        "## What people read: indicator pages and annual reports (with PDFs)\n\n"
        "| scale | site | reports |\n| --- | ---: | ---: |\n" + "\n".join(pages) + "\n\n"
        "## Fixed overhead and marginal cost\n\n" + "\n".join(cost_table(results)) + "\n\n"
        "## Incremental: one department of one city re-submits its latest year\n\n"
        "| scale | until published | until its pages and reports are written | "
        "new values published |\n"
        "| --- | ---: | ---: | --- |\n" + "\n".join(incremental) + "\n", "utf-8")
    plot(results, out / "time_vs_values.png")
    return summary


STAGE_NAMES = ("ingest", "build", "validate", "publish", "pipeline total", "pandas script",
               "DuckDB one statement")


def _seconds(result: dict, name: str) -> float:
    if name == "pipeline total":
        return result["pipeline_seconds"]
    return next(s["seconds"] for s in result["stages"] + result["baselines"]
                if s["name"] == name)


def _cpu_seconds(result: dict, name: str) -> float | None:
    """A stage's CPU seconds (the pipeline's: its four stages'); None for a result recorded
    before the bench measured CPU."""
    names = (("ingest", "build", "validate", "publish") if name == "pipeline total"
             else (name,))
    cpu = [s.get("cpu_seconds") for s in result["stages"] + result["baselines"]
           if s["name"] in names]
    return None if not cpu or None in cpu else sum(cpu)


def _slope(results: dict, name: str, low: str, high: str) -> str:
    if low not in results or high not in results:
        return f"– (needs {low} and {high})"
    a, b = results[low], results[high]
    return f"{(_seconds(b, name) - _seconds(a, name)) / (b['values'] - a['values']) * 1e6:.2f}"


def cost_table(results: dict) -> list[str]:
    """Fixed overhead (time at S) and marginal cost (s per million values, slope M -> L; and
    L -> XL when XL was run)."""
    xl = "XL" in results
    lines = ["| stage | fixed overhead (time at S) | CPU at S | marginal cost (s per million "
             "values, M→L) |" + (" marginal cost, L→XL |" if xl else ""),
             "| --- | ---: | ---: | ---: |" + (" ---: |" if xl else "")]
    for name in STAGE_NAMES:
        fixed = f"{_seconds(results['S'], name):.1f} s" if "S" in results else "–"
        cpu = _cpu_seconds(results["S"], name) if "S" in results else None
        line = (f"| {name} | {fixed} | {'–' if cpu is None else f'{cpu:.1f} s'} | "
                f"{_slope(results, name, 'M', 'L')} |")
        lines.append(line + (f" {_slope(results, name, 'L', 'XL')} |" if xl else ""))
    return lines


def plot(results: dict, path: Path) -> Path | None:
    """Time against values, per stage and baseline, on log-log axes."""
    try:
        import matplotlib
    except ImportError:  # a development dependency: the tables are the results
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(results.values(), key=lambda r: r["values"])
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=100)
    for name in STAGE_NAMES:
        style = "--" if name in ("pandas script", "DuckDB one statement") else "-"
        width = 2.5 if name == "pipeline total" else 1.2
        ax.plot([r["values"] for r in ordered], [_seconds(r, name) for r in ordered],
                style, marker="o", linewidth=width, label=name)
    for r in ordered:
        ax.annotate(r["scale"], (r["values"], _seconds(r, "pipeline total")),
                    textcoords="offset points", xytext=(4, 6))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("values (district × indicator × year)")
    ax.set_ylabel("wall time, seconds")
    ax.set_title("citycheck bench: time against values per stage")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def print_result(result: BenchResult, out=None) -> None:
    out = out or sys.stdout
    print(f"scale {result.scale}: {result.values:,} values in {result.files:,} files "
          f"({result.machine})", file=out)
    for s in result.stages + result.baselines:
        print(f"  {s.name:<22} {s.seconds:>8.2f} s  {s.cpu_seconds or 0:>8.2f} s CPU  "
              f"{s.peak_rss_mb:>8.1f} MB peak  {s.values_per_second:>12,.0f} values/s",
              file=out)
    lower = next(b for b in result.baselines if b.name.startswith("DuckDB"))
    pandas = next(b for b in result.baselines if b.name.startswith("pandas"))
    print(f"  pipeline total {result.pipeline_seconds:.2f} s = "
          f"{result.pipeline_seconds / lower.seconds:.1f}x the DuckDB lower bound, "
          f"{result.pipeline_seconds / pandas.seconds:.1f}x the pandas script", file=out)
    print(f"  same numbers in all three: {'yes' if result.agree else 'NO'} "
          f"({result.compared_rows:,} scorecard rows compared)", file=out)
    for s in result.pages:
        print(f"  {s.name:<22} {s.seconds:>8.2f} s  {s.cpu_seconds or 0:>8.2f} s CPU  "
              f"{s.peak_rss_mb:>8.1f} MB peak", file=out)
    if result.incremental:
        print(f"  incremental re-submission of one file: published in "
              f"{result.incremental_published_seconds:.2f} s, its pages and reports written "
              f"in {result.incremental_seconds:.2f} s ("
              + ", ".join(f"{s.name.split()[-1]} {s.seconds:.1f}" for s in result.incremental)
              + f"); new values shown: {'yes' if result.incremental_visible else 'NO'}", file=out)
    print(f"  run {result.run_id} (load average {result.load_average} at the start)", file=out)
