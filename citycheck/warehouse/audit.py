"""The audit schema: what each build, validation and publication did, in the warehouse itself
(both engines). Publishing reads it to refuse anything not built whole and validated."""
from __future__ import annotations

AUDIT_DDL = """
create schema if not exists audit;
create table if not exists audit.builds (
    build_id varchar primary key, started_at timestamp, finished_at timestamp,
    status varchar, nodes integer, failures varchar);
-- what the build was made from (models, seeds, dbt version) and whether it rebuilt everything
alter table audit.builds add column if not exists project_fingerprint varchar;
alter table audit.builds add column if not exists full_refresh boolean;
-- how many rows the raw tables held when the build started (raw_row_count): a round is
-- judged on a build that holds everything landed (citycheck/operations/rounds.py)
alter table audit.builds add column if not exists raw_rows bigint;
-- each raw source table's row count and columns when the build started (raw_sources, JSON):
-- the next build runs only what the sources that changed since feed (build.py)
alter table audit.builds add column if not exists raw_sources varchar;
create table if not exists audit.validations (
    build_id varchar, validated_at timestamp, success boolean, checks integer,
    failed integer, report_path varchar);
create table if not exists audit.validated_partitions (
    build_id varchar, validated_at timestamp, suite varchar, suite_key varchar,
    partition_value varchar, fingerprint varchar, checks integer, success boolean,
    reused_from varchar);
create table if not exists audit.publications (
    publication_id varchar primary key, build_id varchar, published_at timestamp,
    tables integer, total_rows bigint, parquet_dir varchar, serving_path varchar);
-- What validation saw: one fingerprint per published mart (row count and the sum of row
-- hashes). Publishing compares the marts against it: what is served is what was checked.
create table if not exists audit.validated_marts (
    build_id varchar, validated_at timestamp, table_name varchar, row_count bigint,
    fingerprint varchar);
-- What each publication holds, by the same fingerprints: the next publication carries a
-- mart over from this one, instead of writing it again, when its fingerprint is unchanged.
create table if not exists audit.publication_marts (
    publication_id varchar, table_name varchar, row_count bigint, fingerprint varchar,
    carried_from varchar);
-- The same per year, for the marts with a year column: the next publication writes again
-- only the years whose fingerprint changed.
create table if not exists audit.publication_years (
    publication_id varchar, table_name varchar, year integer, row_count bigint,
    fingerprint varchar);
-- And per year and city, for the marts with both columns: the serving file's table gets
-- again only the cities of a year that changed (a city's re-submission at national scale
-- rewrote its year for every city). Kept for the publications on disk only
-- (files.py, _clean): only the latest is ever read.
create table if not exists audit.publication_cities (
    publication_id varchar, table_name varchar, year integer, city_code varchar,
    row_count bigint, fingerprint varchar);
"""


# Raw tables only grow: their total row count says whether anything landed since a build began.
RAW_COUNTED = ("submission_files", "open_data_fetches", "value_reviews")

# The rows of a raw table that feed a model, where not all of them do. A fetch that brought
# nothing new (unchanged, not_modified, failed) is an attempt: `citycheck freshness` reads it,
# no model does (the readers of stg_raw__open_data_fetches take its loaded fetches, or join
# their observations). So the daily fetch of an unchanged portal neither makes the next
# build run the open-data models nor has validation say that something landed after its
# build. Such rows are still checked (the staging tests read the whole table) by the next
# build that a loaded fetch makes run them.
FEEDING_ROWS = {"open_data_fetches": "status = 'loaded'"}


def _count(table: str) -> str:
    where = FEEDING_ROWS.get(table)
    return f"(select count(*) from raw.{table}{f' where {where}' if where else ''})"


def raw_row_count(con) -> int:
    counts = " + ".join(_count(t) for t in RAW_COUNTED)
    return int(con.execute(f"select {counts}").fetchone()[0])


def raw_sources(con, tables: list[str]) -> dict[str, list]:
    """Each raw table's count of the rows that feed a model (FEEDING_ROWS) and a digest of its
    columns (name and type, in order): raw tables only grow, so what a table feeds changed
    since an earlier look exactly when one of the two differs (a migration changes the
    columns, not the count). Two statements, whatever the number of tables."""
    import hashlib

    if not tables:
        return {}
    counts = con.execute("select " + ", ".join(_count(t) for t in tables)).fetchone()
    columns: dict[str, list[str]] = {t: [] for t in tables}
    for table, column, kind in con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' order by table_name, ordinal_position").fetchall():
        if table in columns:
            columns[table].append(f"{column} {kind}")
    return {t: [int(n), hashlib.sha256("\n".join(columns[t]).encode()).hexdigest()[:12]]
            for t, n in zip(tables, counts, strict=True)}


def arrived_since(con, build_id: str) -> bool:
    """Whether files, loaded fetches or review steps landed after the build began (what it
    was built from is no longer all there is; a fetch that brought nothing new does not
    count: FEEDING_ROWS)."""
    con.execute(AUDIT_DDL)
    row = con.execute("select raw_rows from audit.builds where build_id = ?",
                      [build_id]).fetchone()
    return row is not None and row[0] is not None and raw_row_count(con) != row[0]


def unbuilt(con) -> bool:
    """Whether the raw tables hold rows landed after the latest build began: a landing whose
    asset event was lost (a file taken in by hand, or an intake killed after its commit) still
    needs a build. False before the first build (the first landings announce themselves)."""
    build = latest_build(con)
    return build is not None and arrived_since(con, build[0])


class BuildIncomplete(Exception):
    """The latest build did not complete: nothing can be validated or published from it."""


def latest_build(con) -> tuple[str, str] | None:
    """(build_id, status) of the build that last started: success, failed, or running (still
    going, or killed before it finished)."""
    con.execute(AUDIT_DDL)
    return con.execute("select build_id, status from audit.builds "
                       "order by started_at desc limit 1").fetchone()


def refuse_unless_complete(build: tuple[str, str] | None, action: str) -> str:
    """The latest build's id if it completed; else a one-line reason why `action` cannot go
    on (raised as BuildIncomplete)."""
    if build is None:
        raise BuildIncomplete(f"nothing has been built yet, so nothing to {action}: run "
                              "`citycheck build`")
    build_id, status = build
    if status == "running":
        raise BuildIncomplete(f"build {build_id} did not finish (it is still running, or it was "
                              f"stopped half-way), so nothing to {action}; the previous "
                              "publication stays as it was. Run `citycheck build`")
    if status != "success":
        raise BuildIncomplete(f"the latest build {build_id} failed, so nothing to {action}; the "
                              "previous publication stays as it was. Fix the build and run "
                              "it again")
    return build_id
