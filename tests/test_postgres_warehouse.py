"""The whole pipeline on PostgreSQL (CITYCHECK_WAREHOUSE_TARGET=postgres), against the
server on 127.0.0.1:5432: intake lands there, dbt builds there, validation and publication
run there, no DuckDB file is written; and the published marts equal the DuckDB engine's
value for value."""
from datetime import datetime
from pathlib import Path

import pytest

from citycheck.checks.validate import validate
from citycheck.devtools.demo import load_sample_surveys, stage_sample_submissions
from citycheck.devtools.engines import FETCHES, KEYS, mart_differences, pg_rows
from citycheck.pipeline import run_all
from citycheck.publication.publish import PublishRefused, publish
from citycheck.warehouse.build import BuildError, build
from extract.submissions import ingest_file
from tests.helpers import land_unknown_indicator, make_settings, query
from tests.test_intake_real_world import write_csv

psycopg2 = pytest.importorskip("psycopg2")


def _published_differences(built, pg_database, publication) -> list[str]:
    """Every published mart, row by row: the DuckDB serving file against PostgreSQL
    (citycheck/devtools/engines.py says what may differ and how it is compared)."""
    problems, counts = mart_differences(built.serving_path, query(built.warehouse_path, FETCHES),
                                        pg_database, "published")
    for table, n in counts.items():
        assert n == publication.tables[table], table
    return problems[:20]


# Not a folder, for anyone (root included): nothing can be written under it.
UNWRITABLE = Path("/dev/null/warehouse/citycheck.duckdb")


@pytest.fixture
def on_postgres(pg_database, tmp_path, monkeypatch, portal_url):
    """Settings for the PostgreSQL engine, with the DuckDB warehouse path unwritable."""
    monkeypatch.setenv("CITYCHECK_WAREHOUSE_TARGET", "postgres")
    monkeypatch.setenv("CITYCHECK_PG_DSN", pg_database)
    monkeypatch.setenv("CITYCHECK_WAREHOUSE", str(UNWRITABLE))
    return make_settings(tmp_path / "pg", monkeypatch, portal_url)


def _duckdb_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.suffix in {".duckdb", ".wal"}]


