"""Do two engines hold the same marts? Every mart, row by row and column by column: DuckDB's
against PostgreSQL's, built from the same files. Used by the PostgreSQL test
(tests/test_postgres_warehouse.py, on the published marts) and by the PostgreSQL bench
(citycheck/devtools/bench_postgres.py, on the built marts at a bench scale).

What may differ, and is compared as such:
- times (when each run received, fetched, landed, built): both set or both empty — the two
  warehouses ran one after the other;
- an open-data fetch's id, new on every fetch: compared by what was fetched (source and
  content hash), and the run's data folder in a path by `<data>`;
- floating point: equal within 1e-12 (the engines sum in different orders).
"""
from __future__ import annotations

import math
import re
from datetime import datetime

# Each published mart and the column that identifies its rows.
KEYS = {"mart_indicator_scorecard": "scorecard_id", "fct_indicator_values": "value_id",
        "fct_indicator_value_versions": "observation_id", "mart_target_progress": "target_id",
        "mart_dimension_index": "index_id", "mart_district_ranking": "ranking_id",
        "mart_district_targets": "district_year_id", "mart_survey_estimates": "estimate_id",
        "mart_sustainability_index": "aspect_year_id",
        "mart_department_assessment": "assessment_id",
        "mart_district_assessment": "district_assessment_id", "mart_problems": "problem_id",
        "mart_problem_updates": "update_id", "mart_bulletins": "bulletin_id",
        "mart_bulletin_lines": "bulletin_line_id",
        "mart_submission_status": "status_id", "mart_quarantine": "quarantine_id",
        "dim_district": "district_key", "dim_indicator": "indicator_code",
        "fct_indicator_targets": "target_id", "dim_source": "source_id", "dim_year": "year",
        "dim_department": "department_code", "mart_submission_missing_values": "missing_id",
        "mart_plausibility_warnings": "warning_id", "dim_code_label": "label_id",
        "mart_rounds": "round_id", "mart_round_values": "round_value_id",
        "mart_review_queue": "review_item_id", "fct_value_reviews": "review_step_id",
        "fct_round_events": "event_id"}

FETCH_ID = re.compile(r"\b[0-9a-f]{32}\b")
DATA_DIR = re.compile(r"^/.*?/(archive|landing)/")
PAYLOAD = re.compile(r"/\d{8}T\d{6}_[0-9a-f]{32}\.")     # a fetched payload's file name
FETCHES = "select fetch_id, source_name, content_hash from raw.open_data_fetches"


def pg_rows(dsn: str, sql: str) -> tuple[list[str], list[tuple]]:
    import psycopg2

    with psycopg2.connect(dsn) as pg, pg.cursor() as cur:
        cur.execute(sql)
        return [c.name for c in cur.description], cur.fetchall()


def duckdb_rows(path, sql: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        rel = con.execute(sql)
        return [d[0] for d in rel.description], rel.fetchall()
    finally:
        con.close()


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def differences(table: str, key: str, duck: tuple, pg: tuple) -> list[str]:
    """What differs between one mart's rows on the two engines, in words."""
    (duck_columns, duck_rows), (pg_columns, pg_rows_) = duck, pg
    if pg_columns != duck_columns:
        return [f"{table}: columns differ (DuckDB {duck_columns}, PostgreSQL {pg_columns})"]
    index = duck_columns.index(key)
    duck_by_key = {r[index]: r for r in duck_rows}
    pg_by_key = {r[index]: r for r in pg_rows_}
    problems = [f"{table}: {k} only in DuckDB" for k in duck_by_key.keys() - pg_by_key.keys()]
    problems += [f"{table}: {k} only in PostgreSQL"
                 for k in pg_by_key.keys() - duck_by_key.keys()]
    if len(duck_by_key) != len(duck_rows) or len(pg_by_key) != len(pg_rows_):
        problems.append(f"{table}: {key} is not unique")
    for k in duck_by_key.keys() & pg_by_key.keys():
        for column, a, b in zip(duck_columns, duck_by_key[k], pg_by_key[k], strict=True):
            if isinstance(a, datetime) or isinstance(b, datetime):
                if (a is None) != (b is None):
                    problems.append(f"{table} {k} {column}: DuckDB {a!r}, PostgreSQL {b!r}")
                continue
            if not same(a, b):
                problems.append(f"{table} {k} {column}: DuckDB {a!r}, PostgreSQL {b!r}")
    return problems


def _fetch_names(rows) -> dict:
    """fetch_id -> what was fetched: a fetch's id is new on every fetch, so two warehouses
    that fetched the same payload name it differently."""
    return {fetch_id: f"{source}:{digest}" for fetch_id, source, digest in rows}


def _named(rows, fetches) -> list[tuple]:
    """Rows with every fetch id (alone, or inside an id such as open_data:<fetch>:field:n)
    replaced by what was fetched, and the run's data folder by <data>."""
    def name(v):
        if not isinstance(v, str):
            return v
        v = PAYLOAD.sub("/<fetched>.", DATA_DIR.sub(r"<data>/\1/", v))
        return FETCH_ID.sub(lambda m: fetches.get(m[0], m[0]), v)
    return [tuple(name(v) for v in r) for r in rows]


def mart_differences(duck_marts, duck_fetch_rows: list[tuple], pg_dsn: str, pg_schema: str,
                     duck_schema: str = "main", tables: dict[str, str] = KEYS
                     ) -> tuple[list[str], dict[str, int]]:
    """Every mart of `tables`, row by row: the DuckDB file `duck_marts` (schema
    `duck_schema`) against PostgreSQL's schema `pg_schema`; `duck_fetch_rows`, the DuckDB
    warehouse's rows of FETCHES (read by the caller: a process in which dbt holds the
    warehouse open cannot open it again read-only). Returns what differs, in words, and
    each mart's row count."""
    duck_fetches = _fetch_names(duck_fetch_rows)
    pg_fetches = _fetch_names(pg_rows(pg_dsn, FETCHES)[1])
    problems: list[str] = []
    counts: dict[str, int] = {}
    for table, key in tables.items():
        columns, rows = duckdb_rows(duck_marts, f'select * from {duck_schema}."{table}"')
        duck = (columns, _named(rows, duck_fetches))
        columns, rows = pg_rows(pg_dsn, f'select * from {pg_schema}."{table}"')
        pg = (columns, _named(rows, pg_fetches))
        if len(duck[1]) != len(pg[1]):
            problems.append(f"{table}: {len(duck[1])} rows in DuckDB, {len(pg[1])} in "
                            f"PostgreSQL")
        counts[table] = len(duck[1])
        problems += differences(table, key, duck, pg)
    return problems, counts
