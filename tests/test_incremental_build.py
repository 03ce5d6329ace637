"""Incremental builds take in only what new files and fetches touch; after any sequence of
submissions, corrections and late files, the warehouse must hold exactly what a full rebuild
from raw makes of the same raw data, table by table."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from citycheck.operations.rounds import close_round, open_round, review
from citycheck.warehouse.build import BuildError, build
from citycheck.warehouse.duckdb import connect
from extract.open_data import fetch_all
from extract.submissions import ingest_file
from tests.helpers import query
from tests.test_intake_real_world import write_csv

ZIBO = "370300"
OFFICE = {"username": "zb_office", "role": "office", "city_code": ZIBO, "department_code": None}
CLERK = {"username": "zb_housing", "role": "clerk", "city_code": ZIBO,
         "department_code": "housing"}
HELD = ("370303", "utility_tunnel_km", 2022)     # the sample's value held for review
EARLY = datetime(2024, 1, 5, 9, 0)     # before the sample's files and fetch: a late file
LATER = datetime(2031, 3, 1, 8, 0)     # after everything: a correction


def _file(path, indicator: str, rows: list[tuple[str, str]], year: str = "2023",
          department: str = "ecology_environment", city: str = "371000"):
    return write_csv(path, [["填报部门", department], ["城市", city], ["年度", year], [],
                            ["指标代码", "区县名称", "数值"],
                            *[[indicator, district, value] for district, value in rows]])


def _snapshot(warehouse) -> dict[str, list]:
    """Every row of every model table (intermediate and marts), as a multiset; all columns
    but built_at and appended_at, the time of the build that wrote the row, which is all
    the full rebuild may change."""
    with connect(warehouse) as con:
        tables = con.execute(
            "select table_schema, table_name, list(column_name) from information_schema.columns "
            "where table_schema in ('intermediate', 'marts') and (table_schema, table_name) in "
            "(select table_schema, table_name from information_schema.tables "
            " where table_type = 'BASE TABLE') group by 1, 2 order by 1, 2").fetchall()
        snap = {}
        for schema, table, columns in tables:
            rest = ", ".join(f'"{c}"' for c in columns if c not in ("built_at", "appended_at"))
            rows = con.execute(f"select {rest} from {schema}.{table}").fetchall()
            snap[f"{schema}.{table}"] = sorted(map(repr, rows))
    return snap


def test_incremental_builds_equal_a_full_rebuild(built, tmp_path):
    assert query(built.warehouse_path, "select full_refresh from audit.builds "
                 "order by started_at desc limit 1") == [(True,)]   # the sample's first build
    air = "air_quality_good_days"
    steps = [
        # a correction of a value already published, and a value for a new district
        lambda: ingest_file(_file(tmp_path / "c1.csv", air, [("环翠区", "301"), ("文登区", "288")]),
                            built, received_at=LATER),
        # a file that arrived late but was sent before the sample: it is an older version
        lambda: ingest_file(_file(tmp_path / "late.csv", air, [("环翠区", "250")]),
                            built, received_at=EARLY),
        # a second correction of the same value, and a year nobody reported before
        lambda: ingest_file(_file(tmp_path / "c2.csv", air, [("环翠区", "305")]),
                            built, received_at=datetime(2031, 4, 1)),
        lambda: ingest_file(_file(tmp_path / "y.csv", air, [("环翠区", "280"), ("荣成市", "290")],
                                  year="2019"), built, received_at=LATER),
        # a district's population changes the city's population-weighted means of every
        # other indicator: partitions the new file does not name
        lambda: ingest_file(_file(tmp_path / "pop.csv", "resident_population_10k",
                                  [("环翠区", "120.5")], department="statistics"),
                            built, received_at=LATER),
        # the base year's population: every per-resident indicator's goalposts move, and
        # with them the index of every year (int_index_goalposts), not only 2019's
        lambda: ingest_file(_file(tmp_path / "pop2019.csv", "resident_population_10k",
                                  [("环翠区", "30.5")], year="2019", department="statistics"),
                            built, received_at=LATER),
    ]
    for step in steps:
        receipt = step()
        assert receipt.status == "loaded", receipt.message
        result = build(built)
        assert not result.full_refresh, result.why

    # the incremental builds did what the files say
    (versions,) = query(built.warehouse_path,
                        "select count(*) from marts.fct_indicator_value_versions where "
                        "indicator_code = ? and district_code = '371002' and year = 2023", [air])
    assert versions[0] >= 4                     # the sample's, the late one, two corrections
    assert query(built.warehouse_path,
                 "select value, revision_count > 0 from marts.fct_indicator_values where "
                 "indicator_code = ? and district_code = '371002' and year = 2023",
                 [air]) == [(305.0, True)]
    assert query(built.warehouse_path,
                 "select value from marts.mart_indicator_scorecard where indicator_code = ? "
                 "and district_code = '371082' and year = 2019", [air]) == [(290.0,)]

    (weighted,) = query(built.warehouse_path, """
        select count(*) from marts.mart_indicator_scorecard
        where is_city_total and year = 2023 and value_basis = 'rollup_population_weighted_mean'
          and value is not null""")
    assert weighted[0] > 0          # the population step had roll-ups to change

    # the last incremental build rewrote only what the population file touched: the other
    # districts' values keep the stamp of an earlier build
    (stamps,) = query(built.warehouse_path, "select count(distinct built_at) from "
                      "marts.fct_indicator_values")
    assert stamps[0] > 1

    _run_the_round(built, tmp_path)

    incremental = _snapshot(built.warehouse_path)
    full = build(built, full_refresh=True)
    assert full.full_refresh and full.why.startswith("asked for")
    rebuilt = _snapshot(built.warehouse_path)
    assert incremental.keys() == rebuilt.keys()
    differ = [t for t in rebuilt if incremental[t] != rebuilt[t]]
    assert not differ, f"incremental and full builds differ in {differ}"


def test_a_changed_project_rebuilds_everything(built, tmp_path):
    """A model or seed changed since the latest successful build: the incremental tables were
    made by other code, so the next build is a full refresh, and the one after is not."""
    import dataclasses
    import shutil

    project = tmp_path / "dbt_project"
    shutil.copytree(built.dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs"))
    seeds = project / "seeds" / "index_weights.csv"
    seeds.write_text(seeds.read_text("utf-8") + "\n", "utf-8")
    changed = dataclasses.replace(built, dbt_project_dir=project)
    first = build(changed)
    assert first.full_refresh and "changed" in first.why
    assert not build(changed).full_refresh


def _round_value(settings, key=HELD) -> tuple:
    """What the office sees of a value of Zibo's 2022 round after the latest build."""
    (row,) = query(settings.warehouse_path,
                   "select value_state, value, pending_value, review_reason from "
                   "marts.mart_round_values where district_code = ? and indicator_code = ? "
                   "and year = ?", list(key))
    return row


