"""Is the data fresh? Who is overdue?

Three checks, reported together (`citycheck freshness`, the run summary of `citycheck run`,
and the `check_freshness` task of the warehouse DAG, which alerts before every build):

- **raw tables**: `dbt source freshness` on the raw schema (thresholds in
  dbt_project/models/staging/_raw__sources.yml): when was anything last received or fetched;
- **departments**: every round of every city's programme that is past its due date and not
  closed (mart_rounds; the deadline is the programme's, else CITYCHECK_SUBMISSION_DEADLINE,
  default 03-31 of the next year): a department that still owes values there, or has
  returned ones to correct, is overdue, with the years, how many values and how many days.
  A city nothing was ever received from is chased like any other;
- **open-data sources**: a source with no successful fetch (loaded, unchanged or not modified)
  for `stale_after_hours` (extract/sources.yml, default 48) is overdue.

Overdue owners and stale tables are posted as one alert (citycheck/operations/alerts.py). Freshness never
fails a run: old data is still worth publishing, and the alert says what is missing.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from common.calendar import DEADLINE_ENV, due_date, last_year_due  # noqa: F401 - re-exported
from common.calendar import today as calendar_today
from common.config import Settings


@dataclass
class TableFreshness:
    table: str
    status: str                    # pass | warn | error | runtime error
    max_loaded_at: str | None
    age_hours: float | None


@dataclass
class Overdue:
    kind: str                      # department | open_data_source
    owner: str                     # department code or source name
    city_code: str | None
    last_received: str | None      # reporting year (departments) or time of the last fetch
    detail: str


@dataclass
class FreshnessReport:
    checked_at: str
    tables: list[TableFreshness] = field(default_factory=list)
    overdue: list[Overdue] = field(default_factory=list)
    problem: str | None = None     # why the table check could not run, if it could not

    @property
    def stale_tables(self) -> list[TableFreshness]:
        return [t for t in self.tables if t.status != "pass"]

    @property
    def ok(self) -> bool:
        return not self.overdue and not self.stale_tables and self.problem is None

    def lines(self) -> list[str]:
        """The report as aligned tables: the raw tables' freshness, then what is overdue."""
        out = _aligned(["raw table", "freshness", "last loaded"],
                       [[f"raw.{t.table}", t.status,
                         f"{t.age_hours / 24:.1f} days ago" if t.age_hours is not None
                         else "never"] for t in self.tables])
        if self.problem:
            out.append(f"table freshness not checked: {self.problem}")
        if self.overdue:
            out.append("")
            out += _aligned(["", "kind", "owner", "city", "what is late"],
                            [["OVERDUE", o.kind, o.owner, o.city_code or "-", o.detail]
                             for o in self.overdue])
        if self.ok:
            out.append("every department and open-data source is up to date")
        return out

    def to_dict(self) -> dict:
        return {"checked_at": self.checked_at, "ok": self.ok, "problem": self.problem,
                "tables": [asdict(t) for t in self.tables],
                "overdue": [asdict(o) for o in self.overdue]}


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """Rows under a header, each column as wide as its widest cell (the last left ragged)."""
    if not rows:
        return []
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    return [("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False))
             + "  " + str(r[-1])).rstrip() for r in [header, *rows]]


