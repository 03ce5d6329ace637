"""What a BI tool sees when it connects the way Superset does (SQLAlchemy's inspector): on
PostgreSQL the star schema's primary and foreign keys, on both engines the views that keep
district rows and city totals apart, and a date column for time."""
from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

from citycheck.publication.publish_postgres import publish_postgres
from citycheck.warehouse.star import VIEWS, star_keys
from tests.helpers import query

psycopg2 = pytest.importorskip("psycopg2")
# the URL parameters docs/bi.md gives BI tools: read-only, no file access, locked
LOCKED = "access_mode=read_only&enable_external_access=false&lock_configuration=true"


def _pg_url(dsn: str) -> str:
    from psycopg2.extensions import parse_dsn

    d = parse_dsn(dsn)
    return (f"postgresql+psycopg2://{d.get('user', 'postgres')}@{d.get('host', '127.0.0.1')}:"
            f"{d.get('port', 5432)}/{d['dbname']}")


def test_postgres_reflects_the_star_schema_keys_views_and_comments(built, pg_database):
    publish_postgres(built, pg_database)
    keys, foreign = star_keys(built.dbt_project_dir)
    engine = sa.create_engine(_pg_url(pg_database))
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names(schema="published"))
        assert set(keys) <= tables
        for table, column in keys.items():
            pk = inspector.get_pk_constraint(table, schema="published")
            assert pk["constrained_columns"] == [column], table
        found = {(t, fk["constrained_columns"][0], fk["referred_table"],
                  fk["referred_columns"][0])
                 for t in tables for fk in inspector.get_foreign_keys(t, schema="published")}
        assert set(foreign) == found and len(found) >= 8
        # the facts join their dimensions without help
        assert ("fct_indicator_values", "district_key", "dim_district", "district_key") in found
        assert set(VIEWS) <= set(inspector.get_view_names(schema="published"))
        assert inspector.get_table_comment("scorecard_districts", schema="published")["text"]
        columns = {c["name"]: c for c in inspector.get_columns("dim_year", schema="published")}
        assert isinstance(columns["year_start"]["type"], sa.Date)
        assert columns["year_start"]["comment"]
        with engine.connect() as con:
            districts, cities, total = con.execute(sa.text(
                "select (select count(*) from published.scorecard_districts), "
                "(select count(*) from published.scorecard_city_totals), "
                "(select count(*) from published.mart_indicator_scorecard)")).one()
            assert districts + cities == total and districts and cities
            assert con.execute(sa.text("select bool_and(not is_city_total) from "
                                       "published.scorecard_districts")).scalar()
            assert con.execute(sa.text("select year_start from published.dim_year where "
                                       "year = 2023")).scalar() == datetime.date(2023, 1, 1)
    finally:
        engine.dispose()


def test_the_duckdb_serving_file_has_the_views_and_the_date(built):
    engine = sa.create_engine(f"duckdb:///{built.serving_path}?{LOCKED}")
    try:
        inspector = sa.inspect(engine)
        assert set(VIEWS) <= set(inspector.get_view_names())
        columns = {c["name"]: c for c in inspector.get_columns("dim_year")}
        assert isinstance(columns["year_start"]["type"], sa.Date)
        # the views are described as the scorecard is, column by column
        scorecard = {c["name"]: c["comment"] for c in
                     inspector.get_columns("mart_indicator_scorecard")}
        for view in VIEWS:
            assert {c["name"]: c["comment"] for c in inspector.get_columns(view)} == scorecard
            assert inspector.get_table_comment(view)["text"]
        # asking for keys, as Superset does when it adds a dataset, gets an answer, not an
        # error; duckdb-engine 0.17 cannot see the declared keys (docs/bi.md)
        assert inspector.get_pk_constraint("fct_indicator_values")["constrained_columns"] == []
        assert inspector.get_foreign_keys("fct_indicator_values") == []
    finally:
        engine.dispose()


def test_with_the_citycheck_keys_plugin_sqlalchemy_reflects_the_duckdb_keys(built):
    """The dialect option for the locked duckdb-engine: `?plugin=citycheck_keys`."""
    keys, foreign = star_keys(built.dbt_project_dir)
    engine = sa.create_engine(
        f"duckdb:///{built.serving_path}?plugin=citycheck_keys&{LOCKED}")
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names())
        for table, column in keys.items():
            assert inspector.get_pk_constraint(table)["constrained_columns"] == [column], table
            # a key in truth: one row per value, none null (dbt tests it; so does this)
            with engine.connect() as con:
                assert con.execute(sa.text(f'select count(*) = count(distinct "{column}") '
                                           f"from {table}")).scalar(), table
        found = {(t, fk["constrained_columns"][0], fk["referred_table"],
                  fk["referred_columns"][0])
                 for t in tables for fk in inspector.get_foreign_keys(t)}
        assert found == set(foreign)
        assert inspector.get_pk_constraint("scorecard_districts")["constrained_columns"] == []
        # whole-schema reflection (MetaData.reflect) takes the same answers
        metadata = sa.MetaData()
        metadata.reflect(engine, only=["fct_indicator_values", "dim_district", "dim_indicator",
                                       "dim_year", "dim_source"])
        facts = metadata.tables["fct_indicator_values"]
        assert [c.name for c in facts.primary_key] == ["value_id"]
        assert {fk.target_fullname for fk in facts.foreign_keys} == {
            f"{ref}.{col}" for mart, _, ref, col in foreign if mart == "fct_indicator_values"}
        # and the reflected tables join as declared
        with engine.connect() as con:
            district = metadata.tables["dim_district"]
            joined = con.execute(sa.select(sa.func.count()).select_from(
                facts.join(district))).scalar()
            assert joined == con.execute(sa.select(sa.func.count()).select_from(facts)).scalar()
    finally:
        engine.dispose()
    # a sum over the district view counts no city twice
    ((districts, cities, total),) = query(
        built.serving_path, "select (select sum(value) from scorecard_districts), "
        "(select sum(value) from scorecard_city_totals), "
        "(select sum(value) from mart_indicator_scorecard)")
    assert abs(districts + cities - total) < 1e-6 * abs(total)
    assert query(built.serving_path, "select count(*) from scorecard_districts where "
                 "is_city_total") == [(0,)]