def _held_item(settings) -> str:
    (row,) = query(settings.warehouse_path,
                   "select review_item_id from marts.mart_review_queue where district_code = ? "
                   "and indicator_code = ? and year = ?", list(HELD))
    return row[0]


def _run_the_round(settings, tmp_path) -> None:
    """Two rounds, step by step, an incremental build after each: Zibo's held 2022 value
    returned, answered, held again in a corrected file and confirmed; Weihai's 2026 round
    opened early, closed and reopened. A held value has no current version and that round
    has nothing published, so mart_round_values must see these steps in what it compares,
    not only in fct_indicator_values' stamps."""
    def step(action) -> None:
        action()
        result = build(settings)
        assert not result.full_refresh, result.why

    assert _round_value(settings)[0] == "held"
    step(lambda: review(settings, _held_item(settings), "return", OFFICE,
                        "0.49 km after 4.5 last year: a decimal point?"))
    assert _round_value(settings)[0] == "returned"
    assert _round_value(settings)[3].startswith("0.49 km after 4.5")
    step(lambda: review(settings, _held_item(settings), "answer", CLERK,
                        "a section was closed for rebuilding"))
    assert _round_value(settings)[0] == "answered"
    receipt = ingest_file(_file(tmp_path / "housing.csv", "utility_tunnel_km",
                                [("张店区", "3.8")], year="2022", department="housing",
                                city=ZIBO), settings, received_at=LATER)
    assert receipt.status == "loaded", receipt.message
    step(lambda: None)
    state, _, pending, _ = _round_value(settings)
    assert state == "held" and pending == 3.8          # held again: the new item
    step(lambda: review(settings, _held_item(settings), "confirm", OFFICE,
                        "re-measured after the rebuild"))
    assert _round_value(settings)[:2] == ("confirmed", 3.8)
    weihai_office = dict(OFFICE, username="wh_office", city_code="371000")
    (before,) = query(settings.warehouse_path, "select count(*) from "
                      "marts.mart_round_values where city_code = '371000' and year = 2026")
    step(lambda: open_round(settings, "371000", 2026, weihai_office))
    (owed,) = query(settings.warehouse_path, "select count(*) from marts.mart_round_values "
                    "where city_code = '371000' and year = 2026 and value_state = 'owed'")
    assert before[0] == 0 and owed[0] > 200           # owed from the day it opens
    # a round with nothing published, closed and reopened: no value is rewritten, so only
    # the rounds' comparison can tell (a round with values re-versions them as well)
    step(lambda: close_round(settings, "371000", 2026, weihai_office,
                             override="the programme's 2026 round is postponed"))
    assert query(settings.warehouse_path, "select distinct round_closed from "
                 "marts.mart_round_values where city_code = '371000' and year = 2026"
                 ) == [(True,)]
    step(lambda: open_round(settings, "371000", 2026, weihai_office,
                            deadline=date(2031, 6, 30), reason="the round resumes"))
    assert query(settings.warehouse_path, "select distinct round_closed, due_on from "
                 "marts.mart_round_values where city_code = '371000' and year = 2026"
                 ) == [(False, date(2031, 6, 30))]


