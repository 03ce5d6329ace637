"""Is the data fresh? Who is overdue?

Three checks, reported together (`citycheck freshness`, the run summary of `citycheck run`,
and the `check_freshness` task of the warehouse DAG, which alerts before every build):

- **raw tables**: `dbt source freshness` on the raw schema (thresholds in
  dbt_project/models/staging/_raw__sources.yml): when was anything last received or fetched;
- **departments**: each department of each city's programme owes one reporting year's figures
  by the deadline (CITYCHECK_SUBMISSION_DEADLINE, month-day, default 03-31 of the next year).
  A department whose latest accepted value (from a file, or from open data for departments a
  portal feeds) is for an earlier year than the last one due is overdue, with the years it has
  not sent. Cities nothing was ever received for are not live yet and are not chased;
- **open-data sources**: a source with no successful fetch (loaded, unchanged or not modified)
  for `stale_after_hours` (extract/sources.yml, default 48) is overdue.

Overdue owners and stale tables are posted as one alert (citycheck/operations/alerts.py). Freshness never
fails a run: old data is still worth publishing, and the alert says what is missing.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from common.config import Settings

DEADLINE_ENV = "CITYCHECK_SUBMISSION_DEADLINE"


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


def due_date(year: int, deadline: str | None = None) -> date:
    """When the figures of reporting year `year` are due: the deadline (month-day,
    CITYCHECK_SUBMISSION_DEADLINE, default 03-31) of the next year."""
    deadline = deadline or os.environ.get(DEADLINE_ENV, "03-31")
    try:
        month, day = (int(p) for p in deadline.split("-"))
        return date(year + 1, month, day)
    except ValueError:
        raise ValueError(f"{DEADLINE_ENV}={deadline!r} is not a month-day like 03-31") from None


def last_year_due(today: date, deadline: str | None = None) -> int:
    """The latest reporting year whose figures were due by `today`: year Y is due on the
    deadline (month-day) of year Y + 1."""
    return today.year - 1 if today > due_date(today.year - 1, deadline) else today.year - 2


def table_freshness(settings: Settings) -> tuple[list[TableFreshness], str | None]:
    """`dbt source freshness` on the raw tables that declare a threshold."""
    from citycheck.warehouse.build import run_dbt
    from common.engine import WarehouseBusy

    target = settings.data_dir / "dbt" / "target"
    output = target / "sources.json"   # where dbt writes it under our --target-path
    output.unlink(missing_ok=True)
    try:
        res = run_dbt(settings, ["--quiet", "source", "freshness"])
    except WarehouseBusy as exc:
        return [], str(exc)
    if not output.exists():
        return [], f"dbt source freshness did not run: {res.exception}"
    results = json.loads(output.read_text(encoding="utf-8"))["results"]
    tables = []
    for r in results:
        age = r.get("max_loaded_at_time_ago_in_s")
        tables.append(TableFreshness(table=r["unique_id"].rsplit(".", 1)[-1], status=r["status"],
                                     max_loaded_at=r.get("max_loaded_at"),
                                     age_hours=round(age / 3600, 1) if age is not None else None))
    return sorted(tables, key=lambda t: t.table), None


def overdue_departments(con, settings: Settings, today: date) -> list[Overdue]:
    from common.reference import load_reference

    ref = load_reference(settings.seeds_dir)
    due = last_year_due(today)
    # the latest year each department delivered any accepted value for, from a file or from
    # open data (the statistics bureau, say, is fed by its API, not by files)
    latest: dict[tuple[str, str], int] = {}
    delivered = con.execute(
        "select f.city_code, r.indicator_code, max(r.year) from raw.submission_rows r "
        "join raw.submission_files f using (file_hash) where f.status = 'loaded' and "
        "r.status = 'accepted' group by 1, 2 union all "
        "select null, o.indicator_code, max(o.year) from raw.open_data_observations o "
        "where o.status = 'accepted' and o.district_code is not null group by 2").fetchall()
    live_cities = set()
    for city, indicator, year in delivered:
        ind = ref.indicators.get(indicator)
        if ind is None:
            continue
        cities = [city] if city else [c for c, codes in ref.city_indicators.items()
                                      if indicator in codes]
        for c in cities:
            live_cities.add(c)
            key = (c, ind.department_code)
            latest[key] = max(latest.get(key, year), year)
    out = []
    # a city nothing was ever received for is not live on the platform yet: nobody is chased
    for city, codes in sorted((c, v) for c, v in ref.city_indicators.items() if c in live_cities):
        departments = sorted({ref.indicators[c].department_code for c in codes
                              if c in ref.indicators})
        for dep in departments:
            last = latest.get((city, dep))
            if last is not None and last >= due:
                continue
            first_missing = (last + 1) if last is not None else due
            missing = ", ".join(str(y) for y in range(first_missing, due + 1))
            out.append(Overdue("department", dep, city, str(last) if last else None,
                               f"owes {missing}; latest delivered: {last or 'none'}"))
    return out


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
    today = today or now.date()
    report = FreshnessReport(checked_at=now.isoformat(timespec="seconds"))
    settings.ensure_dirs()
    with engine_for(settings).connect() as con:
        report.overdue = overdue_departments(con, settings, today) + overdue_sources(con, now)
    report.tables, report.problem = table_freshness(settings)
    if alert and not report.ok:
        from citycheck.operations.alerts import post_alert

        post_alert({"event": "data_overdue",
                    "summary": f"citycheck: {len(report.overdue)} overdue, "
                               f"{len(report.stale_tables)} stale raw tables",
                    **report.to_dict()})
    return report
