"""`citycheck status [--year YYYY]`: the dispatch list — where each round stands and who still
owes which values.

Read from the latest build, which exists even when validation refused to publish it: the
round as it stands now. If a pipeline run holds the warehouse, the published copy is read
instead, and the output says so. The figures come from the rounds' one definition
(citycheck/operations/rounds.py), as the portal's pages, the export and freshness do.
"""
from __future__ import annotations

import json
import sys

from citycheck.operations import rounds as rv
from citycheck.warehouse.rounds import STATE_ZH
from common.config import Settings
from common.engine import engine_for


def _reader(con):
    def rows(sql, params):
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return rows


def load_status(settings: Settings, year: int | None = None, city: str | None = None
                ) -> tuple[list[dict], str]:
    """Per city: its round of `year` (default: the year in collection) with every
    department's row and every value not settled. (rounds, where it was read)."""
    con, prefix, origin = engine_for(settings).read_latest()
    try:
        rows = _reader(con)
        all_rounds = rv.rounds(rows, prefix, city)
        out = []
        for c in sorted({r["city_code"] for r in all_rounds}):
            mine = [r for r in all_rounds if r["city_code"] == c]
            y = year if year is not None else rv.year_in_collection(mine)
            found = next((r for r in mine if r["year"] == y), None)
            if found is None:
                continue
            found = dict(found)
            found["days_overdue"] = rv.days_overdue(found["due_on"]) if (
                found["round_state"] != "closed" and found["values_missing"]) else 0
            found["departments"] = rv.departments(rows, prefix, c, y)
            found["values"] = rv.round_values(rows, prefix, c, y)
            found["reported_missing"] = rv.round_values(rows, prefix, c, y,
                                                        states=("reported_missing",))
            out.append(found)
    finally:
        con.close()
    return out, origin


def print_status(settings: Settings, year: int | None = None, city: str | None = None,
                 show_missing: bool = False, as_json: bool = False, out=None) -> int:
    """Print the dispatch list; exit code 0 when nothing is owed, held or returned, 3 when
    something is."""
    out = out or sys.stdout
    found, origin = load_status(settings, year, city)
    pending = sum(r["values_missing"] + r["values_held"] + r["values_returned"] for r in found)
    if as_json:
        print(json.dumps({"year": year, "source": origin, "rounds": found},
                         ensure_ascii=False, indent=2, default=str), file=out)
        return 3 if pending else 0
    print(f"报送情况 Submission status — from the {origin}", file=out)
    if not found:
        print(f"  no round {'of ' + str(year) + ' ' if year else ''}is open"
              f"{' for city ' + city if city else ''}: `citycheck round list` shows the rounds",
              file=out)
        return 0
    for r in found:
        late = f", {r['days_overdue']} days overdue" if r["days_overdue"] else ""
        print(f"\n{r['city_name_zh']} {r['city_name_en']} ({r['city_code']}) · {r['year']} "
              f"round 轮次: {r['round_state']} {STATE_ZH[r['round_state']]} · due 截止 "
              f"{r['due_on']}{late} · 完成度 completeness {r['completeness_pct'] or 0:g} %",
              file=out)
        print(f"  {'department':<22}{'expected':>9}{'present':>9}{'owed':>6}{'held':>6}"
              f"{'returned':>9}{'overdue':>8}  status", file=out)
        for s in r["departments"]:
            print(f"  {s['department_code']:<22}{s['values_expected']:>9}"
                  f"{s['values_present']:>9}{s['values_missing']:>6}{s['values_held']:>6}"
                  f"{s['values_returned']:>9}{s['days_overdue'] or '':>8}  "
                  f"{s['submission_status']}  {s['department_name_zh']}", file=out)
        print(f"  {r['values_missing']} values still owed, {r['values_held']} held for review, "
              f"{r['values_returned']} returned; {len(r['reported_missing'])} reported as "
              "missing (—, 无: the department says there is no figure)", file=out)
        if show_missing and r["values"]:
            print("\n  未结清明细 Values not settled (owed, held, returned, answered):", file=out)
            for m in r["values"]:
                late = f"  {m['days_overdue']} days overdue" if m["days_overdue"] else ""
                print(f"  {m['value_state']:<10}{m['department_code']:<22}"
                      f"{m['indicator_code']:<40}{m['district_code']:<9}"
                      f"{m['district_name_zh']}{late}", file=out)
        if show_missing and r["reported_missing"]:
            print("\n  报告为无数据 Reported missing (a marker such as — or 无):", file=out)
            for m in r["reported_missing"]:
                print(f"  {m['department_code']:<22}{m['indicator_code']:<40}"
                      f"{m['district_code']:<9}{m['district_name_zh']}", file=out)
        if (r["values"] or r["reported_missing"]) and not show_missing:
            print("  (--missing lists each one)", file=out)
    return 3 if pending else 0