def test_uniqueness_is_checked_on_the_rows_no_passing_build_has_checked(built):
    """The scoped uniqueness tests (x-untested in the models' YAML) read the rows written
    since the latest successful build finished: a row a killed or failed build wrote is
    checked by every build until one passes, and a row a passing build checked is not read
    again (a build that writes nothing to a model re-reads none of its rows)."""
    table = "intermediate.int_values_expected"
    copy_one = (f"insert into {table} select * replace ({{stamp}} as built_at) from {table} "
                "where city_code = '370300' and year = 2021 and indicator_code = "
                "'utility_tunnel_km' and district_code = '370303'")
    # a value owed twice, stamped after the last passing build: as if a build wrote the
    # same row twice and died before its tests (it stays "running" in audit.builds)
    ((passed,),) = query(built.warehouse_path, "select max(finished_at) from audit.builds "
                         "where status = 'success'")
    stamp = passed + timedelta(seconds=1)
    with connect(built.warehouse_path) as con:
        con.execute("insert into audit.builds (build_id, started_at, status, "
                    "project_fingerprint) select 'killed', ?, 'running', project_fingerprint "
                    "from audit.builds where finished_at = ?", [stamp, passed])
        for _ in range(2):
            con.execute(copy_one.format(stamp="?::timestamp"), [stamp])
    for _ in range(2):          # a failed build checks nothing off: the next one fails too
        with pytest.raises(BuildError) as failed:
            build(built)
        assert "failures" in str(failed.value)
        (failure,) = query(built.warehouse_path, "select failures from audit.builds "
                           "order by started_at desc limit 1")
        assert "unique_combination_of_columns_int_values_expected" in failure[0]
    with connect(built.warehouse_path) as con:
        con.execute(f"delete from {table} where built_at = ?", [stamp])
    assert not build(built).full_refresh                          # and it passes
    # the same two rows stamped as the first build's, which that build checked: not read
    # again, though this build runs the test (every source selected, as before a build ran
    # only what changed sources feed: with nothing landed it would run no node)
    with connect(built.warehouse_path) as con:
        for _ in range(2):
            con.execute(copy_one.format(stamp=f"(select min(built_at) from {table})"))
    result = build(built, select="source:raw+")
    assert not result.full_refresh
    (ran,) = query(built.warehouse_path, "select nodes from audit.builds where build_id = ?",
                   [result.build_id])
    assert ran[0] > 100