def test_the_whole_pipeline_runs_on_postgres_and_publishes_what_duckdb_publishes(
        built, on_postgres, pg_database, tmp_path):
    settings = on_postgres
    stage_sample_submissions(settings)
    load_sample_surveys(settings)
    summary = run_all(settings)   # ingest, fetch, freshness, build, validate, publish
    assert summary.validation.success and not summary.validation.failures
    assert [r.status for r in summary.receipts].count("loaded") >= 10
    assert summary.publication.tables and set(summary.publication.tables) == set(KEYS)
    # no DuckDB file anywhere: the warehouse, the checks and the publication are PostgreSQL
    assert not _duckdb_files(tmp_path / "pg") and not UNWRITABLE.parent.exists()

    # intake landed in PostgreSQL what it landed in the DuckDB file from the same files
    for table, key in (("submission_files", "file_hash, status, rows_read, rows_accepted, "
                                            "rows_rejected, rows_ignored, message"),
                       ("submission_rows", "file_hash, record_number, status, reason, "
                                           "indicator_code, district_code, year, value"),
                       ("submission_warnings", "file_hash, record_number, rule, message"),
                       ("open_data_observations", "source_name, record_number, field_name, "
                                                  "status, value")):
        duck = sorted(query(built.warehouse_path, f"select {key} from raw.{table}"))
        assert sorted(pg_rows(pg_database, f"select {key} from raw.{table}")[1]) == duck, table

    publication = summary.publication
    assert not _published_differences(built, pg_database, publication)
    # the star schema's keys, declared on this path too (tests/test_bi_reflection.py)
    _, rows = pg_rows(pg_database, "select contype, count(*) from pg_constraint c join "
                                    "pg_namespace n on n.oid = c.connamespace where "
                                    "n.nspname = 'published' group by contype")
    assert dict(rows) == {"p": len(KEYS), "f": 9}

    # what people read comes from PostgreSQL too: the dispatch list, the indicator pages, the
    # annual report, equal to what the DuckDB engine shows
    from citycheck.serving.report import write_reports
    from citycheck.serving.site import write_site
    from citycheck.serving.status import load_status

    def untimed(lists):   # when each run received its files differs
        return [[{k: v for k, v in row.items() if not isinstance(v, datetime)} for row in rows]
                for rows in lists]

    def rounds_untimed(found):   # and the rounds' ids: the calendar opened them anew here
        return [{k: v for k, v in r.items() if k not in ("opened_at", "departments",
                                                           "values", "reported_missing")}
                for r in found] + untimed([r["departments"] + r["values"] for r in found])

    for year in (2023, 2024):
        found, origin = load_status(settings, year)
        assert "PostgreSQL" in origin and found
        assert rounds_untimed(found) == rounds_untimed(load_status(built, year)[0])
    # ... and the department portal's pages (one snapshot of the publication per page)
    from citycheck.serving.department_portal import clerk_view, office_view

    clerk = {"city_code": "371000", "department_code": "water"}
    on_pg, on_duckdb = clerk_view(settings, clerk, 2023), clerk_view(built, clerk, 2023)
    assert on_pg["indicators"] and on_pg["published_files"]
    for key in ("years", "year", "department", "published_files"):
        assert on_pg[key] == on_duckdb[key], key
    assert untimed((on_pg["status_rows"], on_pg["indicators"])) == untimed(
        (on_duckdb["status_rows"], on_duckdb["indicators"]))
    for year in (2023, 2024):
        office, office_duckdb = (office_view(settings, "371000", year),
                                 office_view(built, "371000", year))
        assert office["rows"] and office["years"] == office_duckdb["years"]
        assert untimed((office["rows"], office["missing"])) == untimed(
            (office_duckdb["rows"], office_duckdb["missing"]))
    assert write_site(settings).pages > 10
    (report,) = [r for r in write_reports(settings, pdf=False) if r.html_path.name ==
                 "371000_2023.html"]
    assert "威海市" in report.html_path.read_text("utf-8")

    # the figure analysts know from the seed documents, through PostgreSQL
    _, rows = pg_rows(pg_database, "select value, target_met from published.mart_indicator_"
                                    "scorecard where indicator_code = 'sewage_treatment_rate_pct'"
                                    " and year = 2020 and district_code = '371003'")
    assert rows == [(97.4, False)]
    # dbt wrote the YAML descriptions on the marts (persist_docs); publish kept them
    _, rows = pg_rows(pg_database, "select obj_description('published.fct_indicator_values'"
                                    "::regclass), col_description('published.fct_indicator_"
                                    "values'::regclass, 1)")
    assert rows[0][0] and rows[0][1]

    # an incremental build on each engine after a correction and a new reporting year: the
    # incremental models' SQL (kept build stamps, new city-years, touched city-years) runs on
    # PostgreSQL too, and both publish the same
    for year, value in (("2023", "97.1"), ("2019", "95.5")):
        rows = [["填报部门", "water"], ["城市", "371000"], ["年度", year], [],
                ["指标代码", "区县名称", "数值"], ["sewage_treatment_rate_pct", "环翠区", value]]
        path = write_csv(tmp_path / f"fix{year}.csv", rows)
        assert ingest_file(path, settings).status == "loaded"
        assert ingest_file(path, built).status == "loaded"
    for engine in (settings, built):   # dbt-duckdb keeps its connection open: DuckDB last
        assert build(engine).full_refresh is False
        assert not validate(engine).failures
        publication = publish(engine)
    assert not _published_differences(built, pg_database, publication)
    _, rows = pg_rows(pg_database, "select year, value from published.fct_indicator_values "
                                    "where indicator_code = 'sewage_treatment_rate_pct' and "
                                    "district_code = '371002' and year in (2019, 2023)")
    assert sorted(rows) == [(2019, 95.5), (2023, 97.1)]
    assert not _duckdb_files(tmp_path / "pg")


def test_a_build_that_fails_on_postgres_leaves_the_publication_as_it_was(on_postgres,
                                                                        pg_database):
    settings = on_postgres
    stage_sample_submissions(settings)
    run_all(settings)
    _, before = pg_rows(pg_database, "select * from published.fct_indicator_values "
                                      "order by value_id")
    assert before

    land_unknown_indicator(settings)
    with pytest.raises(BuildError, match="nothing will be published"):
        build(settings)
    with pytest.raises(PublishRefused, match="failed"):
        publish(settings)
    _, after = pg_rows(pg_database, "select * from published.fct_indicator_values "
                                     "order by value_id")
    assert after == before