def table_freshness(settings: Settings) -> tuple[list[TableFreshness], str | None]:
    """`dbt source freshness` on the raw tables that declare a threshold."""
    from citycheck.warehouse.build import run_dbt
    from common.engine import WarehouseBusy

    target = settings.data_dir / "dbt" / "target"
    output = target / "sources.json"   # where dbt writes it under our --target-path
    output.unlink(missing_ok=True)
    try:
        # nothing on the terminal: dbt's lines for a stale table (errors, so --quiet shows
        # them) would come before the table citycheck prints from sources.json; dbt.log
        # keeps them, as for every dbt call
        res = run_dbt(settings, ["--log-level", "none", "--log-level-file", "debug",
                                 "source", "freshness"])
    except WarehouseBusy as exc:
        return [], str(exc)
    if not output.exists():
        return [], f"dbt source freshness did not run: {res.exception}"
    results = json.loads(output.read_text(encoding="utf-8"))["results"]
    tables = []
    for r in results:
        age, loaded = r.get("max_loaded_at_time_ago_in_s"), r.get("max_loaded_at")
        if loaded and loaded.startswith("0001-01-01"):
            # dbt's word for a table with no row: never loaded, not 739,957 days ago
            age, loaded = None, None
        tables.append(TableFreshness(table=r["unique_id"].rsplit(".", 1)[-1], status=r["status"],
                                     max_loaded_at=loaded,
                                     age_hours=round(age / 3600, 1) if age is not None else None))
    return sorted(tables, key=lambda t: t.table), None


def overdue_departments(con, today: date) -> tuple[list[Overdue], str | None]:
    """Every department that owes values (or has returned ones to answer) in a round past
    its due date and not closed, per city, from the latest build's mart_submission_status
    (the rounds' one definition, citycheck/operations/rounds.py). (overdue, why it could not
    be read)."""
    from citycheck.operations.rounds import days_overdue, overdue_by_department

    def rows(sql, params):
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    try:
        late = overdue_by_department(rows, "marts.", today)
    except Exception as exc:     # noqa: BLE001 - no build yet, or one made before rounds
        return [], f"the rounds are not built yet ({str(exc).splitlines()[0]}): run `citycheck build`"
    by_owner: dict[tuple[str, str], list[dict]] = {}
    for r in late:
        by_owner.setdefault((r["city_code"], r["department_code"]), []).append(r)
    out = []
    for (city, dep), years in sorted(by_owner.items()):
        owed = sum(r["values_missing"] for r in years)
        returned = sum(r["values_returned"] for r in years)
        worst = max(days_overdue(r["due_on"], today) for r in years)
        back = f", {returned} returned to correct" if returned else ""
        out.append(Overdue(
            "department", dep, city, ", ".join(str(r["year"]) for r in years),
            f"owes {', '.join(str(r['year']) for r in years)}: {owed} values{back}; "
            f"{worst} days overdue"))
    return out, None


def overdue_sources(con, now: datetime) -> list[Overdue]:
    from extract.registry import load_sources

    last = dict(con.execute(
        "select source_name, max(fetched_at) from raw.open_data_fetches "
        "where status in ('loaded', 'unchanged', 'not_modified') group by 1").fetchall())
    out = []
    for source in load_sources():
        when = last.get(source.name)
        limit = timedelta(hours=source.stale_after_hours)
        if when is not None and now - when <= limit:
            continue
        ago = f"{(now - when).total_seconds() / 3600:.0f} h ago" if when else "never"
        out.append(Overdue("open_data_source", source.name, source.city_code,
                           when.isoformat(timespec="seconds") if when else None,
                           f"last successful fetch {ago} (limit {source.stale_after_hours} h)"))
    return out


def check_freshness(settings: Settings, today: date | None = None,
                    alert: bool = True) -> FreshnessReport:
    """All three checks; posts one alert when anything is overdue or stale."""
    from common.engine import engine_for

    now = datetime.now(UTC).replace(tzinfo=None)
    today = today or calendar_today()
    report = FreshnessReport(checked_at=now.isoformat(timespec="seconds"))
    settings.ensure_dirs()
    with engine_for(settings).connect() as con:
        departments, unread = overdue_departments(con, today)
        report.overdue = departments + overdue_sources(con, now)
    report.tables, report.problem = table_freshness(settings)
    if unread:
        report.problem = "; ".join(p for p in (report.problem, unread) if p)
    if alert and not report.ok:
        from citycheck.operations.alerts import post_alert

        post_alert({"event": "data_overdue",
                    "summary": f"citycheck: {len(report.overdue)} overdue, "
                               f"{len(report.stale_tables)} stale raw tables",
                    **report.to_dict()})
    return report
