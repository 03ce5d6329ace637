"""Reporting rounds and the review of held values, as events in the raw schema.

A round is programme x city x reporting year (seeds/programmes.csv). Its life is a list of
events in raw.round_events, appended and never changed: `opened` (by the calendar when the
programme's date comes, or early by the office), `closed` (by the office: the round's
publication is final), `reopened` (by the office, with a reason). dbt derives each round's
state from them (int_rounds, mart_rounds): open until a value arrives, collecting, closed.

A value a plausibility rule holds at intake (raw.submission_warnings.action = 'hold') is not
published until the office confirms it. Each review step is a row of raw.value_reviews:

    held --return (office)--> returned --answer (clerk)--> answered --confirm (office)--> confirmed
      \\--confirm (office)--> confirmed     answered --return (office)--> returned
                                           returned --confirm (office)--> confirmed

A new file with a value for the same district, indicator and year is a new version: the held
one is then superseded, and reviewing it is refused. So is any step on a version whose state
changed since the person acting saw it (another reviewer, a new file): the refusal says what
it is now. dbt reads the same rows (int_value_review_states): the state is the last step.

Both tables are written here, by the CLI (`citycheck round`, `citycheck review`) and the
department portal, through the warehouse's engine (the one writer on DuckDB).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from common.calendar import due_date, opening_date
from common.reference import Reference

CALENDAR = "calendar"
# action -> (role that may take it, states it may follow, state it leads to)
TRANSITIONS = {
    "confirm": ("office", ("held", "returned", "answered"), "confirmed"),
    "return": ("office", ("held", "answered"), "returned"),
    "answer": ("clerk", ("returned",), "answered"),
}
STATE_AFTER = {action: t[2] for action, t in TRANSITIONS.items()}
# Chinese beside English, for what clerks and the office read
STATE_ZH = {"held": "待核实", "returned": "已退回部门", "answered": "部门已答复", "confirmed": "已确认",
            "owed": "未报", "received": "已报", "reported_missing": "报送为无", "open": "已开启",
            "collecting": "收集中", "closed": "已关闭"}


class RoundRefused(Exception):
    """A round or review action cannot be done as asked. The message says why, what the round
    or value is now, and what to do; in Chinese and English."""


@dataclass(frozen=True)
class RoundDue:
    programme_code: str
    city_code: str
    year: int
    opens_on: date
    due_on: date


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def calendar_rounds(ref: Reference, on: date) -> list[RoundDue]:
    """Every round the programmes' calendar has opened by `on`."""
    out = []
    for p in sorted(ref.programmes.values(), key=lambda p: p.city_code):
        last = p.last_year if p.last_year is not None else on.year
        for year in range(p.first_year, last + 1):
            opens = opening_date(year, p.round_opens)
            if opens <= on:
                out.append(RoundDue(p.code, p.city_code, year, opens,
                                    due_date(year, p.round_deadline)))
    return out


