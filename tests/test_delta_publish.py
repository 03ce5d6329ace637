"""A publication rewrites only the marts that changed, and of those only the years that
changed: the rest are carried over from the previous publication (Parquet hard-linked,
tables kept in a copy of its serving file), and what is served still equals, mart by mart,
what validation checked."""
from __future__ import annotations

from citycheck.checks.validate import validate
from citycheck.publication.publish import fingerprints, parquet_location, publish, published_marts
from citycheck.warehouse.build import build
from citycheck.warehouse.duckdb import connect
from extract.submissions import ingest_file
from tests.faults import served_fingerprints
from tests.helpers import parquet_files, query
from tests.test_intake_real_world import write_csv


def _inodes(settings, publication_id: str, mart: str) -> dict[str, int]:
    """A mart's Parquet files in a publication -> their inode (a link shares it)."""
    return {name: path.stat().st_ino
            for name, path in parquet_files(settings, mart, publication_id).items()}


def test_a_correction_rewrites_the_marts_it_changed_and_carries_the_rest(built, tmp_path):
    first = publish(built)                       # same build again: nothing changed
    assert sorted(first.carried) == published_marts(built)
    rows = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
            ["指标代码", "区县名称", "数值"], ["sewage_treatment_rate_pct", "环翠区", "97.1"]]
    assert ingest_file(write_csv(tmp_path / "fix.csv", rows), built).status == "loaded"
    build(built)
    validate(built)
    second = publish(built)

    changed = set(published_marts(built)) - set(second.carried)
    assert "fct_indicator_values" in changed and "mart_indicator_scorecard" in changed
    assert {"dim_department", "dim_district", "fct_indicator_targets"} <= set(second.carried)
    for mart in second.carried:                 # carried: the very same files, linked
        assert _inodes(built, second.publication_id, mart) == _inodes(
            built, first.publication_id, mart)
    for mart in ("fct_indicator_values", "fct_indicator_value_versions",
                 "mart_indicator_scorecard"):
        # written by year: 2023 is written again, the years before are the same files (the
        # scorecard recomputes every year of the city's indicator, but a row that comes out
        # the same keeps its build stamp, so its year is unchanged)
        now, then = (_inodes(built, p.publication_id, mart) for p in (second, first))
        assert now.keys() == then.keys()
        assert now[f"{mart}/year=2023/data0.parquet"] != then[f"{mart}/year=2023/data0.parquet"]
        before = [name for name in now if name.split("year=")[1][:4] < "2023"]
        assert before and all(now[name] == then[name] for name in before), (mart, before)
    for mart in changed:
        assert _inodes(built, second.publication_id, mart) != _inodes(
            built, first.publication_id, mart)
    # what readers get is what validation checked, carried or rewritten
    with connect(built.warehouse_path) as con:       # as dbt, still open in this process
        checked = fingerprints(con, "marts", published_marts(built))
    assert served_fingerprints(built) == checked
    assert query(built.serving_path,
                 "select value from fct_indicator_values where indicator_code = "
                 "'sewage_treatment_rate_pct' and district_code = '371002' and year = 2023"
                 ) == [(97.1,)]
    parquet = parquet_location(built.published_dir / "parquet", "fct_indicator_values")
    assert query(built.warehouse_path,
                 f"select value from read_parquet('{parquet}') where indicator_code = "
                 "'sewage_treatment_rate_pct' and district_code = '371002' and year = 2023"
                 ) == [(97.1,)]
    # rows in the order readers ask for them, after a whole write and after a delta: each
    # year's rows together, by city within it (DuckDB then skips the row groups of other
    # cities when a report reads one city's years)
    for mart in published_marts(built):
        columns = {c for (c,) in query(built.serving_path,
                   "select column_name from information_schema.columns where table_name = ?",
                   [mart])}
        if not {"year", "city_code"} <= columns:
            continue
        (out_of_order, runs, years), = query(built.serving_path, f"""
            with r as (select year, city_code,
                              lag(year) over (order by rowid) as prev_year,
                              lag(city_code) over (order by rowid) as prev_city
                       from "{mart}")
            select count(*) filter (where year is not distinct from prev_year
                                    and city_code < prev_city),
                   count(*) filter (where year is distinct from prev_year),
                   count(distinct coalesce(year, -1))
            from r""")
        assert out_of_order == 0 and runs == years, mart
    # the warehouse keeps no third copy of the publication
    assert query(built.warehouse_path, "select count(*) from information_schema.schemata "
                                       "where schema_name = 'published'") == [(0,)]
