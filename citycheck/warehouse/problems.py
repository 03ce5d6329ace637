"""The problem list (问题清单) and its rectification (整改), as events in the raw schema.

The problems are derived by dbt (mart_problems): every target missed and every city indicator
that got worse, in each closed round. What the office knows about one — its cause, the
measure taken, the deadline, its status (open → in_progress → rectified) — is a row of
raw.problem_updates, appended and never changed; the latest row stands and the earlier ones
are its history. Each row carries every field (a step that changes only the status keeps the
cause, measure and deadline of the one before), so the latest row alone says where a problem
stands. A step on a problem that changed since the person acting saw it is refused, saying what
it is now, as for the review of held values.

Written here, by the CLI (`citycheck problem update`) and the portal's office page, through the
warehouse's engine (the one writer on DuckDB).
"""
from __future__ import annotations

import uuid
from datetime import date

from citycheck.warehouse.rounds import RoundRefused, now

STATUSES = ("open", "in_progress", "rectified")
STATUS_ZH = {"open": "未整改", "in_progress": "整改中", "rectified": "已整改", "overdue": "已逾期"}


def latest_update(con, problem_id: str) -> dict | None:
    rows = con.execute(
        "select update_id, status, cause, measure, deadline from raw.problem_updates "
        "where problem_id = ? order by recorded_at desc, update_id desc limit 1",
        [problem_id]).fetchall()
    if not rows:
        return None
    update_id, status, cause, measure, deadline = rows[0]
    return {"update_id": update_id, "status": status, "cause": cause, "measure": measure,
            "deadline": deadline}


def record_problem_update(con, problem_id: str, actor: dict, status: str | None = None,
                          cause: str | None = None, measure: str | None = None,
                          deadline: date | None = None, seen: str | None = "") -> str:
    """Record one step on a problem as `actor` (the office of its city); returns its id.
    Fields not given keep their last value. `seen`: the latest step the person acting saw
    (None: none yet); "" skips that check (the CLI acts on what it reads here)."""
    city = problem_id.split("|", 1)[0]
    if actor.get("role") != "office" or actor.get("city_code") != city:
        raise RoundRefused(f"only the coordinating office of city {city} may update its "
                           f"problems 仅该城市协调办公室可更新问题清单; {actor.get('username')} "
                           f"is {actor.get('role')} of {actor.get('city_code')}")
    if status is not None and status not in STATUSES:
        raise RoundRefused(f"unknown status {status!r}: use {', '.join(STATUSES)} "
                           "整改状态应为 open（未整改）、in_progress（整改中）或 rectified（已整改）")
    if not _known(con, problem_id):
        raise RoundRefused(f"no problem {problem_id} in the latest build: `citycheck problem "
                           "list` shows them 问题清单中没有该问题")
    last = latest_update(con, problem_id)
    if seen != "" and seen != (last["update_id"] if last else None):
        raise RoundRefused(
            f"problem {problem_id} changed while you looked at it: it is now "
            f"{last['status'] if last else 'open'}; reload the page and act on what it says "
            "now 该问题已被更新，请刷新后再操作")
    before = last or {"status": "open", "cause": None, "measure": None, "deadline": None}
    row = {"status": status or before["status"],
           "cause": (cause.strip() or None) if cause is not None else before["cause"],
           "measure": (measure.strip() or None) if measure is not None else before["measure"],
           "deadline": deadline if deadline is not None else before["deadline"]}
    if last and all(row[k] == before[k] for k in row):
        raise RoundRefused(f"problem {problem_id} already reads so: nothing to record "
                           "内容未变化")
    update_id = uuid.uuid4().hex
    con.execute("insert into raw.problem_updates values (?,?,?,?,?,?,?,?,?,?)",
                [update_id, problem_id, city, row["status"], row["cause"], row["measure"],
                 row["deadline"], now(), actor["username"],
                 last["update_id"] if last else None])
    return update_id


def _known(con, problem_id: str) -> bool:
    """Whether the latest build's problem list has the problem (marts.mart_problems)."""
    (built,) = con.execute("select count(*) from information_schema.tables where "
                           "table_schema = 'marts' and table_name = 'mart_problems'").fetchone()
    return bool(built) and bool(con.execute(
        "select count(*) from marts.mart_problems where problem_id = ?",
        [problem_id]).fetchone()[0])
