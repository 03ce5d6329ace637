"""Validate what dbt just built with Great Expectations before anything is published.

Suites live in expectations/*.json, one per dataset: GX suite files whose meta.citycheck
says which data to validate (docs/validation.md). GX 1.x has no
working DuckDB data source, so each suite's SQL is read from the warehouse into a pandas
DataFrame, one partition (year) at a time to bound memory, and validated there with the GX
Core API. The report (every expectation, its verdict and example rows) is written as JSON; the
outcome is recorded in audit.validations for the build it checked. Publishing requires a
successful validation of the latest build.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citycheck.build import AUDIT_DDL, latest_build
from citycheck.config import EXPECTATIONS_DIR, Settings
from citycheck.warehouse import open_warehouse

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


@dataclass
class ValidationReport:
    build_id: str | None
    success: bool
    checks: int = 0
    failures: list[dict] = field(default_factory=list)
    report_path: str | None = None

    def describe(self) -> str:
        lines = [f"{len(self.failures)} of {self.checks} checks failed on build {self.build_id}:"]
        for f in self.failures:
            part = f" [{f['partition']}]" if f["partition"] else ""
            why = f" ({f['why']})" if f.get("why") else ""
            lines.append(f"- {f['suite']}{part}: {f['expectation']} {f['kwargs']}{why}: "
                         f"{f['unexpected_count']} unexpected rows")
            for example in f["examples"]:
                lines.append(f"    e.g. {example}")
        lines.append(f"Full report: {self.report_path}")
        return "\n".join(lines)


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
                                expectations=data["expectations"], path=path))
        except KeyError as exc:
            raise ValueError(f"{path}: missing {exc} (see docs/validation.md)") from None
    return suites


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def validate(settings: Settings, years: list[int] | None = None,
             suites: list[Suite] | None = None) -> ValidationReport:
    """Validate the latest build; raise ValidationFailed if any expectation fails."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    # GX sets this module's logger to INFO itself, which prints a temp-dir notice on every run.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    suites = suites if suites is not None else load_suites()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = (context.data_sources.add_pandas("warehouse")
             .add_dataframe_asset("partition")
             .add_batch_definition_whole_dataframe("whole"))
    definitions = {}
    for suite in suites:
        gx_suite = gx.ExpectationSuite(name=suite.name, expectations=suite.expectations)
        gx_suite = context.suites.add(gx_suite)
        definitions[suite.name] = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite))

    settings.ensure_dirs()
    with open_warehouse(settings) as con:
        con.execute(AUDIT_DDL)
        build = latest_build(con)
        report = ValidationReport(build_id=build[0] if build else None, success=True)
        if build is None or build[1] != "success":
            raise ValidationFailed("there is no successful build to validate: run "
                                   "`citycheck build` first")
        partitions_seen = 0
        for suite in suites:
            partitions: list = [None]
            if suite.partition_by:
                partitions = [r[0] for r in con.execute(
                    f"select distinct {suite.partition_by} from ({suite.sql}) as s "
                    f"order by 1").fetchall()]
                if years:
                    partitions = [p for p in partitions if p in years]
                partitions_seen += len(partitions)
            for part in partitions:
                sql = suite.sql if part is None else (
                    f"select * from ({suite.sql}) as s where {suite.partition_by} = ?")
                frame = con.execute(sql, [] if part is None else [part]).df()
                result = definitions[suite.name].run(
                    batch_parameters={"dataframe": frame},
                    result_format={"result_format": "SUMMARY",
                                   "unexpected_index_column_names": suite.example_columns,
                                   "partial_unexpected_count": MAX_EXAMPLES})
                for r in result.results:
                    report.checks += 1
                    if r.success:
                        continue
                    cfg = r.expectation_config
                    examples = [{k: _jsonable(v) for k, v in row.items()}
                                for row in (r.result.get("partial_unexpected_index_list")
                                            or [])[:MAX_EXAMPLES]]
                    if not examples and r.exception_info.get("raised_exception"):
                        examples = [{"error": r.exception_info.get("exception_message")}]
                    report.failures.append({
                        "suite": suite.name,
                        "partition": f"{suite.partition_by}={part}" if part is not None else None,
                        "expectation": cfg.type,
                        "kwargs": {k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
                        "why": (cfg.meta or {}).get("why"),
                        "unexpected_count": r.result.get("unexpected_count"),
                        "examples": examples,
                    })
        if years and not partitions_seen:
            # an annual review of a year nothing arrived for is not a pass
            report.failures.append({
                "suite": "all suites", "partition": None,
                "expectation": "values_loaded_for_the_years_asked",
                "kwargs": {"years": years},
                "why": "no values are loaded for these reporting years; see `citycheck "
                       "freshness` for who owes them",
                "unexpected_count": None, "examples": []})
        report.success = not report.failures
        stamp = datetime.now(UTC).replace(tzinfo=None)
        folder = settings.reports_dir / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stamp:%Y%m%dT%H%M%S}_{report.build_id}.json"
        report.report_path = str(path)
        text = json.dumps({"build_id": report.build_id, "success": report.success,
                           "checks": report.checks, "failures": report.failures,
                           "suites": [s.name for s in suites], "validated_at": stamp.isoformat()},
                          ensure_ascii=False, indent=2, default=str)
        path.write_text(text, encoding="utf-8")
        (folder / "latest.json").write_text(text, encoding="utf-8")
        con.execute("insert into audit.validations values (?,?,?,?,?,?)",
                    [report.build_id, stamp, report.success, report.checks,
                     len(report.failures), str(path)])
    if not report.success:
        raise ValidationFailed(report.describe())
    return report
