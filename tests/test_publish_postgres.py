"""citycheck publish --target postgres, against the PostgreSQL server on 127.0.0.1:5432."""
import uuid

import pytest

from tests.helpers import pg_admin, query

psycopg2 = pytest.importorskip("psycopg2")


def test_publish_to_postgres_in_one_transaction_with_a_read_only_role(built, pg_database,
                                                                      monkeypatch, capsys):
    from citycheck.cli import main

    role = f"citycheck_reader_{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("CITYCHECK_PG_DSN", pg_database)
    monkeypatch.setenv("CITYCHECK_PG_READER_ROLE", role)
    try:
        assert main(["publish", "--target", "postgres"]) == 0
        assert "copied to PostgreSQL" in capsys.readouterr().out
        expected = dict(query(built.serving_path, "select 'fct_indicator_values', count(*) from "
                                                  "fct_indicator_values"))
        with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
            cur.execute("select count(*), sum(value) from published.fct_indicator_values")
            count, total = cur.fetchone()
            cur.execute("select value, target_met, district_name_zh from "
                        "published.mart_indicator_scorecard where indicator_code = "
                        "'sewage_treatment_rate_pct' and year = 2020 and district_code = '371003'")
            assert cur.fetchone() == (97.4, False, "文登区")
            cur.execute("select count(*) from published.fct_indicator_values where is_missing "
                        "is null or source_cell = ''")
            assert cur.fetchone() == (0,)  # NULLs and empty strings kept apart
            # the descriptions BI tools show, carried from the dbt YAML
            cur.execute("select obj_description('published.fct_indicator_values'::regclass), "
                        "col_description('published.fct_indicator_values'::regclass, 1)")
            table_comment, first_column = cur.fetchone()
            assert table_comment and first_column
            cur.execute("select count(*) filter (where col_description(a.attrelid, a.attnum) "
                        "is null) from pg_attribute a join pg_class c on c.oid = a.attrelid "
                        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = "
                        "'published' and c.relname <> 'publication' and a.attnum > 0 "
                        "and not a.attisdropped and c.relkind in ('r', 'v')")  # not key indexes
            assert cur.fetchone() == (0,)
        assert count == expected["fct_indicator_values"]
        (duck_total,) = query(built.serving_path, "select sum(value) from fct_indicator_values")
        assert total == pytest.approx(duck_total[0])

        reader = pg_database.replace("user=postgres", f"user={role}")
        with psycopg2.connect(reader) as pg, pg.cursor() as cur:
            cur.execute("select count(*) from published.mart_indicator_scorecard")
            assert cur.fetchone()[0] > 1000
        for statement in ("insert into published.dim_year (year) values (1900)",
                          "delete from published.fct_indicator_values",
                          "create table published.mine (x int)"):
            with psycopg2.connect(reader) as pg, pg.cursor() as cur:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)

        # publishing again swaps the whole schema in one go: no leftovers, same counts
        assert main(["publish", "--target", "postgres"]) == 0
        with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
            cur.execute("select count(*) from information_schema.schemata where schema_name "
                        "like 'published%'")
            assert cur.fetchone() == (1,)
            cur.execute("select count(*) from published.fct_indicator_values")
            assert cur.fetchone() == (count,)
    finally:  # roles outlive databases: take this one's grants back, then drop it
        with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", [role])
            if cur.fetchone():
                cur.execute(f"drop owned by {role}")
        admin = pg_admin()
        with admin.cursor() as cur:
            cur.execute(f"drop role if exists {role}")
        admin.close()


