"""Validate what dbt just built with Great Expectations suites before anything is published.

Suites live in expectations/*.json, one per dataset: GX suite files whose meta.citycheck
says which data to validate (docs/validation.md). By default each expectation is evaluated as
SQL where the data is, with GX's meaning (citycheck/checks/expectations_sql.py): GX 1.x has no
working DuckDB data source, and reading each partition into pandas for GX cost more than the
build. `CITYCHECK_VALIDATION_ENGINE=gx` (and any suite holding an expectation type the SQL
engine does not know) validates with the GX Core API on a pandas DataFrame of each suite's
SQL, one partition (year) at a time to bound memory. The report (every expectation, its
verdict and example rows) is written as JSON; the outcome is recorded in audit.validations
for the build it checked. Publishing requires a successful validation of the latest build.

A partition whose rows are exactly those of a partition that passed the same suite before
(same row count and the same sum of row hashes, same suite file, engine and GX version) keeps that
verdict instead of being read into pandas again: a re-submission for one year re-validates
that year, not the country's decade. Failed partitions are always checked again, and every
reuse is in the report and in audit.validated_partitions (row hashes are the engine's,
Engine.row_hash).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citycheck import TEMPLATES_DIR
from citycheck.checks.expectations_sql import Outcome, supports
from citycheck.checks.expectations_sql import run as run_sql
from citycheck.warehouse.audit import AUDIT_DDL, BuildIncomplete, latest_build, refuse_unless_complete
from common import progress
from common.config import EXPECTATIONS_DIR, Settings
from common.engine import engine_for

log = logging.getLogger(__name__)
MAX_EXAMPLES = 5


class ValidationFailed(Exception):
    """At least one expectation failed. The message names each one with example rows."""


@dataclass
class Suite:
    name: str
    description: str
    sql: str
    partition_by: str | None
    example_columns: list[str]
    expectations: list[dict]
    path: Path
    # False: the suite reports (completeness, what is still owed) but never stops a
    # publication; a year with values still owed is published as provisional
    blocking: bool = True


@dataclass
class ValidationReport:
    build_id: str | None
    success: bool
    checks: int = 0
    failures: list[dict] = field(default_factory=list)
    report_path: str | None = None
    # partitions whose rows were unchanged since they passed: "suite [year=2019]" -> build
    reused: dict[str, str] = field(default_factory=dict)
    # every expectation's verdict on every partition (a kept partition: one line)
    results: list[dict] = field(default_factory=list)
    html_path: str | None = None
    # failed checks of report-only suites (what is still owed): in the report, not blocking
    notices: list[dict] = field(default_factory=list)

    def describe(self) -> str:
        """One line per failed check, first: the year, the suite, the check, how many rows and
        the first of them; then where the report is."""
        lines = [failure_line(f) for f in self.failures]
        lines.append(f"{len(self.failures)} of {self.checks} checks failed on build "
                     f"{self.build_id}; nothing was published, the previous publication stays. "
                     f"Report: {self.html_path or self.report_path}")
        return "\n".join(lines)


def failure_line(f: dict) -> str:
    """A failed check in one line: 'validation failed [year=2024] suite: check (why): N rows,
    e.g. {...}'."""
    part = f" [{f['partition']}]" if f["partition"] else ""
    what = ", ".join(f"{k}={v}" for k, v in f["kwargs"].items()
                     if k in ("column", "column_list", "column_A", "column_B", "years"))
    why = f" ({f['why']})" if f.get("why") else ""
    rows = ("" if f["unexpected_count"] is None
            else f": {f['unexpected_count']} row{'s' if f['unexpected_count'] != 1 else ''}")
    example = f", e.g. {json.dumps(f['examples'][0], ensure_ascii=False, default=str)}" \
        if f["examples"] else ""
    return (f"validation failed{part} {f['suite']}: {f['expectation']}"
            f"{f' ({what})' if what else ''}{why}{rows}{example}")


def load_suites(directory: Path = EXPECTATIONS_DIR) -> list[Suite]:
    """Read every GX suite file; citycheck's part (what data to validate) is in meta.citycheck."""
    suites = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        try:
            batch = data["meta"]["citycheck"]
            suites.append(Suite(name=data["name"], description=data.get("notes", ""),
                                sql=batch["sql"], partition_by=batch.get("partition_by"),
                                example_columns=batch.get("example_columns", []),
                                expectations=data["expectations"], path=path,
                                blocking=batch.get("blocking", True)))
        except KeyError as exc:
            raise ValueError(f"{path}: missing {exc} (see docs/validation.md)") from None
    return suites


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def engine() -> str:
    """sql (default): each suite's expectations as SQL where the data is, with GX's meaning
    (citycheck/checks/expectations_sql.py); gx: Great Expectations on pandas frames, one partition at
    a time. A suite with an expectation type the SQL engine does not know always goes to GX."""
    chosen = os.environ.get("CITYCHECK_VALIDATION_ENGINE", "sql").strip().lower()
    if chosen not in ("sql", "gx"):
        from common.config import ConfigError

        raise ConfigError(f"CITYCHECK_VALIDATION_ENGINE={chosen!r}: write sql or gx")
    return chosen


