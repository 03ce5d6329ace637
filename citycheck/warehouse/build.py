"""Build the warehouse with dbt (seeds, models and dbt tests), in-process via dbtRunner.

Builds are incremental: the models that carry every value (int_observations_unioned,
int_indicator_values_versioned) take in only the files and fetches they do not hold yet. A
build is a full refresh (every model rebuilt from raw, seeds reloaded) when asked
(`citycheck build --full-refresh`), when nothing has been built yet, or when the dbt project
(models, macros, seeds, tests, dbt_project.yml) or dbt's version changed since the latest
successful build: an incremental table made by other code or other reference data would not
be what the code says. Otherwise the seeds, unchanged, are not loaded again.

An incremental build runs only what the raw sources that changed feed. Raw tables only grow,
so each build records every source's row count (and columns) when it starts
(audit.builds.raw_sources), and the next one selects `source:raw.<table>+` for each table
that differs from the latest successful build's: a review step rebuilds what the reviews
feed, not the surveys' or the bulletins' models and tests. Nothing changed: dbt is not run
at all, and the build is recorded with no node. Every source is taken as changed when the
latest successful build recorded none, or when a build started since it did not complete
(its rows are checked again by every test, the `x-untested` scopes of the models' YAML).

The dbt artifacts (manifest.json, run_results.json) go to <data dir>/dbt/target and stay
there when dbt fails, so a failed build can be inspected. Each build is recorded in
audit.builds; publishing requires the latest build to have passed validation.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from citycheck.warehouse.audit import AUDIT_DDL, raw_row_count, raw_sources
from citycheck.warehouse.bulletins import land_bulletins
from citycheck.warehouse.rounds import open_due_rounds
from common import progress
from common.calendar import today
from common.config import Settings
from common.engine import engine_for
from common.reference import load_reference


class BuildError(Exception):
    """dbt failed. The message lists each failed model or test and dbt's reason."""


@dataclass
class BuildResult:
    build_id: str
    nodes: int
    seconds: float
    full_refresh: bool = True
    why: str = ""          # why it was a full refresh, or "incremental"


# What a build is made from: a change to any of these rebuilds every model from raw.
PROJECT_PARTS = ("models", "macros", "seeds", "tests", "dbt_project.yml")


def project_fingerprint(project_dir: Path) -> str:
    """sha256 over the dbt project's models, macros, seeds, tests and dbt_project.yml (path
    and bytes of every file) and dbt's version."""
    import hashlib
    from importlib.metadata import version

    h = hashlib.sha256(f"dbt-core {version('dbt-core')}\n".encode())
    for part in PROJECT_PARTS:
        root = project_dir / part
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            if path.is_file():
                h.update(str(path.relative_to(project_dir)).encode() + b"\0")
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def full_refresh_reason(con, fingerprint: str, asked: bool) -> str | None:
    """Why this build must rebuild everything, or None when it can be incremental: the
    latest successful build was made from the same project, and so was every build started
    since (a full refresh of other code killed half-way leaves tables of that code)."""
    if asked:
        return "asked for (--full-refresh)"
    last = con.execute("select started_at, project_fingerprint from audit.builds "
                       "where status = 'success' order by started_at desc limit 1").fetchone()
    if last is None:
        return "no earlier successful build"
    other = con.execute("select count(*) from audit.builds where started_at >= ? and "
                        "project_fingerprint is distinct from ?", [last[0], fingerprint]
                        ).fetchone()[0]
    if other:
        return "the dbt project (models, seeds, macros, tests) or dbt changed"
    return None


def raw_source_tables(project_dir: Path) -> list[str]:
    """The tables of the dbt project's `raw` source (models/**/*.yml), sorted."""
    import yaml

    tables: set[str] = set()
    for path in sorted((project_dir / "models").rglob("*.yml")):
        text = path.read_text("utf-8")
        if "sources:" not in text:      # most are the models' (long) YAML: not parsed
            continue
        for source in (yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                       or {}).get("sources") or []:
            if source.get("name") == "raw":
                tables.update(t["name"] for t in source.get("tables") or [])
    return sorted(tables)


