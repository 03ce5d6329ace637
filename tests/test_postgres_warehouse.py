"""The same dbt project, validation and publication on PostgreSQL (CITYCHECK_WAREHOUSE_TARGET=
postgres), against the server on 127.0.0.1:5432: the published marts must equal the DuckDB
ones value for value."""
import dataclasses
import math

import duckdb
import pytest

from citycheck.checks.validate import validate
from citycheck.publication.publish import PublishRefused, publish
from citycheck.warehouse.build import BuildError, build
from extract.submissions import ingest_file
from tests.helpers import land_unknown_indicator, query
from tests.test_intake_real_world import write_csv

psycopg2 = pytest.importorskip("psycopg2")


def _pg_rows(dsn, sql):
    with psycopg2.connect(dsn) as pg, pg.cursor() as cur:
        cur.execute(sql)
        return [c.name for c in cur.description], cur.fetchall()


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def _differences(table, key, duck, pg) -> list[str]:
    (duck_columns, duck_rows), (pg_columns, pg_rows) = duck, pg
    assert pg_columns == duck_columns, f"{table}: columns differ"
    index = duck_columns.index(key)
    duck_by_key = {r[index]: r for r in duck_rows}
    pg_by_key = {r[index]: r for r in pg_rows}
    problems = [f"{table}: {k} only in DuckDB" for k in duck_by_key.keys() - pg_by_key.keys()]
    problems += [f"{table}: {k} only in PostgreSQL" for k in pg_by_key.keys() - duck_by_key.keys()]
    for k in duck_by_key.keys() & pg_by_key.keys():
        for column, a, b in zip(duck_columns, duck_by_key[k], pg_by_key[k], strict=True):
            # when each warehouse's build ran: the one column that may differ, and must be set
            if column == "built_at":
                assert a is not None and b is not None, f"{table} {k}: built_at missing"
                continue
            if not _same(a, b):
                problems.append(f"{table} {k} {column}: DuckDB {a!r}, PostgreSQL {b!r}")
    return problems


# Each published mart and the column that identifies its rows.
KEYS = {"mart_indicator_scorecard": "scorecard_id", "fct_indicator_values": "value_id",
        "fct_indicator_value_versions": "observation_id", "mart_target_progress": "target_id",
        "mart_dimension_index": "index_id", "mart_district_ranking": "ranking_id",
        "mart_submission_status": "status_id", "mart_quarantine": "quarantine_id",
        "dim_district": "district_key", "dim_indicator": "indicator_code",
        "fct_indicator_targets": "target_id", "dim_source": "source_id", "dim_year": "year",
        "dim_department": "department_code", "mart_submission_missing_values": "missing_id",
        "mart_plausibility_warnings": "warning_id", "dim_code_label": "label_id"}


def _published_differences(built, pg_database, publication) -> list[str]:
    """Every published mart, row by row: the DuckDB serving file against PostgreSQL."""
    problems = []
    for table, key in KEYS.items():
        con = duckdb.connect(str(built.serving_path), read_only=True)
        try:
            rel = con.execute(f"select * from main.{table}")
            duck = ([d[0] for d in rel.description], rel.fetchall())
        finally:
            con.close()
        pg = _pg_rows(pg_database, f"select * from published.{table}")
        assert len(pg[1]) == publication.tables[table] == len(duck[1]), table
        problems += _differences(table, key, duck, pg)
    return problems[:20]


def test_the_warehouse_builds_validates_and_publishes_on_postgres_value_for_value(
        built, pg_database, tmp_path):
    settings = dataclasses.replace(built, warehouse_target="postgres", pg_dsn=pg_database)
    result = build(settings)
    assert result.nodes > 100  # seeds, models, dbt tests and unit tests, all on PostgreSQL
    report = validate(settings)
    assert report.checks > 50 and not report.failures
    publication = publish(settings)
    assert set(publication.tables) == set(KEYS)

    # the raw mirror holds every raw row intake landed
    for table in ("submission_files", "submission_rows", "open_data_fetches",
                  "open_data_observations"):
        (duck,) = query(built.warehouse_path, f"select count(*) from raw.{table}")
        assert _pg_rows(pg_database, f"select count(*) from raw.{table}")[1] == [duck]

    assert not _published_differences(built, pg_database, publication)
    # the star schema's keys, declared on this path too (tests/test_bi_reflection.py)
    _, rows = _pg_rows(pg_database, "select contype, count(*) from pg_constraint c join "
                                    "pg_namespace n on n.oid = c.connamespace where "
                                    "n.nspname = 'published' group by contype")
    assert dict(rows) == {"p": len(KEYS), "f": 8}

    # the figure analysts know from the seed documents, through PostgreSQL
    _, rows = _pg_rows(pg_database, "select value, target_met from published.mart_indicator_"
                                    "scorecard where indicator_code = 'sewage_treatment_rate_pct'"
                                    " and year = 2020 and district_code = '371003'")
    assert rows == [(97.4, False)]
    # dbt wrote the YAML descriptions on the marts (persist_docs); publish kept them
    _, rows = _pg_rows(pg_database, "select obj_description('published.fct_indicator_values'"
                                    "::regclass), col_description('published.fct_indicator_"
                                    "values'::regclass, 1)")
    assert rows[0][0] and rows[0][1]

    # an incremental build on each engine after a correction and a new reporting year: the
    # incremental models' SQL (kept build stamps, new city-years, touched city-years) runs on
    # PostgreSQL too, and both publish the same
    for year, value in (("2023", "97.1"), ("2019", "95.5")):
        rows = [["填报部门", "water"], ["城市", "371000"], ["年度", year], [],
                ["指标代码", "区县名称", "数值"], ["sewage_treatment_rate_pct", "环翠区", value]]
        name = f"fix{year}.csv"
        assert ingest_file(write_csv(tmp_path / name, rows), built).status == "loaded"
    for engine in (settings, built):   # dbt-duckdb keeps its connection open: DuckDB last
        assert build(engine).full_refresh is False
        assert not validate(engine).failures
        publication = publish(engine)
    assert not _published_differences(built, pg_database, publication)
    _, rows = _pg_rows(pg_database, "select year, value from published.fct_indicator_values "
                                    "where indicator_code = 'sewage_treatment_rate_pct' and "
                                    "district_code = '371002' and year in (2019, 2023)")
    assert sorted(rows) == [(2019, 95.5), (2023, 97.1)]


def test_a_build_that_fails_on_postgres_leaves_the_publication_as_it_was(built, pg_database):
    settings = dataclasses.replace(built, warehouse_target="postgres", pg_dsn=pg_database)
    build(settings)
    validate(settings)
    publish(settings)
    _, before = _pg_rows(pg_database, "select * from published.fct_indicator_values "
                                      "order by value_id")

    land_unknown_indicator(built.warehouse_path)
    with pytest.raises(BuildError, match="nothing will be published"):
        build(settings)
    with pytest.raises(PublishRefused, match="failed"):
        publish(settings)
    _, after = _pg_rows(pg_database, "select * from published.fct_indicator_values "
                                     "order by value_id")
    assert after == before