class _Checks:
    """Runs a suite on one partition with the engine chosen for it. The GX context and its
    validation definitions are made on first use: a run that never needs GX (every suite in
    SQL, or every partition keeping its earlier verdict) never imports it."""

    def __init__(self, suites: list[Suite], chosen: str):
        self.suites = suites
        self.definitions: dict | None = None
        self.engines = {s.name: ("sql" if chosen == "sql" and supports(s.expectations)
                                 else "gx") for s in suites}

    def run(self, suite: Suite, con, sql: str, params: list) -> list[Outcome]:
        if self.engines[suite.name] == "sql":
            return run_sql(con, sql, params, suite.expectations, suite.example_columns,
                           MAX_EXAMPLES)
        if self.definitions is None:
            self.definitions = self._define()
        result = self.definitions[suite.name].run(
            batch_parameters={"dataframe": con.execute(sql, params).df()},
            result_format={"result_format": "SUMMARY",
                           "unexpected_index_column_names": suite.example_columns,
                           "partial_unexpected_count": MAX_EXAMPLES})
        out = []
        for r in result.results:
            cfg = r.expectation_config
            examples = [{k: _jsonable(v) for k, v in row.items()}
                        for row in (r.result.get("partial_unexpected_index_list")
                                    or [])[:MAX_EXAMPLES]]
            if not examples and r.exception_info.get("raised_exception"):
                examples = [{"error": r.exception_info.get("exception_message")}]
            out.append(Outcome(cfg.type, {k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
                               (cfg.meta or {}).get("why"), r.success,
                               r.result.get("unexpected_count"), examples))
        return out

    def _define(self) -> dict:
        import great_expectations as gx

        # GX sets this module's logger to INFO itself: a temp-dir notice on every run.
        logging.getLogger("great_expectations.data_context.types.base").setLevel(
            logging.WARNING)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = {"globally": False}
        batch = (context.data_sources.add_pandas("warehouse")
                 .add_dataframe_asset("partition")
                 .add_batch_definition_whole_dataframe("whole"))
        definitions = {}
        for suite in self.suites:
            gx_suite = context.suites.add(
                gx.ExpectationSuite(name=suite.name, expectations=suite.expectations))
            definitions[suite.name] = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite))
        return definitions


def suite_key(suite: Suite, engine_name: str = "gx") -> str:
    """What a verdict depends on besides the data: the suite file, the engine that judged it
    and the GX version (whose meaning the SQL engine follows)."""
    from importlib.metadata import version

    digest = hashlib.sha256(suite.path.read_bytes())
    digest.update(version("great_expectations").encode())
    if engine_name != "gx":
        digest.update(engine_name.encode())
    return digest.hexdigest()


def _fingerprint(con, row_hash: str, sql: str, params: list) -> str:
    rows, total = con.execute(f"select count(*), coalesce(sum({row_hash}), 0) "
                              f"from ({sql}) as s", params).fetchone()
    return f"{rows}:{total}"