def incremental_selection(con, now: dict[str, list]) -> tuple[str | None, str]:
    """What an incremental build selects, from the raw sources whose rows or columns differ
    from what the latest successful build started from, and the words for it: every source
    (`source:raw+`), those that changed, or None when nothing did."""
    last = con.execute("select build_id, started_at, raw_sources from audit.builds "
                       "where status = 'success' order by started_at desc limit 1").fetchone()
    if last is None or last[2] is None:
        return "source:raw+", "every source: no earlier build recorded what it was built from"
    unfinished = con.execute("select count(*) from audit.builds where started_at > ? and "
                             "status <> 'success'", [last[1]]).fetchone()[0]
    if unfinished:
        return ("source:raw+",
                "every source: a build since the latest successful one did not complete")
    before = json.loads(last[2])
    changed = [t for t in now if before.get(t) != now[t]]
    if not changed:
        return None, f"nothing landed since build {last[0]}: no dbt node to run"
    return (" ".join(f"source:raw.{t}+" for t in changed),
            f"changed since build {last[0]}: " + ", ".join(changed))


def dbt_args(settings: Settings, command: list[str]) -> list[str]:
    # absolute: dbt may run in the warehouse's folder (Engine.held_for_dbt)
    target = settings.data_dir.resolve() / "dbt"
    project = str(settings.dbt_project_dir.resolve())
    return [*command, "--no-use-colors", "--project-dir", project, "--profiles-dir", project,
            "--target-path", str(target / "target"), "--log-path", str(target / "logs")]


PARSED = "partial_parse.msgpack"


