"""Prove docs/bi.md with a real Superset (run by `make bi-check`, in Superset's own
environment, not in `make test`).

For each publication (the DuckDB serving file, opened read-only, and the PostgreSQL schema
`published` when CITYCHECK_PG_DSN names one): register it as a Superset database, test the
connection, add the dataset `scorecard_districts` with its columns and descriptions, and run
one chart query over years (sum of the districts' values per year of one indicator), then
compare the chart's numbers with the same sum read directly from the publication.
Prints what Superset saw; exits 1 when anything disagrees.
"""
from __future__ import annotations

import json
import os
import sys

INDICATOR = os.environ.get("BI_CHECK_INDICATOR", "sewage_treatment_rate_pct")


def check(database_name: str, uri: str, schema: str, extra: dict, expected: dict) -> list[str]:
    from superset import db
    from superset.connectors.sqla.models import SqlaTable
    from superset.models.core import Database

    problems = []
    database = db.session.query(Database).filter_by(database_name=database_name).one_or_none()
    if database is None:
        database = Database(database_name=database_name)
        db.session.add(database)
    database.sqlalchemy_uri = uri
    database.extra = json.dumps(extra)
    db.session.commit()
    # the connection test Superset's "Test connection" button runs
    with database.get_sqla_engine() as engine, engine.connect() as con:
        from sqlalchemy import text
        assert con.execute(text("select 1")).scalar() == 1
    print(f"{database_name}: connection ok ({uri.split('@')[-1]})")
    tables = database.get_all_table_names_in_schema(catalog=None, schema=schema)
    views = database.get_all_view_names_in_schema(catalog=None, schema=schema)
    names = {t[0] if isinstance(t, tuple) else getattr(t, "table", t) for t in tables | views}
    print(f"  {len(names)} tables and views in {schema}, views: "
          f"{sorted(n for n in names if n.startswith('scorecard_'))}")
    # one dataset of that name at a time (Superset's SQLite metadata keeps names unique)
    for old in db.session.query(SqlaTable).filter_by(table_name="scorecard_districts").all():
        db.session.delete(old)
    db.session.commit()
    dataset = SqlaTable(table_name="scorecard_districts", database=database, schema=schema)
    db.session.add(dataset)
    dataset.fetch_metadata()
    db.session.commit()
    columns = {c.column_name: c for c in dataset.columns}
    described = sum(1 for c in columns.values() if c.description)
    print(f"  dataset scorecard_districts: {len(columns)} columns, {described} with a "
          f"description; value: {columns['value'].type}, year: {columns['year'].type}")
    if described < len(columns) - 1:
        problems.append(f"{database_name}: only {described} of {len(columns)} columns described")
    result = dataset.query({
        "groupby": ["year"], "metrics": [{"expressionType": "SQL", "sqlExpression": "SUM(value)",
                                          "label": "total"}],
        "filter": [{"col": "indicator_code", "op": "==", "val": INDICATOR}],
        "is_timeseries": False, "row_limit": 100, "extras": {}, "orderby": []})
    if result.status != "success":
        return problems + [f"{database_name}: chart query failed: {result.error_message}"]
    chart = {int(r["year"]): round(float(r["total"]), 6)
             for r in result.df.to_dict("records")}
    print(f"  chart sum(value) of {INDICATOR} by year: {chart}")
    if chart != expected:
        problems.append(f"{database_name}: chart {chart} != publication {expected}")
    return problems


def main() -> int:
    import duckdb
    from superset.app import create_app

    serving = os.path.abspath(sys.argv[1])
    con = duckdb.connect(serving, read_only=True)
    expected = {y: round(v, 6) for y, v in con.execute(
        "select year, sum(value) from scorecard_districts where indicator_code = ? "
        "group by year", [INDICATOR]).fetchall()}
    con.close()
    app = create_app()
    problems = []
    with app.app_context():
        locked = "access_mode=read_only&enable_external_access=false&lock_configuration=true"
        problems += check("citycheck (DuckDB)", f"duckdb:///{serving}?{locked}", "main", {},
                          expected)
        dsn = os.environ.get("CITYCHECK_PG_DSN")
        if dsn:
            from psycopg2.extensions import parse_dsn

            d = parse_dsn(dsn)
            uri = (f"postgresql+psycopg2://{d.get('user', 'postgres')}@{d.get('host', '127.0.0.1')}"
                   f":{d.get('port', 5432)}/{d['dbname']}")
            problems += check("citycheck (PostgreSQL)", uri, "published", {}, expected)
        else:
            print("PostgreSQL: skipped (set CITYCHECK_PG_DSN and run `citycheck publish "
                  "--target postgres` first)")
    for p in problems:
        print("PROBLEM:", p)
    print("bi-check:", "failed" if problems else "Superset reads both publications as docs/bi.md says")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