def validate(settings: Settings, years: list[int] | None = None,
             suites: list[Suite] | None = None) -> ValidationReport:
    """Validate the latest build; raise ValidationFailed if any expectation fails."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    suites = suites if suites is not None else load_suites()
    checks = _Checks(suites, engine())
    warehouse = engine_for(settings)
    row_hash = warehouse.row_hash("s")

    settings.ensure_dirs()
    with warehouse.connect() as con:
        con.execute(AUDIT_DDL)
        try:
            build_id = refuse_unless_complete(latest_build(con), "validate")
        except BuildIncomplete as exc:
            raise ValidationFailed(str(exc)) from None
        report = ValidationReport(build_id=build_id, success=True)
        stamp = datetime.now(UTC).replace(tzinfo=None)
        partitions_seen = 0
        for number, suite in enumerate(suites, 1):
            progress.update(f"  validation: suite {number} of {len(suites)}, {suite.name}",
                            force=True)
            key = suite_key(suite, checks.engines[suite.name])
            passed = {
                (part, fingerprint): (n, origin) for part, fingerprint, n, origin in con.execute(
                    "select partition_value, fingerprint, checks, "
                    "coalesce(reused_from, build_id) from audit.validated_partitions "
                    "where suite = ? and suite_key = ? and success", [suite.name, key]).fetchall()}
            partitions: list = [None]
            if suite.partition_by:
                partitions = [r[0] for r in con.execute(
                    f"select distinct {suite.partition_by} from ({suite.sql}) as s "
                    f"order by 1").fetchall()]
                # Every partition, not only the years asked for: what is validated is what
                # will be published (unchanged partitions keep their verdict cheaply).
                partitions_seen += len([p for p in partitions if not years or p in years])
            for part in partitions:
                sql = suite.sql if part is None else (
                    f"select * from ({suite.sql}) as s where {suite.partition_by} = ?")
                params = [] if part is None else [part]
                label = f"{suite.partition_by}={part}" if part is not None else None
                fingerprint = _fingerprint(con, row_hash, sql, params)
                earlier = passed.get((None if part is None else str(part), fingerprint))
                if earlier:
                    report.checks += earlier[0]
                    report.reused[f"{suite.name} [{label or 'all rows'}]"] = earlier[1]
                    report.results.append({"suite": suite.name, "partition": label,
                                           "checks": earlier[0], "success": True,
                                           "kept_from": earlier[1]})
                    _record(con, report.build_id, stamp, suite.name, key, part, fingerprint,
                            earlier[0], True, earlier[1])
                    continue
                outcomes = checks.run(suite, con, sql, params)
                failed_before = len(report.failures) + len(report.notices)
                for o in outcomes:
                    report.checks += 1
                    report.results.append({"suite": suite.name, "partition": label,
                                           "expectation": o.type, "kwargs": o.kwargs,
                                           "success": o.success,
                                           "unexpected_count": o.unexpected_count,
                                           "blocking": suite.blocking, "kept_from": None})
                    if o.success:
                        continue
                    (report.failures if suite.blocking else report.notices).append({
                        "suite": suite.name, "partition": label, "expectation": o.type,
                        "kwargs": o.kwargs, "why": o.why,
                        "unexpected_count": o.unexpected_count,
                        "examples": [{k: _jsonable(v) for k, v in e.items()}
                                     for e in o.examples]})
                _record(con, report.build_id, stamp, suite.name, key, part, fingerprint,
                        len(outcomes),
                        len(report.failures) + len(report.notices) == failed_before, None)
        progress.finish()
        if years and not partitions_seen:
            # an annual review of a year nothing arrived for: said in the report, and by
            # freshness; the year's round shows it owed (not a reason to publish nothing)
            report.notices.append({
                "suite": "all suites", "partition": None,
                "expectation": "values_loaded_for_the_years_asked",
                "kwargs": {"years": years},
                "why": "no values are loaded for these reporting years; see `citycheck "
                       "freshness` for who owes them",
                "unexpected_count": None, "examples": []})
        report.success = not report.failures
        folder = settings.reports_dir / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stamp:%Y%m%dT%H%M%S}_{report.build_id}.json"
        report.report_path = str(path)
        document = {"build_id": report.build_id, "success": report.success,
                    "checks": report.checks, "failures": report.failures,
                    "notices": report.notices,
                    "reused": report.reused, "engines": checks.engines,
                    "suites": [s.name for s in suites], "validated_at": stamp.isoformat(),
                    "results": report.results}
        text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
        path.write_text(text, encoding="utf-8")
        (folder / "latest.json").write_text(text, encoding="utf-8")
        page = path.with_suffix(".html")
        html = render_html(document, path.name)   # both link this validation's own JSON
        page.write_text(html, encoding="utf-8")
        (folder / "latest.html").write_text(html, encoding="utf-8")
        report.html_path = str(page)
        if report.success:
            # what was checked, by content: publish serves these marts only while they
            # still have these fingerprints
            from citycheck.warehouse.marts import MARTS_SCHEMA, fingerprints, published_marts

            for table, (n, fp) in fingerprints(con, MARTS_SCHEMA, published_marts(settings),
                                               warehouse.row_hash("t")).items():
                con.execute("insert into audit.validated_marts values (?,?,?,?,?)",
                            [report.build_id, stamp, table, n, fp])
        con.execute("insert into audit.validations values (?,?,?,?,?,?)",
                    [report.build_id, stamp, report.success, report.checks,
                     len(report.failures), str(path)])
    if not report.success:
        raise ValidationFailed(report.describe())
    return report


def render_html(document: dict, json_name: str) -> str:
    """The validation report people read (templates/validation.html): the verdict, every
    failed check with its example rows, then every check by suite and partition."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True, undefined=jinja2.StrictUndefined)
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True,
                                         "default": str}
    kept = sum(r["checks"] for r in document["results"] if r.get("kept_from"))
    return env.get_template("validation.html").render(
        **document, kept_checks=kept, json_name=json_name)


def _record(con, build_id, stamp, suite, key, part, fingerprint, n, success, reused_from):
    con.execute("insert into audit.validated_partitions values (?,?,?,?,?,?,?,?,?)",
                [build_id, stamp, suite, key, None if part is None else str(part),
                 fingerprint, n, success, reused_from])