def test_values_are_reconciled_where_a_build_changed_them(built, tmp_path):
    """The one-version check (tests/assert_every_accepted_row_is_one_version.sql) and the
    uniqueness of int_observations_unioned read what changed since the latest passing
    build: a new file's record without its cell fails the build, and every build after it
    until it is mended; records a passing build reconciled are not read again (two records
    claiming one cell pass an incremental build) until a full rebuild reads them all."""
    def cell_of(record: int) -> str:
        return query(built.warehouse_path, "select cell from raw.submission_rows where "
                     "file_hash = ? and record_number = ?", [digest, record])[0][0]

    def set_cell(cell: str | None) -> None:
        with connect(built.warehouse_path) as con:
            con.execute("update raw.submission_rows set cell = ? where file_hash = ? and "
                        "record_number = ?", [cell, digest, second])

    def failed() -> str:
        with pytest.raises(BuildError):
            build(built)
        return query(built.warehouse_path, "select failures from audit.builds "
                     "order by started_at desc limit 1")[0][0]

    air = "air_quality_good_days"
    receipt = ingest_file(_file(tmp_path / "c.csv", air, [("环翠区", "301"), ("文登区", "288")]),
                          built, received_at=LATER)
    assert receipt.rows_accepted == 2
    digest = receipt.file_hash
    (first,), (second,) = query(built.warehouse_path, "select record_number from "
                                "raw.submission_rows where file_hash = ? and status = "
                                "'accepted' order by 1", [digest])
    right = cell_of(second)
    set_cell(None)
    # a failed build settles nothing: the next one fails too
    assert "assert_every_accepted_row_is_one_version" in failed()
    assert "assert_every_accepted_row_is_one_version" in failed()
    # what the failed builds appended stays (an appended file is not taken in again):
    # mended at the source, a full rebuild makes it right, and passes
    set_cell(right)
    assert build(built, full_refresh=True).full_refresh
    # reconciled by that build: a mistake made now is not read again (raw rows never change
    # once landed; the checks are of what builds make of them) …
    set_cell(cell_of(first))
    assert not build(built).full_refresh
    # … until a full rebuild rewrites every row and reads them all
    with pytest.raises(BuildError):
        build(built, full_refresh=True)
    (failure,) = query(built.warehouse_path, "select failures from audit.builds "
                       "order by started_at desc limit 1")
    assert "unique_int_observations_unioned_observation_id" in failure[0]
    set_cell(right)


def test_a_build_runs_only_what_the_changed_sources_feed(built):
    """Each build records the raw sources' row counts; the next runs only the models and tests
    downstream of the sources that grew since the latest successful build, and with nothing
    landed (a fetch that brought nothing new is no value) runs no dbt node at all."""
    def surveys():      # a table dbt rebuilds is a new table (create, then rename)
        return query(built.warehouse_path, "select table_oid from duckdb_tables() where "
                     "schema_name = 'marts' and table_name = 'mart_survey_estimates'")

    def rounds():       # incremental: the rows it recomputes get the build's stamp
        return query(built.warehouse_path, "select max(built_at) from marts.mart_round_values")

    before = surveys(), rounds()
    # the daily fetch of a portal that has nothing new: an attempt is recorded, no value
    fetched = query(built.warehouse_path, "select count(*) from raw.open_data_fetches")[0][0]
    assert {r.status for r in fetch_all(built)} <= {"unchanged", "not_modified"}
    assert query(built.warehouse_path,
                 "select count(*) from raw.open_data_fetches")[0][0] > fetched
    idle = build(built)
    assert idle.nodes == 0 and idle.why.startswith("nothing landed"), idle.why
    assert query(built.warehouse_path, "select status, nodes from audit.builds where "
                 "build_id = ?", [idle.build_id]) == [("success", 0)]
    assert (surveys(), rounds()) == before

    review(built, _held_item(built), "return", OFFICE, "0.49 km after 4.5: a decimal point?")
    step = build(built)
    assert step.why.endswith(": value_reviews"), step.why
    assert rounds() > before[1]                 # the reviews feed the round's values
    assert surveys() == before[0]               # not the surveys' estimates
    assert _round_value(built)[0] == "returned"
    # dbt's own record of the build: nothing beside the reviews' descendants ran
    import json
    ran = {r["unique_id"] for r in json.loads((built.data_dir / "dbt" / "target" /
                                               "run_results.json").read_text())["results"]}
    assert "model.citycheck.fct_value_reviews" in ran
    assert not {n for n in ran if "survey" in n or "bulletin" in n}
    assert 0 < step.nodes < 169