def test_an_unreachable_database_is_a_clear_refusal(built, monkeypatch, capsys):
    from citycheck.cli import main

    monkeypatch.setenv("CITYCHECK_PG_DSN", "host=127.0.0.1 port=9 dbname=x user=y password=s3cret "
                                           "connect_timeout=2")
    assert main(["publish", "--target", "postgres"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL" in err and "password=***" in err and "s3cret" not in err


def _schemas(dsn) -> list[str]:
    with psycopg2.connect(dsn) as pg, pg.cursor() as cur:
        cur.execute("select schema_name from information_schema.schemata where schema_name "
                    "like 'published%' order by 1")
        return [r[0] for r in cur.fetchall()]


def test_a_reader_idle_in_a_transaction_neither_blocks_publish_nor_is_blocked(
        built, pg_database, monkeypatch, caplog):
    """A BI session left idle in a transaction on the published tables: publish swaps the
    schema by renaming (no lock on what the reader holds), the reader keeps its rows, the old
    schema is dropped once the reader is gone, and the warning names the reader."""
    import time

    from citycheck.cli import main

    monkeypatch.setenv("CITYCHECK_PG_DSN", pg_database)
    monkeypatch.setenv("CITYCHECK_PG_LOCK_TIMEOUT", "2s")
    assert main(["publish", "--target", "postgres"]) == 0
    reader = psycopg2.connect(pg_database, application_name="bi-dashboard")
    cur = reader.cursor()
    cur.execute("select count(*) from published.fct_indicator_values")
    (rows,) = cur.fetchone()                     # ... and the session stays in its transaction
    started = time.monotonic()
    assert main(["publish", "--target", "postgres"]) == 0
    assert time.monotonic() - started < 30
    assert "bi-dashboard" in caplog.text and f"pid {reader.get_backend_pid()}" in caplog.text
    assert len(_schemas(pg_database)) == 2       # the retired one waits for its reader
    cur.execute("select count(*) from published.fct_indicator_values")
    assert cur.fetchone() == (rows,)
    reader.rollback()
    reader.close()
    assert main(["publish", "--target", "postgres"]) == 0
    assert _schemas(pg_database) == ["published"]


def test_a_publication_over_its_time_limit_changes_nothing(built, pg_database, monkeypatch,
                                                          capsys):
    from citycheck.cli import main

    monkeypatch.setenv("CITYCHECK_PG_DSN", pg_database)
    assert main(["publish", "--target", "postgres"]) == 0
    with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
        cur.execute("select publication_id from published.publication")
        (before,) = cur.fetchone()
    capsys.readouterr()
    monkeypatch.setenv("CITYCHECK_PG_STATEMENT_TIMEOUT", "1ms")
    assert main(["publish", "--target", "postgres"]) == 1
    err = capsys.readouterr().err
    assert "stopped after waiting too long" in err and "still served" in err
    assert "CITYCHECK_PG_STATEMENT_TIMEOUT" in err and "Traceback" not in err
    with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
        cur.execute("select publication_id from published.publication")
        assert cur.fetchone() == (before,)
    assert _schemas(pg_database) == ["published"]


def test_postgres_moves_with_the_publication_and_catches_up_after_a_failure(
        built, pg_database, monkeypatch):
    """With CITYCHECK_PG_DSN set, `citycheck publish` copies the new publication to
    PostgreSQL as its last step; when PostgreSQL cannot take it, the DuckDB outputs move,
    `published` flags PostgreSQL as behind, and `recover` brings it up to date."""
    from tests.faults import cli, served_publication

    unreachable = "host=127.0.0.1 port=9 dbname=x user=y connect_timeout=2"
    failed = cli(built, "publish", env={"CITYCHECK_PG_DSN": unreachable})
    assert failed.returncode == 1 and "PostgreSQL still holds the previous one" in failed.stderr
    new = served_publication(built)

    env = {"CITYCHECK_PG_DSN": pg_database}
    state = cli(built, "published", env=env)
    assert state.returncode == 4 and "DISAGREE" in state.stdout
    recovered = cli(built, "recover", env=env)
    assert recovered.returncode == 0, recovered.stderr
    assert f"PostgreSQL brought up to publication {new}" in recovered.stdout
    assert cli(built, "published", env=env).returncode == 0

    done = cli(built, "publish", env=env)
    assert done.returncode == 0 and "copied to PostgreSQL" in done.stdout, done.stderr
    with psycopg2.connect(pg_database) as pg, pg.cursor() as cur:
        cur.execute("select publication_id from published.publication")
        assert cur.fetchone() == (served_publication(built),) != (new,)
    assert cli(built, "published", env=env).returncode == 0
