"""`citycheck status --year YYYY`: the dispatch list — who still owes which values.

Read from the latest build (marts.mart_submission_status), which exists even when validation
refused to publish it: while figures are still being collected, the missing values are
exactly what stops publication. If a pipeline run holds the warehouse, the published copy is
read instead, and the output says so.
"""
from __future__ import annotations

import json
import sys

from common.config import Settings
from common.engine import engine_for

COLUMNS = ("city_code, city_name_zh, year, department_code, department_name_zh, values_expected, "
           "values_present, values_reported_missing, values_missing, files_received, "
           "files_refused, records_accepted, records_rejected, last_received_at, "
           "submission_status")


def _open(settings: Settings):
    return engine_for(settings).read_latest()


def load_status(settings: Settings, year: int, city: str | None = None
                ) -> tuple[list[dict], list[dict], list[dict], str]:
    """(status per department, values never reported, values reported missing, origin)."""
    con, schema, origin = _open(settings)
    try:
        where, params = "where year = ?", [year]
        if city:
            where, params = where + " and city_code = ?", params + [city]
        cur = con.execute(f"select {COLUMNS} from {schema}mart_submission_status {where} "
                          "order by city_code, values_missing desc, department_code", params)
        names = [d[0] for d in cur.description]
        status = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        cur = con.execute("select city_code, department_code, district_code, district_name_zh, "
                          f"indicator_code, indicator_name_zh from {schema}"
                          f"mart_submission_missing_values {where} "
                          "order by city_code, department_code, indicator_code, district_code",
                          params)
        names = [d[0] for d in cur.description]
        missing = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        where_f = where.replace("year", "f.year").replace("city_code", "f.city_code")
        cur = con.execute("select f.city_code, f.department_code, f.district_code, "
                          "d.district_name_zh, f.indicator_code, "
                          "i.indicator_name_zh "
                          f"from {schema}fct_indicator_values as f "
                          f"join {schema}dim_district as d using (district_key) "
                          f"join {schema}dim_indicator as i using (indicator_code) "
                          f"{where_f} and f.is_missing "
                          "order by 1, 2, 5, 3", params)
        names = [d[0] for d in cur.description]
        reported = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    return status, missing, reported, origin


def print_status(settings: Settings, year: int, city: str | None = None,
                 show_missing: bool = False, as_json: bool = False, out=None) -> int:
    """Print the dispatch list; exit code 0 when nothing is missing, 3 when values are owed."""
    out = out or sys.stdout
    status, missing, reported, origin = load_status(settings, year, city)
    if as_json:
        print(json.dumps({"year": year, "source": origin, "status": status,
                          "missing": missing, "reported_missing": reported},
                         ensure_ascii=False, indent=2, default=str), file=out)
        return 3 if missing else 0
    print(f"报送情况 Submission status {year} — from the {origin}", file=out)
    if not status:
        print("  nothing expected or received for that year", file=out)
        return 0
    print(f"  {'city':<7}{'department':<22}{'expected':>9}{'present':>9}{'missing':>9}"
          f"{'files':>7}{'rejected':>10}  status", file=out)
    for s in status:
        print(f"  {s['city_code']:<7}{s['department_code']:<22}{s['values_expected']:>9}"
              f"{s['values_present']:>9}{s['values_missing']:>9}{s['files_received']:>7}"
              f"{s['records_rejected']:>10}  {s['submission_status']}  "
              f"{s['department_name_zh']}", file=out)
    owed = sum(s["values_missing"] for s in status)
    print(f"  {owed} values still missing (never reported); {len(reported)} reported as "
          "missing (—, 无: the department says there is no figure)", file=out)
    if show_missing and missing:
        print("\n缺报明细 Missing values (never reported):", file=out)
        for m in missing:
            print(f"  {m['department_code']:<22}{m['indicator_code']:<40}"
                  f"{m['district_code']:<9}{m['district_name_zh']}", file=out)
    if show_missing and reported:
        print("\n报告为无数据 Reported missing (a marker such as — or 无):", file=out)
        for m in reported:
            print(f"  {m['department_code']:<22}{m['indicator_code']:<40}"
                  f"{m['district_code']:<9}{m['district_name_zh']}", file=out)
    if (missing or reported) and not show_missing:
        print("  (--missing lists each one)", file=out)
    return 3 if missing else 0
