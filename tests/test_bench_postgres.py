"""The PostgreSQL bench at scale S, on the server on 127.0.0.1: the files land and build on
PostgreSQL, then on DuckDB, and every mart the two built is compared row by row; the
databases it made are gone afterwards. No timings are asserted (docs/performance.md)."""
import json
from datetime import datetime

import pytest

from citycheck.devtools.engines import KEYS, differences

psycopg2 = pytest.importorskip("psycopg2")


def _bench_databases() -> set[str]:
    from citycheck.devtools.bench_postgres import _admin

    admin = _admin()
    try:
        with admin.cursor() as cur:
            cur.execute("select datname from pg_database where datname like 'citycheck_bench_%'")
            return {r[0] for r in cur.fetchall()}
    finally:
        admin.close()


def test_the_postgres_bench_compares_every_mart_with_duckdb(tmp_path):
    from citycheck.devtools.bench import SCALES
    from citycheck.devtools.bench_postgres import run_postgres_bench

    before = _bench_databases()
    result = run_postgres_bench("S", [1], workdir=tmp_path / "work",
                                results=tmp_path / "results")
    (run,) = result["runs"]
    assert run["values_landed"] == SCALES["S"].values
    engines = result["engines"]
    assert engines["agree"], engines["differences"]
    assert engines["marts_compared"] == len(KEYS)
    assert engines["rows_compared"] > SCALES["S"].values
    saved = json.loads((tmp_path / "results" / "S-postgres.json").read_text())
    assert saved["engines"] == engines
    assert _bench_databases() == before          # what it made, it dropped; nothing else


def test_what_differs_between_the_engines_is_said_row_and_column():
    columns = ["value_id", "value", "built_at"]
    when = datetime(2026, 12, 7)
    duck = (columns, [("a", 1.0, when), ("b", 2.0, when), ("c", 3.0, None)])
    pg = (columns, [("a", 1.0 + 1e-15, datetime(2026, 12, 8)), ("b", 2.5, when),
                    ("c", 3.0, when), ("d", 4.0, when)])
    found = differences("fct_indicator_values", "value_id", duck, pg)
    # a float equal within 1e-12 and a later build time are the same; the rest is named
    assert sorted(found) == sorted([
        "fct_indicator_values: d only in PostgreSQL",
        "fct_indicator_values b value: DuckDB 2.0, PostgreSQL 2.5",
        f"fct_indicator_values c built_at: DuckDB None, PostgreSQL {when!r}"])
    assert differences("t", "value_id", duck, (["value_id", "value"], [])) == [
        "t: columns differ (DuckDB ['value_id', 'value', 'built_at'], PostgreSQL "
        "['value_id', 'value'])"]