def round_events(con, city: str | None = None, year: int | None = None) -> list[dict]:
    """The rounds' events, oldest first (all cities, or one city, or one round)."""
    where, params = [], []
    if city:
        where.append("city_code = ?")
        params.append(city)
    if year is not None:
        where.append("year = ?")
        params.append(year)
    cur = con.execute("select event_id, programme_code, city_code, year, event, due_on, "
                      "recorded_at, recorded_by, reason, detail from raw.round_events"
                      + (f" where {' and '.join(where)}" if where else "")
                      + " order by recorded_at, event_id", params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def round_states(con, city: str | None = None) -> dict[tuple[str, int], dict]:
    """(city, year) -> the round as its events leave it: its last event, when it opened and
    when it is due (the latest opened/reopened event's deadline)."""
    rounds: dict[tuple[str, int], dict] = {}
    for e in round_events(con, city):
        r = rounds.setdefault((e["city_code"], e["year"]), {
            "programme_code": e["programme_code"], "city_code": e["city_code"],
            "year": e["year"], "opened_at": e["recorded_at"], "opened_by": e["recorded_by"]})
        r["last_event"] = e["event"]
        r["last_at"], r["last_by"], r["last_reason"] = (e["recorded_at"], e["recorded_by"],
                                                        e["reason"])
        if e["due_on"] is not None:
            r["due_on"] = e["due_on"]
    return rounds


def record_round_event(con, programme: str, city: str, year: int, event: str, by: str,
                       reason: str | None = None, due_on: date | None = None,
                       detail: dict | None = None, event_id: str | None = None) -> str:
    event_id = event_id or uuid.uuid4().hex
    # an event whose id is taken already happened (the calendar opening a round twice)
    con.execute("insert into raw.round_events values (?,?,?,?,?,?,?,?,?,?) "
                "on conflict do nothing",
                [event_id, programme, city, year, event, due_on, now(), by, reason,
                 json.dumps(detail, ensure_ascii=False) if detail else None])
    return event_id


def open_due_rounds(con, ref: Reference, on: date) -> list[RoundDue]:
    """Open every round the calendar has reached by `on` and that has no event yet (an
    `opened` event by `calendar`, with the programme's deadline). Idempotent; returns the
    rounds it opened."""
    known = round_states(con)
    opened = []
    for r in calendar_rounds(ref, on):
        if (r.city_code, r.year) not in known:
            # one id per round: two processes opening the same round cannot both land
            record_round_event(con, r.programme_code, r.city_code, r.year, "opened", CALENDAR,
                               reason="the programme's calendar 按计划开启", due_on=r.due_on,
                               event_id=f"calendar:{r.city_code}:{r.year}")
            opened.append(r)
    return opened


# -- reviews of held values ------------------------------------------------------------------

def _parse_item(item_id: str) -> tuple[str, int]:
    digest, sep, number = item_id.strip().rpartition(":")
    if not sep or not digest or not number.isdigit():
        raise RoundRefused(f"'{item_id}' is not a review item: write it as `citycheck review "
                           "list` shows it (file hash, a colon, the record number) "
                           "审核项编号格式不对")
    return digest.lower(), int(number)


def review_item(con, item_id: str) -> dict:
    """The held version an item id names (its file hash, or the start of it, a colon and its
    record number), with its state as the raw tables hold it now: `state` (held, returned,
    answered, confirmed), `last_review_id` (None while only held), and `newer` (a later
    version of the same value, if one arrived)."""
    digest, number = _parse_item(item_id)
    cur = con.execute("""
        select r.file_hash, r.record_number, r.sheet_name, r.cell, r.indicator_code,
               r.district_code, r.year, r.value, f.city_code, f.department_code, f.received_at,
               f.original_name
        from raw.submission_rows as r join raw.submission_files as f using (file_hash)
        where r.file_hash like ? and r.record_number = ? and r.status = 'accepted'
              and f.status = 'loaded'""", [digest + "%", number])
    names = [d[0] for d in cur.description]
    found = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    if len(found) != 1:
        raise RoundRefused(
            f"no accepted value {item_id}" if not found else
            f"{item_id} is ambiguous: give more of the file hash 编号不唯一，请写出更长的文件指纹")
    item = found[0]
    holds = con.execute("select message from raw.submission_warnings where file_hash = ? and "
                        "record_number = ? and action = 'hold' order by rule",
                        [item["file_hash"], number]).fetchall()
    item["held_because"] = "; ".join(h[0] for h in holds)
    last = con.execute("select review_id, action, recorded_at, recorded_by, reason "
                       "from raw.value_reviews where file_hash = ? and record_number = ? "
                       "order by recorded_at desc, review_id desc limit 1",
                       [item["file_hash"], number]).fetchone()
    item["last_review_id"] = last[0] if last else None
    item["state"] = STATE_AFTER[last[1]] if last else ("held" if holds else None)
    item["last_step"] = ({"action": last[1], "at": last[2], "by": last[3], "reason": last[4]}
                         if last else None)
    newer = con.execute("""
        select f.original_name, f.received_at, r.value
        from raw.submission_rows as r join raw.submission_files as f using (file_hash)
        where r.indicator_code = ? and r.district_code = ? and r.year = ?
              and r.status = 'accepted' and f.status = 'loaded' and f.received_at > ?
        order by f.received_at desc limit 1""",
        [item["indicator_code"], item["district_code"], item["year"],
         item["received_at"]]).fetchone()
    item["newer"] = ({"file": newer[0], "received_at": newer[1], "value": newer[2]}
                     if newer else None)
    return item


def item_id(file_hash: str, record_number: int) -> str:
    return f"{file_hash}:{record_number}"


def describe_item(item: dict) -> str:
    value = "—" if item["value"] is None else f"{item['value']:g}"
    return (f"{item['indicator_code']} {item['district_code']} {item['year']} = {value} "
            f"(file {item['original_name']}, sheet {item['sheet_name']} cell {item['cell']})")


def may_act(actor: dict, action: str, city: str, department: str | None) -> None:
    """Refuse unless `actor` (an account: username, role, city_code, department_code) may
    take `action` on a value of `city` and `department`."""
    role = TRANSITIONS[action][0]
    if actor.get("role") != role or actor.get("city_code") != city or (
            role == "clerk" and actor.get("department_code") != department):
        who = ("the coordinating office of the value's city 该城市协调办公室" if role == "office"
               else "the department that sent the value 报送该数值的部门")
        raise RoundRefused(f"only {who} may {action} this value; {actor.get('username')} "
                           f"is {actor.get('role')} of {actor.get('city_code')}"
                           f"{'/' + actor['department_code'] if actor.get('department_code') else ''}")


def record_review(con, item_id: str, action: str, actor: dict, reason: str,
                  seen: str | None = "") -> dict:
    """Take one review step on a held value, as `actor`; returns the item as it now is.
    `seen`: the last review id the person acting saw (None: they saw it only held); "" skips
    that check (the CLI acting on the state it reads here). Refused, saying the current
    state, when the step does not follow it, when the value changed since it was seen, or
    when a newer version arrived."""
    if action not in TRANSITIONS:
        raise RoundRefused(f"unknown review action {action!r}: use {', '.join(TRANSITIONS)}")
    reason = (reason or "").strip()
    if not reason:
        raise RoundRefused("say why (--reason): the department and the record read it "
                           "请填写理由")
    item = review_item(con, item_id)
    may_act(actor, action, item["city_code"], item["department_code"])
    shown = describe_item(item)
    if item["state"] is None:
        raise RoundRefused(f"{shown} was not held for review: it is published as sent "
                           "该数值未被暂缓，无需审核")
    if item["newer"] is not None:
        n = item["newer"]
        raise RoundRefused(
            f"{shown} has changed: a newer figure "
            f"{'—' if n['value'] is None else format(n['value'], 'g')} arrived in "
            f"{n['file']} at {n['received_at']:%Y-%m-%d %H:%M}; review that one instead "
            "该数值已有更新的版本，请审核新版本")
    if seen != "" and seen != item["last_review_id"]:
        step = item["last_step"]
        raise RoundRefused(
            f"{shown} changed while you looked at it: it is now {item['state']} "
            f"({STATE_ZH[item['state']]})"
            + (f", by {step['by']} at {step['at']:%Y-%m-%d %H:%M}: {step['reason']}"
               if step else "") + "; reload the page and act on what it says now "
            "该数值状态已变化，请刷新后再操作")
    role, follows, _ = TRANSITIONS[action]
    if item["state"] not in follows:
        raise RoundRefused(f"{shown} is {item['state']} ({STATE_ZH[item['state']]}): it "
                           f"cannot be {action}ed now (only when {' or '.join(follows)}) "
                           "当前状态下不能进行此操作")
    review_id = uuid.uuid4().hex
    con.execute("insert into raw.value_reviews values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [review_id, item["file_hash"], item["record_number"], item["city_code"],
                 item["indicator_code"], item["district_code"], item["year"], action, now(),
                 actor["username"], role, reason, item["last_review_id"]])
    return review_item(con, item_id)
