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


def _corrected(built, tmp_path, year: str, value: str):
    """The publication of the built sample, then Weihai's water bureau corrects 环翠区's
    sewage treatment rate of `year` to `value`: (that publication, the next one)."""
    first = publish(built)
    rows = [["填报部门", "water"], ["城市", "371000"], ["年度", year], [],
            ["指标代码", "区县名称", "数值"], ["sewage_treatment_rate_pct", "环翠区", value]]
    assert ingest_file(write_csv(tmp_path / "fix.csv", rows), built).status == "loaded"
    build(built)
    validate(built)
    return first, publish(built)


def test_a_correction_rewrites_the_marts_it_changed_and_carries_the_rest(built, tmp_path):
    first, second = _corrected(built, tmp_path, "2023", "97.1")
    assert sorted(first.carried) == published_marts(built)   # same build again: nothing changed

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
    _served_as_checked(built, 2023, 97.1)
    parquet = parquet_location(built.published_dir / "parquet", "fct_indicator_values")
    assert query(built.warehouse_path,
                 f"select value from read_parquet('{parquet}') where indicator_code = "
                 "'sewage_treatment_rate_pct' and district_code = '371002' and year = 2023"
                 ) == [(97.1,)]
    _city_years_together(built)
    # the warehouse keeps no third copy of the publication
    assert query(built.warehouse_path, "select count(*) from information_schema.schemata "
                                       "where schema_name = 'published'") == [(0,)]


def _served_as_checked(built, year: int, value: float) -> None:
    """What readers get is what validation checked, carried or rewritten, and the
    correction is served."""
    with connect(built.warehouse_path) as con:       # as dbt, still open in this process
        checked = fingerprints(con, "marts", published_marts(built))
    assert served_fingerprints(built) == checked
    assert query(built.serving_path,
                 "select value from fct_indicator_values where indicator_code = "
                 "'sewage_treatment_rate_pct' and district_code = '371002' and year = ?",
                 [year]) == [(value,)]


def _city_years_together(settings) -> None:
    """Rows in the order readers ask for them, after a whole write and after a delta: each
    city's rows of a year together (DuckDB then skips the row groups of other cities when a
    report reads one city's years)."""
    for mart in published_marts(settings):
        columns = {c for (c,) in query(settings.serving_path,
                   "select column_name from information_schema.columns where table_name = ?",
                   [mart])}
        if not {"year", "city_code"} <= columns:
            continue
        (runs, city_years), = query(settings.serving_path, f"""
            with r as (select year, city_code,
                              lag(year) over (order by rowid) as prev_year,
                              lag(city_code) over (order by rowid) as prev_city
                       from "{mart}")
            select count(*) filter (where year is distinct from prev_year
                                    or city_code is distinct from prev_city),
                   count(distinct (year, city_code))
            from r""")
        assert runs == city_years, mart


def test_a_citys_correction_rewrites_its_rows_of_the_year_not_every_citys(built, tmp_path):
    """Weihai corrects a 2022 figure: in the serving file its 2022 rows are written again,
    and Zibo's 2022 rows stay where they were, untouched: same place (rowid), same content
    (a city's re-submission at national scale rewrote its year for all 300 cities, and
    then every row of that year had a new place); what is served is what validation
    checked."""
    first, second = _corrected(built, tmp_path, "2022", "96.3")

    def served(publication, mart: str, city: str) -> set[tuple[int, int]]:
        """(rowid, row hash) of a city's 2022 rows in a publication's serving file."""
        path = built.published_dir / "publications" / publication.publication_id
        return set(query(path / "citycheck.duckdb", f'select rowid, hash(t) from "{mart}" '
                         "as t where year = 2022 and city_code = ?", [city]))

    for mart in ("fct_indicator_values", "mart_indicator_scorecard"):
        assert mart not in second.carried
        zibo = served(first, mart, "370300")
        assert zibo and served(second, mart, "370300") == zibo, mart
        # Weihai's rows are written again (appended: a row's place is not its identity)
        assert {h for _, h in served(second, mart, "371000")} != {
            h for _, h in served(first, mart, "371000")}, mart
    _served_as_checked(built, 2022, 96.3)
    _city_years_together(built)
