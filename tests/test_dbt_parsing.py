"""dbt parses the project once, not once per data dir: a new data dir (a bench scale, a test's
warehouse) and a copied or moved one use the project dbt already parsed for another
(citycheck/warehouse/build.py, shared_parse). A whole parse is 2-3 s of CPU in every first
build and freshness check, which was most of the fixed overhead of a small build."""
from citycheck.operations.freshness import table_freshness
from tests.helpers import make_settings

FULL = "Unable to do partial parsing"
PARTIAL = "Partial parsing enabled"


def _what_dbt_parsed(settings) -> list[str]:
    """What dbt's log says of parsing during one dbt invocation (a freshness check) on this
    data dir."""
    log = settings.data_dir / "dbt" / "logs" / "dbt.log"
    start = log.stat().st_size if log.exists() else 0
    table_freshness(settings)
    said = log.read_bytes()[start:].decode("utf-8", "replace")
    return [line[line.find(FULL if FULL in line else PARTIAL):].strip()
            for line in said.splitlines() if FULL in line or PARTIAL in line]


def test_a_new_or_copied_data_dir_does_not_parse_the_project_again(built, tmp_path, portal_url):
    # the sample's warehouse, copied to another folder: its profile is the same
    copied = _what_dbt_parsed(built)
    assert copied and all(line.startswith(PARTIAL) for line in copied), copied
    # a data dir never built: the project dbt parsed for the sample's
    never_built = make_settings(tmp_path / "never built", portal_url=portal_url)
    new = _what_dbt_parsed(never_built)
    assert new and all(line.startswith(PARTIAL) for line in new), new


def test_each_dbt_invocation_reads_its_own_data_dirs_warehouse(built, tmp_path, portal_url):
    """The profile names the warehouse by its file name, the same in every data dir: dbt, run
    in one process for two data dirs, must read each one's own file."""
    sample, _ = table_freshness(built)
    assert {t.table for t in sample} >= {"submission_files", "open_data_fetches"}
    assert all(t.max_loaded_at and t.age_hours is not None for t in sample), sample
    # a warehouse whose raw tables are empty: nothing was ever loaded, whatever the sample's
    # holds (and it says "never", not dbt's year 1)
    never_built = make_settings(tmp_path / "never built", portal_url=portal_url)
    empty, _ = table_freshness(never_built)
    assert empty and all(t.status == "error" and t.max_loaded_at is None
                         and t.age_hours is None for t in empty), empty
    again, _ = table_freshness(built)
    assert [(t.table, t.max_loaded_at) for t in again] == [
        (t.table, t.max_loaded_at) for t in sample]


def test_a_postgres_parse_does_not_cost_duckdb_data_dirs_a_whole_parse(
        built, tmp_path, monkeypatch, pg_database, portal_url):
    """Each dbt target shares its own parsed project: dbt run for the PostgreSQL warehouse
    (another profile) in between does not make a new DuckDB data dir parse everything again.
    Seen in `make test`, with a PostgreSQL test on the other worker."""
    _what_dbt_parsed(built)        # the DuckDB profile's parse is the one shared
    with monkeypatch.context() as pg:
        pg.setenv("CITYCHECK_WAREHOUSE_TARGET", "postgres")
        pg.setenv("CITYCHECK_PG_DSN", pg_database)
        on_postgres = make_settings(tmp_path / "pg", pg, portal_url)
        said = _what_dbt_parsed(on_postgres)
        assert said and said[0].startswith(FULL), said     # another profile: its own parse
    new = _what_dbt_parsed(make_settings(tmp_path / "new", monkeypatch, portal_url))
    assert new and all(line.startswith(PARTIAL) for line in new), new