@contextmanager
def shared_parse(settings: Settings, target: str = "duckdb"):
    """dbt's parsed project (partial_parse.msgpack), shared by every data dir built from the
    same project through <dbt project>/target, where dbt run by hand keeps it too. Parsing the
    project whole takes 2-3 s of CPU, and every new data dir (a bench scale, a test's
    warehouse, a copy of one) used to pay it once more. dbt checks the file before using it
    (its version, the profile, the vars, every project file's checksum) and parses whatever
    differs, so a file of another project or profile costs a full parse, never a wrong one.
    A folder that cannot be written (a read-only install) only loses the sharing. One file
    per dbt target (the embedded DuckDB's is dbt's own name): a PostgreSQL build writing the
    shared file made the next DuckDB data dir parse the whole project again ("profile has
    changed"), and the other way round."""
    mine = settings.data_dir.resolve() / "dbt" / "target" / PARSED
    shared = settings.dbt_project_dir.resolve() / "target" / (
        PARSED if target == "duckdb" else f"partial_parse.{target}.msgpack")

    def copy(source: Path, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(source, tmp)
            tmp.replace(target)         # a reader sees the old file or the new, whole
        except OSError:
            pass

    if not mine.exists() and shared.exists():
        copy(shared, mine)
    before = mine.stat().st_mtime_ns if mine.exists() else None
    try:
        yield
    finally:
        if mine.exists() and mine.stat().st_mtime_ns != before:    # dbt parsed something
            copy(mine, shared)


class _NodeProgress:
    """dbt's finished nodes, counted by kind, as one progress line (common/progress.py)."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}

    def __call__(self, event) -> None:
        if event.info.name != "NodeFinished":
            return
        node = event.data.node_info
        kind = {"model": "models", "test": "tests", "seed": "seeds",
                "unit_test": "unit tests", "exposure": "exposures"}.get(node.resource_type,
                                                                         node.resource_type)
        self.done[kind] = self.done.get(kind, 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in self.done.items())
        progress.update(f"  dbt build: {counts} done (last: {node.node_name})")


def run_dbt(settings: Settings, command: list[str], callbacks: list | None = None):
    """Invoke dbt in this process against the warehouse's engine: the profile
    (dbt_project/profiles.yml) reads the target and its connection from the variables the
    engine gives (Engine.dbt_env), set only for the duration of the call."""
    from dbt.cli.main import dbtRunner

    engine = engine_for(settings)
    env = engine.dbt_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        # one writer: dbt's place is kept until it is done
        with engine.held_for_dbt(), shared_parse(settings, env["CITYCHECK_DBT_TARGET"]):
            return dbtRunner(callbacks=callbacks or []).invoke(dbt_args(settings, command))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build(settings: Settings, select: str | None = None,
          full_refresh: bool = False) -> BuildResult:
    """`dbt build`: load seeds, build every model and run every dbt data test; incremental
    unless a full refresh is asked for or needed (see the module's docstring). dbt's unit
    tests (hand-made inputs for the model logic) check the code, not the data: they run in
    `make test` (tests/test_dbt_unit_tests.py), not in every production build."""
    settings.ensure_dirs()
    build_id = uuid.uuid4().hex[:12]
    started = datetime.now(UTC).replace(tzinfo=None)
    engine = engine_for(settings)
    fingerprint = project_fingerprint(settings.dbt_project_dir)
    with engine.connect() as con:   # raw.* exists for the sources once it is open
        con.execute(AUDIT_DDL)
        # the rounds the programmes' calendar has reached by today owe their values from now
        open_due_rounds(con, load_reference(settings.seeds_dir), today())
        # the bulletins issued since the last build, for mart_bulletins
        land_bulletins(con, settings.reports_dir)
        why = full_refresh_reason(con, fingerprint, full_refresh)
        sources = raw_sources(con, raw_source_tables(settings.dbt_project_dir))
        selection, what = incremental_selection(con, sources)
        # Recorded before dbt touches a model: a build that dies half-way stays "running",
        # the latest build, and nothing can be validated or published until one completes.
        # A build of a selection of its caller's records no sources: the next one takes every
        # source as changed.
        con.execute("insert into audit.builds (build_id, started_at, status, "
                    "project_fingerprint, full_refresh, raw_rows, raw_sources) "
                    "values (?,?,'running',?,?,?,?)",
                    [build_id, started, fingerprint, why is not None, raw_row_count(con),
                     None if select else json.dumps(sources)])
        if why is None and not select and selection is None:
            finished = datetime.now(UTC).replace(tzinfo=None)
            con.execute("update audit.builds set finished_at = ?, status = 'success', "
                        "nodes = 0 where build_id = ?", [finished, build_id])
            return BuildResult(build_id, 0, (finished - started).total_seconds(),
                               full_refresh=False, why=what)
    command = ["build", "--exclude-resource-type", "unit_test"]
    if why is not None:
        command += ["--full-refresh"] + (["--select", select] if select else [])
    else:
        # Seeds, and the models and tests made from seeds alone, are as the latest
        # successful build left them: only what the changed raw sources feed is built again.
        command += ["--select", select or selection]
    # at a terminal one progress line stands for dbt's line per node (in dbt.log either way)
    res = run_dbt(settings, (["--quiet"] if progress.active() else []) + command,
                  callbacks=[_NodeProgress()])
    progress.finish()
    finished = datetime.now(UTC).replace(tzinfo=None)
    failures = []
    nodes = 0
    if res.result is not None and hasattr(res.result, "results"):
        for r in res.result.results:
            nodes += 1
            if str(r.status).lower() in {"error", "fail", "runtimeerr"}:
                failures.append(f"{r.node.unique_id}: {r.message}")
    ok = res.success and not failures
    with engine.connect() as con:
        con.execute("update audit.builds set finished_at = ?, status = ?, nodes = ?, "
                    "failures = ? where build_id = ?",
                    [finished, "success" if ok else "failed", nodes,
                     "\n".join(failures) or (str(res.exception) if res.exception else None),
                     build_id])
    if not ok:
        detail = "\n  ".join(failures) or str(res.exception)
        gone = engine.server_gone(detail)
        if gone:
            # not the models' fault: one line, as every command says it (citycheck/cli.py)
            raise BuildError(f"PostgreSQL went away during build ({gone}); nothing will be "
                             f"published: run it again once PostgreSQL is back. Details: "
                             f"{settings.data_dir / 'dbt' / 'logs' / 'dbt.log'}")
        raise BuildError(f"dbt build failed ({len(failures)} failures); nothing will be "
                         f"published. Artifacts: {settings.data_dir / 'dbt' / 'target'}\n  "
                         f"{detail}")
    return BuildResult(build_id, nodes, (finished - started).total_seconds(),
                       full_refresh=why is not None,
                       why=why or ("incremental: " + (f"selected {select}" if select else what)))


def generate_docs(settings: Settings) -> Path:
    """The analysts' data dictionary: `dbt docs generate --static`, one self-contained HTML
    file (the usual index.html cannot load its JSON from a file:// URL)."""
    res = run_dbt(settings, ["docs", "generate", "--static"])
    target = settings.data_dir / "dbt" / "target"
    if not res.success:
        raise BuildError(f"dbt docs generate failed: {res.exception}; artifacts in {target}")
    return target / "static_index.html"
