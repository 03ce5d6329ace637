"""Running a round, for the coordinating office: what each round owes now, who is overdue,
the review queue; opening a round early, closing it, and the review steps on held values.

    citycheck round list [--city C]
    citycheck round open --city C --year Y [--deadline YYYY-MM-DD] --as OFFICE_USER
    citycheck round close --city C --year Y --as OFFICE_USER [--override REASON]
    citycheck review list [--city C] [--year Y]
    citycheck review confirm|return ITEM --reason WHY --as OFFICE_USER
    citycheck review answer ITEM --reason WHY --as CLERK_USER

Everything people read about a round comes from one place, the marts mart_rounds,
mart_round_values, mart_submission_status and mart_review_queue, through the readers below:
`citycheck status`, `citycheck freshness`, the office's and the clerks' pages in the portal,
the office's Excel export and the daily reminder all call them (tests/test_rounds.py checks
they agree). Days overdue are counted here, from the round's due date, on the day they are read.

The readers take `rows(sql, params) -> list[dict]` and the marts' schema prefix: the portal
reads the publication ("" prefix), the CLI and freshness the latest build ("marts.").
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from citycheck.warehouse.rounds import RoundRefused, record_round_event, round_states
from common.calendar import due_date, today
from common.config import Settings
from common.engine import engine_for
from common.reference import load_reference

Rows = Callable[[str, list | dict], list[dict]]
SETTLED = ("received", "reported_missing", "confirmed")
IN_REVIEW = ("held", "returned", "answered")


def days_overdue(due_on: date | None, on: date | None = None) -> int:
    """Days since `due_on` (0 when not yet due)."""
    if due_on is None:
        return 0
    return max(0, ((on or today()) - due_on).days)


# -- readers ------------------------------------------------------------------------------------

def rounds(rows: Rows, prefix: str = "", city: str | None = None) -> list[dict]:
    """Every round opened so far (newest year first), as mart_rounds holds it."""
    where, params = ("where city_code = ?", [city]) if city else ("", [])
    return rows(f"select * from {prefix}mart_rounds {where} order by city_code, year desc",
                params)


def year_in_collection(round_rows: list[dict]) -> int | None:
    """The year the office works on by default: the oldest round not closed that still owes
    or holds anything; else the newest round not closed; else the newest round."""
    open_rounds = sorted((r for r in round_rows if r["round_state"] != "closed"),
                         key=lambda r: r["year"])
    for r in open_rounds:
        if r["values_missing"] or r["values_held"] or r["values_returned"]:
            return r["year"]
    if open_rounds:
        return open_rounds[-1]["year"]
    return max((r["year"] for r in round_rows), default=None)


def departments(rows: Rows, prefix: str, city: str, year: int) -> list[dict]:
    """Each department's row of the dispatch list for one round (mart_submission_status),
    with days overdue: those still owing or returned first."""
    found = rows(f"""
        select department_code, department_name_zh, department_name_en, submission_status,
               values_expected, values_present, values_reported_missing, values_missing,
               values_held, values_returned, due_on, files_received, files_refused,
               records_accepted, records_rejected, last_received_at
        from {prefix}mart_submission_status where city_code = ? and year = ?
        order by submission_status = 'complete', department_code""", [city, year])
    for r in found:
        owes = r["values_missing"] or r["values_returned"]
        r["days_overdue"] = days_overdue(r["due_on"]) if owes else 0
    return found


def round_values(rows: Rows, prefix: str, city: str, year: int,
                 department: str | None = None, states: tuple[str, ...] | None = None
                 ) -> list[dict]:
    """The round's values (mart_round_values), those in `states` (default: all not settled:
    owed, held, returned, answered), with days overdue for the owed and returned ones."""
    states = states or ("owed", *IN_REVIEW)
    marks = ", ".join("?" for _ in states)
    sql = (f"select * from {prefix}mart_round_values where city_code = ? and year = ? "
           f"and value_state in ({marks})")
    params: list = [city, year, *states]
    if department:
        sql += " and department_code = ?"
        params.append(department)
    found = rows(sql + " order by department_code, indicator_code, district_code", params)
    for r in found:
        late = r["value_state"] in ("owed", "returned")
        r["days_overdue"] = days_overdue(r["due_on"]) if late else 0
    return found


def review_queue(rows: Rows, prefix: str, city: str, year: int | None = None,
                 department: str | None = None) -> list[dict]:
    """Open review items (mart_review_queue): held, returned, answered."""
    sql, params = f"select * from {prefix}mart_review_queue where city_code = ?", [city]
    if year is not None:
        sql += " and year = ?"
        params.append(year)
    if department:
        sql += " and department_code = ?"
        params.append(department)
    return rows(sql + " order by year, review_state, department_code, indicator_code, "
                      "district_code", params)


def overdue_by_department(rows: Rows, prefix: str, on: date) -> list[dict]:
    """Per city and department, the rounds past their due date (not closed) in which it still
    owes values or has returned ones to answer: what freshness and the daily reminder chase."""
    return rows(f"""
        select s.city_code, s.department_code, s.department_name_zh, s.department_name_en,
               s.year, s.due_on, s.values_missing, s.values_returned
        from {prefix}mart_submission_status as s
        join {prefix}mart_rounds as r on r.city_code = s.city_code and r.year = s.year
        where r.round_state <> 'closed' and s.due_on < ?
              and s.values_missing + s.values_returned > 0
        order by s.city_code, s.department_code, s.year""", [on])


def reminder_text(row: dict, year: int) -> str | None:
    """The reminder the office copies to a department that owes values (Chinese, then
    English)."""
    owed, returned = row["values_missing"], row["values_returned"]
    if not owed and not returned:
        return None
    late = row.get("days_overdue") or 0
    zh_late = f"已逾期{late}天，" if late else ""
    en_late = f" They are {late} days overdue." if late else ""
    zh_returned = f"另有{returned}项数值已退回待更正，" if returned else ""
    en_returned = f" {returned} returned values wait for your correction or answer." \
        if returned else ""
    return (f"{row['department_name_zh']}：{year}年度城市体检指标数据尚缺{owed}项，{zh_returned}"
            f"{zh_late}请尽快通过部门填报门户报送。如已报送，请在门户查看回执。 "
            f"{row['department_name_en']}: {owed} of your {year} city health check figures "
            f"are still missing.{en_returned}{en_late} Please send them through the department "
            "portal; if you have sent them, see the receipt there.")


# -- the office's actions ------------------------------------------------------------------------

@dataclass
class RoundAction:
    city_code: str
    year: int
    event: str
    message: str
    left_missing: list[dict] = field(default_factory=list)
    event_id: str = ""


def _latest_build_is_current(con) -> str | None:
    """Why the latest build does not show the round as it stands, or None: a build is
    running, none succeeded, or files, fetches or review steps landed after it started."""
    from citycheck.warehouse.audit import AUDIT_DDL, raw_row_count

    con.execute(AUDIT_DDL)
    last = con.execute("select build_id, status, started_at, raw_rows from audit.builds "
                       "order by started_at desc limit 1").fetchone()
    if last is None:
        return "nothing has been built yet: run `citycheck run` first"
    if last[1] == "running":
        return (f"build {last[0]} is running (started {last[2]:%Y-%m-%d %H:%M} UTC): a round "
                "cannot close while a build is running; wait for it to finish (or, if it was "
                "stopped, run `citycheck build`)")
    if last[1] != "success":
        return (f"the latest build {last[0]} failed: fix it and run `citycheck run`, so that the "
                "round's figures are current")
    if last[3] is None or raw_row_count(con) != last[3]:
        return ("files, fetches or review steps arrived after the latest build began: run "
                "`citycheck run` (or wait for the warehouse DAG) so that the round is judged on "
                "what it holds now 最近一次构建之后又有新数据，请先运行 citycheck run")
    return None


def close_round(settings: Settings, city: str, year: int, actor: dict, reason: str = "",
                override: str | None = None) -> RoundAction:
    """Close a round: refused while values are owed, held or returned, unless `override`
    says why it closes anyway (what stays missing is recorded with it), while a build runs,
    and when the latest build does not hold everything that arrived."""
    _office_of(actor, city)
    engine = engine_for(settings)
    with engine.connect() as con:
        state = round_states(con, city).get((city, year))
        if state is None:
            raise RoundRefused(f"there is no {year} round of city {city}: `citycheck round list` "
                               "shows the rounds 没有该轮次")
        if state["last_event"] == "closed":
            raise RoundRefused(f"the {year} round of city {city} is already closed (by "
                               f"{state['last_by']} at {state['last_at']:%Y-%m-%d %H:%M}) "
                               "该轮次已关闭")
        stale = _latest_build_is_current(con)
        if stale:
            raise RoundRefused(stale)
        cur = con.execute(
            "select department_code, district_code, indicator_code, value_state "
            "from marts.mart_round_values where city_code = ? and year = ? and value_state "
            "in ('owed', 'held', 'returned', 'answered') "
            "order by department_code, indicator_code, district_code", [city, year])
        names = [d[0] for d in cur.description]
        left = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        counts = {s: sum(1 for x in left if x["value_state"] == s)
                  for s in ("owed", "held", "returned", "answered")}
        if left and not (override or "").strip():
            said = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            raise RoundRefused(
                f"the {year} round of city {city} still has {said} values: chase them "
                f"(`citycheck status --city {city} --year {year} --missing`) and review the "
                "held ones (`citycheck review list`), or close it anyway with --override "
                "REASON, which records what stays missing 仍有未报或待核实数值，不能关闭；"
                "如确需关闭，请使用 --override 并说明理由")
        why = (override or reason or "").strip() or "every value received 全部报齐"
        event_id = record_round_event(
            con, state["programme_code"], city, year, "closed", actor["username"], reason=why,
            detail={"left_missing": left, "counts": counts} if left else None)
    said = (f"closed with {len(left)} values left as they are (override: {why})" if left
            else "closed: every value received and reviewed")
    return RoundAction(city, year, "closed", f"the {year} round of city {city} is {said}", left,
                       event_id)


def open_round(settings: Settings, city: str, year: int, actor: dict,
               deadline: date | None = None, reason: str = "") -> RoundAction:
    """Open a round before the calendar does, or reopen a closed one (a reason is needed: a
    closed round's publication was final)."""
    _office_of(actor, city)
    ref = load_reference(settings.seeds_dir)
    programme = ref.programmes.get(city)
    if programme is None:
        raise RoundRefused(f"city {city} runs no programme in seeds/programmes.csv 该城市没有报送计划")
    if year < programme.first_year or (programme.last_year and year > programme.last_year):
        last = programme.last_year or "—"
        raise RoundRefused(f"the programme {programme.code} runs from {programme.first_year} to "
                           f"{last}: there is no {year} round 该年度不在计划期内")
    due = deadline or due_date(year, programme.round_deadline)
    with engine_for(settings).connect() as con:
        state = round_states(con, city).get((city, year))
        if state is not None and state["last_event"] != "closed":
            raise RoundRefused(f"the {year} round of city {city} is already open (since "
                               f"{state['opened_at']:%Y-%m-%d}, due {state.get('due_on')}) "
                               "该轮次已开启")
        if state is not None and not reason.strip():
            raise RoundRefused(f"the {year} round of city {city} was closed: say why it reopens "
                               "(--reason); its publication was final 重新开启已关闭的轮次须说明理由")
        event = "reopened" if state is not None else "opened"
        event_id = record_round_event(
            con, programme.code, city, year, event, actor["username"],
            reason=reason.strip() or "opened early by the office 提前开启", due_on=due)
    return RoundAction(city, year, event, f"the {year} round of city {city} is {event}; its "
                                          f"figures are due on {due}", event_id=event_id)


def _office_of(actor: dict, city: str) -> None:
    if actor.get("role") != "office" or actor.get("city_code") != city:
        raise RoundRefused(f"only the coordinating office of city {city} may open or close its "
                           f"rounds; {actor.get('username')} is {actor.get('role')} of "
                           f"{actor.get('city_code')} 只有该城市协调办公室可以操作")


def review(settings: Settings, item: str, action: str, actor: dict, reason: str,
           seen: str | None = "") -> dict:
    """One review step on a held value (citycheck/warehouse/rounds.py: record_review)."""
    from citycheck.warehouse.rounds import record_review

    with engine_for(settings).connect() as con:
        return record_review(con, item, action, actor, reason, seen)


# -- the calendar and the daily reminder ----------------------------------------------------------

def open_due(settings: Settings, on: date | None = None) -> list[str]:
    """Open every round the programmes' calendar has reached by `on` (default today);
    returns the rounds opened ("city year")."""
    from citycheck.warehouse.rounds import open_due_rounds

    with engine_for(settings).connect() as con:
        opened = open_due_rounds(con, load_reference(settings.seeds_dir), on or today())
    return [f"{r.city_code} {r.year}" for r in opened]


def remind_overdue(settings: Settings, on: date | None = None, post: bool = True
                   ) -> list[dict]:
    """One alert per round past its due date and not closed: each department that still owes
    values or has returned ones to answer, with its reminder text (from the latest build, or
    the publication while a run holds the warehouse). Returns the alerts (posted unless
    `post` is False)."""
    from citycheck.operations.alerts import post_alert

    on = on or today()
    try:
        con, prefix, origin = engine_for(settings).read_latest()
    except FileNotFoundError:
        return []
    try:
        def rows(sql, params):
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        schema = prefix.rstrip(".") or None
        if not rows("select 1 from information_schema.tables where table_name = 'mart_rounds'"
                    + (" and table_schema = ?" if schema else ""), [schema] if schema else []):
            return []   # nothing built yet (or built before rounds): nothing to chase
        alerts = []
        for r in rounds(rows, prefix):
            if r["round_state"] == "closed" or r["due_on"] is None or r["due_on"] >= on:
                continue
            late = [d for d in departments(rows, prefix, r["city_code"], r["year"])
                    if d["values_missing"] or d["values_returned"]]
            if not late:
                continue
            for d in late:
                d["days_overdue"] = days_overdue(d["due_on"], on)
            alerts.append({
                "event": "round_overdue", "round_id": r["round_id"],
                "city_code": r["city_code"], "year": r["year"], "due_on": r["due_on"],
                "days_overdue": days_overdue(r["due_on"], on),
                "completeness_pct": r["completeness_pct"], "read_from": origin,
                "summary": f"citycheck: {r['city_name_zh']} {r['year']} round, "
                           f"{days_overdue(r['due_on'], on)} days overdue: {len(late)} "
                           f"departments still owe {sum(d['values_missing'] for d in late)} "
                           "values",
                "departments": [{
                    "department_code": d["department_code"],
                    "department_name_zh": d["department_name_zh"],
                    "values_missing": d["values_missing"],
                    "values_returned": d["values_returned"],
                    "reminder": reminder_text(d, r["year"])} for d in late]})
    finally:
        con.close()
    if post:
        for a in alerts:
            post_alert(a)
    return alerts
