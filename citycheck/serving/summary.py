"""What a person reads after a run (`citycheck run`, `make run`): what intake made of the
files received, every row still in quarantine, and what is published."""
from __future__ import annotations

import sys

from common.config import Settings


def print_intake(settings: Settings, out=None) -> None:
    """What intake made of everything received so far, and every row still in quarantine."""
    out = out or sys.stdout  # looked up per call: tests and callers swap sys.stdout
    from common.engine import engine_for

    with engine_for(settings).connect() as con:
        files = con.execute(
            "select count(*), count(*) filter (where status = 'rejected'), coalesce(sum(rows_read), 0), "
            "coalesce(sum(rows_accepted), 0), coalesce(sum(rows_rejected), 0), "
            "coalesce(sum(rows_ignored), 0) from raw.submission_files").fetchone()
        rejected = con.execute(
            "select f.original_name, r.sheet_name, r.row_number, r.error_column, r.reason "
            "from raw.submission_rows r join raw.submission_files f using (file_hash) "
            "where r.status = 'rejected' order by f.received_at, r.row_number limit 20").fetchall()
        refused = con.execute("select original_name, message from raw.submission_files "
                              "where status = 'rejected' order by received_at").fetchall()
    print(f"\nSubmissions: {files[0]} files ({files[1]} refused whole); records read {files[2]} = "
          f"accepted {files[3]} + rejected {files[4]} + layout {files[5]} (titles, headers, "
          "blank, totals and footer rows: read, not data)", file=out)
    print(f"  each file's receipt (Chinese and English): {settings.archive_dir}/<sha256[:2]>/"
          "<sha256>/receipt.txt", file=out)
    for name, message in refused:
        print(f"  refused {name}: {message}", file=out)
    for name, sheet, row, column, reason in rejected:
        print(f"  rejected {name} [{sheet}] row {row}, column {column}: {reason}", file=out)
    if files[4] > len(rejected):
        print(f"  ... and {files[4] - len(rejected)} more rejected rows: see mart_quarantine",
              file=out)


def print_published(settings: Settings, out=None) -> None:
    out = out or sys.stdout
    from citycheck.publication.publish import parquet_location
    from common.engine import engine_for

    engine = engine_for(settings)
    rows = list(engine.published_tables())
    if not rows:
        print("Nothing is published yet.", file=out)
        return
    if not engine.publishes_files:
        print(f"\nPublished marts (schema published in {engine.describe()}):", file=out)
        for name, n in rows:
            print(f"  {name:<32} {n:>7} rows", file=out)
        return
    print(f"\nPublished marts ({settings.serving_path}):", file=out)
    for name, n in rows:
        print(f"  {name:<32} {n:>7} rows   "
              f"{parquet_location(settings.published_dir / 'parquet', name)}", file=out)
    print("\nQuery them (read-only, safe while the pipeline runs):", file=out)
    print(f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{settings.serving_path}', "
          "read_only=True).sql('select district_name_zh, indicator_code, year, value, target_value, "
          "target_met, rank_in_city from mart_indicator_scorecard where target_id is not null "
          "order by year, indicator_code, rank_in_city'))\"", file=out)


def print_rounds(settings: Settings, out=None) -> None:
    """Where each reporting round stands in the publication, and what the office runs next."""
    out = out or sys.stdout
    from citycheck.operations.rounds import days_overdue, rounds
    from citycheck.serving.department_portal import reading

    with reading(settings) as rows:
        found = rounds(rows, "")
    if not found:
        return
    print("\nReporting rounds (报送轮次; docs/operations.md, \"Running a round\"):", file=out)
    for r in sorted(found, key=lambda r: (r["city_code"], r["year"])):
        late = days_overdue(r["due_on"]) if r["round_state"] != "closed" else 0
        owes = (f"{r['values_missing']} owed, {r['values_held']} held for review"
                + (f", {late} days overdue" if late and r["values_missing"] else ""))
        print(f"  {r['city_name_en']:<7} {r['year']}  {r['round_state']:<10} "
              f"{r['completeness_pct'] or 0:>5g} % complete  {owes}", file=out)
    print("  who owes what: .venv/bin/citycheck status --missing   held values: "
          ".venv/bin/citycheck review list", file=out)


def print_district_targets(settings: Settings, out=None) -> None:
    """Each city's districts ranked on the share of their targets met, in the latest year
    with judged targets (mart_district_targets: seed 003's 排出名次)."""
    out = out or sys.stdout
    from citycheck.serving.department_portal import reading

    with reading(settings) as rows:
        found = rows("""
            select t.city_code, c.city_name_en, t.year, t.district_name_zh, t.targets_met,
                   t.targets_met + t.targets_missed as judged, t.attainment_pct, t.rank_in_city
            from mart_district_targets as t
            join (select city_code, max(year) as year from mart_district_targets
                  where rank_in_city is not null group by city_code) as y using (city_code, year)
            join (select distinct city_code, city_name_en from dim_district) as c
                using (city_code)
            where t.rank_in_city is not null
            order by t.city_code, t.rank_in_city, t.district_name_zh""", [])
    if not found:
        return
    print("\nDistricts ranked on the targets they met (区县目标达成排名; mart_district_targets):",
          file=out)
    by_city: dict[tuple, list[dict]] = {}
    for r in found:
        by_city.setdefault((r["city_name_en"], r["year"]), []).append(r)
    for (city, year), ranked in by_city.items():
        shown = [f"{r['rank_in_city']}. {r['district_name_zh']} {r['attainment_pct']:g} % "
                 f"({r['targets_met']}/{r['judged']})" for r in ranked]
        print(f"  {city:<7} {year}  " + ", ".join(shown[:4])
              + (f" … {shown[-1]}" if len(shown) > 4 else ""), file=out)
