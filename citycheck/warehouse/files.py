"""The DuckDB engine's publication: a folder of files, switched by one symlink.

A publication moves every output together. On disk everything a reader opens lives in one
folder per publication, and one symlink says which is current:

    published/publications/<id>/citycheck.duckdb     the read-only serving copy
    published/publications/<id>/parquet/<mart>.parquet            a mart without a year column
    published/publications/<id>/parquet/<mart>/year=<year>/data0.parquet   one with: by year
    published/current -> publications/<id>          switched by one atomic rename
    published/citycheck.duckdb -> current/citycheck.duckdb   (stable paths for readers)
    published/parquet -> current/parquet

1. stage: write the new publication's folder under a temporary name, then rename it. Only
   what changed is written: a mart whose fingerprint equals the one in the previous
   publication (audit.publication_marts) is carried over — its Parquet file hard-linked, its
   table kept in a copy of the previous serving file — and of a changed mart with a year
   column only the years whose fingerprint changed (audit.publication_years) are written,
   and in the serving file, of a mart with a city column too, only the cities of those
   years whose fingerprint changed (audit.publication_cities), so re-publishing after one
   file's correction rewrites what it changed, not the whole warehouse;
2. commit: in one warehouse transaction, add the audit.publications row and the marts'
   fingerprints. This is the point of no return;
3. switch: point `current` at the new folder (readers holding the old files keep reading
   them; new readers get the new ones, the DuckDB file and the Parquet set alike);
4. clean up: staged folders that were never committed, and all but the last few
   publications.

A process stopped anywhere is finished by `recover_publication` (run at the start of every
publish and by `citycheck recover`; `citycheck published` only reports): before the commit it
removes the
staged folder (rolled back), after it it switches to the committed publication (rolled
forward). docs/reliability.md lists each fault and the test that causes it.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from citycheck.warehouse.audit import AUDIT_DDL
from citycheck.warehouse.marts import (
    CITY_COLUMN,
    MARTS_SCHEMA,
    PARTITION_COLUMN,
    PUBLISHED_SCHEMA,
    comment_statements,
    comments,
    literal,
    partition_fingerprints,
    partitioned,
    published_marts,
    sql_path,
)
from citycheck.warehouse.star import VIEW_COMMENTS, VIEWS
from common.config import Settings
from common.engine import PublicationOutcome, PublicationRequest, PublishRefused
from common.faults import crash_point, fail_point

log = logging.getLogger(__name__)
KEEP_PUBLICATIONS = 3
ROW_HASH = "hash(t)::hugeint"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"     # where DuckDB puts rows without a year


def _first_line(exc: BaseException) -> str:
    """The cause in a user's words: DuckDB's class prefix ("TransactionContext Error: Failed to
    commit: ") dropped, the file and the system's reason kept."""
    import re

    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    line = re.sub(r"^[A-Za-z]+ Error: (Failed to commit: )?", "", line)
    # DuckDB's structured form ("Async write failed for range …: {"exception_message": …}"):
    # its message alone
    found = re.search(r"\{\s*\"exception_type\".*\}\s*$", line)
    if found:
        try:
            line = json.loads(found.group(0)).get("exception_message") or line
        except ValueError:
            pass
    return line


def _space_hint(exc: BaseException, settings, device: Path | None = None) -> str:
    """What to do when the cause is a full disk: which device (the warehouse's unless
    named), and to free space there."""
    if "No space left on device" not in str(exc) and getattr(exc, "errno", None) != 28:
        return ""
    device = device or settings.warehouse_path.parent
    return (f". The disk holding {device} is full: free space there (or point "
            "CITYCHECK_DATA_DIR at a larger disk) and run `citycheck publish` again")


def publish_files(con, settings, request: PublicationRequest) -> PublicationOutcome:
    """Steps 1-4 above for the validated marts of `request` (con: the warehouse file)."""
    publication_id, build_id, tables = request.publication_id, request.build_id, request.tables
    marts, by_year, cities = request.marts, request.by_year, request.by_city
    result = PublicationOutcome({t: marts[t][0] for t in tables})
    previous = _previous(con, settings)
    result.carried = [t for t in tables if previous and previous[1].get(t) == marts[t]]
    folder, years = _stage(con, settings, MARTS_SCHEMA, tables, publication_id, build_id,
                           previous[0] if previous else None, result.carried, by_year,
                           cities)
    crash_point("publish.staged")
    con.execute("begin transaction")
    try:
        # the full copy kept in the warehouse before publications had folders: nobody
        # reads it, the serving file and Parquet are the publication
        con.execute(f"drop schema if exists {PUBLISHED_SCHEMA} cascade")
        con.execute("insert into audit.publications values (?,?,?,?,?,?,?)",
                    [publication_id, build_id, datetime.now(UTC).replace(tzinfo=None),
                     len(tables), sum(result.tables.values()),
                     str(folder / "parquet"), str(folder / "citycheck.duckdb")])
        con.executemany("insert into audit.publication_marts values (?,?,?,?,?)",
                        [[publication_id, t, n, fp,
                          previous[0] if t in result.carried else None]
                         for t, (n, fp) in marts.items()])
        _record_years(con, publication_id, years, previous[0] if previous else None,
                      result.carried)
        _record_cities(con, publication_id, cities, previous[0] if previous else None,
                       result.carried)
        fail_point("publish.commit")
        crash_point("publish.in_transaction")
        con.execute("commit")
    except Exception as exc:
        import duckdb

        try:
            con.execute("rollback")
        except duckdb.Error:
            pass        # a commit that failed (a full disk) has ended the transaction itself
        shutil.rmtree(folder, ignore_errors=True)
        raise PublishRefused(f"the publication could not be recorded ({_first_line(exc)}); "
                             f"nothing changed, the previous publication is still served"
                             f"{_space_hint(exc, settings)}") from exc
    crash_point("publish.committed")
    try:
        fail_point("publish.switch")
        _switch(settings, publication_id)
    except OSError as exc:
        raise PublishRefused(
            f"publication {publication_id} is recorded but readers could not be switched "
            f"to it ({exc}); they still see the previous one. Free the space and run "
            "`citycheck recover`") from exc
    crash_point("publish.switched")
    try:
        mirror(settings, publication_id)
    except Exception as exc:   # noqa: BLE001 - any failure of the remote store, reported
        raise PublishRefused(
            f"publication {publication_id} is served here, but copying its Parquet to "
            f"{settings.storage('published').shown()} failed ({str(exc).splitlines()[0]}); "
            "readers there keep the previous one. `citycheck recover` copies it") from exc
    _clean(con, settings)
    result.serving_path = settings.serving_path
    result.parquet_dir = settings.published_dir / "parquet"
    return result


def _previous(con, settings: Settings) -> tuple[str, dict[str, tuple[int, str]]] | None:
    """(id, fingerprints of its marts) of the last committed publication, when its folder is
    there to carry marts over from."""
    row = con.execute("select publication_id from audit.publications "
                      "order by published_at desc limit 1").fetchone()
    if row is None or not (_publications(settings) / row[0] / "citycheck.duckdb").is_file():
        return None
    return row[0], {t: (int(n), fp) for t, n, fp in con.execute(
        "select table_name, row_count, fingerprint from audit.publication_marts "
        "where publication_id = ?", [row[0]]).fetchall()}


def _publications(settings: Settings) -> Path:
    return settings.published_dir / "publications"


def _stage(con, settings: Settings, schema: str, tables: list[str], publication_id: str,
           build_id: str, previous: str | None = None, carried: list[str] = (),
           by_year: dict[str, dict] | None = None, cities: dict[str, dict] | None = None
           ) -> tuple[Path, dict[str, dict]]:
    """Write the publication's folder (serving copy and Parquet set) under a temporary name,
    then rename it to its own: a folder named for a publication is always complete. Marts in
    `carried` are unchanged since publication `previous`: the serving file starts as a copy of
    that one's and their Parquet files are hard links to its files. A mart with a year column
    is written by year (PARTITION_COLUMN; `by_year` holds its per-year fingerprints, computed
    here when not given): of a changed one, only the years whose content
    changed are written again, in the serving file (delete and insert) and in Parquet
    (parquet/<mart>/year=<year>/data0.parquet); the other years are the previous
    publication's. A mart with a city column too (`cities`: its fingerprints by year and
    city) gets in the serving file only the cities of a year that changed.
    Returns the folder and, per mart written by year, what each year holds
    (for audit.publication_years). On any error the temporary folder is removed and
    PublishRefused says what failed."""
    root = _publications(settings)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{publication_id}.tmp"
    final = root / publication_id
    shutil.rmtree(tmp, ignore_errors=True)
    before = root / previous if previous else None
    carried = set(carried) if before else set()
    try:
        # each rewritten mart's descriptions, read once for the serving file and its Parquet
        described = {t: comments(con, schema, t) for t in tables if t not in carried}
        if by_year is None:
            by_year = {t: partition_fingerprints(con, schema, t, ROW_HASH)
                       for t in partitioned(con, schema, tables)}
        years = {t: y for t, y in by_year.items() if t not in carried}
        # the years of a changed mart that the previous publication already holds as they are
        kept = _kept_years(con, previous, before, years) if before else {}
        # and, of its other years, the cities whose rows it holds as they are
        kept_cities = _kept_cities(con, previous, {t: c for t, c in (cities or {}).items()
                                                   if t not in carried}, kept) if before else {}
        (tmp / "parquet").mkdir(parents=True)
        serving = tmp / "citycheck.duckdb"
        if carried or any(kept.values()) or any(kept_cities.values()):
            shutil.copyfile(before / "citycheck.duckdb", serving)
        con.execute(f"attach {sql_path(serving)} as serving_copy")
        try:
            there = {r[0] for r in con.execute(
                "select table_name from information_schema.tables where table_catalog = "
                "'serving_copy' and table_type = 'BASE TABLE'").fetchall()}
            for t in tables:
                if t in carried:
                    continue
                order = _serving_order(con, schema, t)
                if t in there and (kept.get(t) or kept_cities.get(t)) and \
                        _same_columns(con, schema, t):
                    # only the years (and of them the cities) that changed: out with the old
                    # rows, in with the new
                    stale = _stale_rows(con, kept.get(t, set()), kept_cities.get(t, set()))
                    con.execute(f'delete from serving_copy.main."{t}" as s where {stale}')
                    con.execute(f'insert into serving_copy.main."{t}" select * from '
                                f'{schema}."{t}" as s where {stale}{order}')
                    con.execute("drop table if exists kept_cities")
                else:
                    kept.pop(t, None)
                    con.execute(f'drop table if exists serving_copy.main."{t}"')
                    con.execute(f"create table serving_copy.main.{t} as "
                                f"select * from {schema}.{t}{order}")
                for statement in comment_statements(*described[t],
                                                    f"serving_copy.main.{t}"):
                    con.execute(statement)
            for t in there - set(tables):
                con.execute(f'drop table serving_copy.main."{t}"')
            if "mart_indicator_scorecard" in tables:
                # district rows and city totals apart, for BI sums (citycheck/warehouse/star.py)
                for view, sql in VIEWS.items():
                    con.execute(f"create or replace view serving_copy.main.{view} as {sql}")
                    con.execute(f"comment on view serving_copy.main.{view} is "
                                f"{literal(VIEW_COMMENTS[view])}")
                    for column, text in con.execute(
                            "select column_name, comment from duckdb_columns() where "
                            "database_name = 'serving_copy' and table_name = "
                            "'mart_indicator_scorecard' and comment is not null").fetchall():
                        con.execute(f"comment on column serving_copy.main.{view}.{column} is "
                                    f"{literal(text)}")
            # SQLAlchemy's PostgreSQL reflection, which duckdb-engine 0.17 inherits, casts to
            # REGCLASS when a BI tool asks for keys: with the name defined, the question gets
            # an answer (no keys: DuckDB's pg_catalog lists no indexes) instead of an error
            con.execute("create type if not exists serving_copy.main.regclass as varchar")
            con.execute("create table serving_copy.main.publication as select ? as "
                        "publication_id, ? as build_id, current_timestamp as published_at",
                        [publication_id, build_id])
        finally:
            con.execute("detach serving_copy")
        # read-only on disk: a reader whose URL forgot read_only gets "permission denied"
        # instead of a write lock that shuts every other reader out (not for root, whom
        # file modes do not bind: docs/analysts.md)
        serving.chmod(0o444)
        fail_point("publish.serving")
        crash_point("publish.staged_serving")
        for t in tables:
            _write_parquet(con, schema, t, tmp / "parquet", before, t in carried,
                           t in by_year, kept.get(t, set()), described)
        fail_point("publish.parquet")
        os.replace(tmp, final)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        what = getattr(exc, "strerror", None) or _first_line(exc)
        raise PublishRefused(f"could not write publication {publication_id} under "
                             f"{root} ({what}); nothing changed, the previous publication is "
                             f"still served{_space_hint(exc, settings, root)}") from exc
    return final, years


def parquet_location(folder: Path, table: str) -> Path:
    """What to read for a mart in a Parquet folder: its file, or the files of its years."""
    single = folder / f"{table}.parquet"
    return single if single.exists() else folder / table / "*" / "*.parquet"


def _partition_dir(year: int | None) -> str:
    return f"{PARTITION_COLUMN}={NULL_PARTITION if year is None else year}"


def _in_years(years: set[int]) -> str:
    listed = ", ".join(str(int(y)) for y in sorted(years))
    return f"coalesce({PARTITION_COLUMN} in ({listed}), false)"


def _kept_years(con, previous: str, before: Path,
                years: dict[str, dict]) -> dict[str, set[int]]:
    """Per mart written by year: the years whose rows the previous publication holds
    unchanged (same fingerprint, its Parquet file there to link). Rows without a year are
    always written again."""
    earlier: dict[str, dict] = {}
    for t, y, n, fp in con.execute(
            "select table_name, year, row_count, fingerprint from audit.publication_years "
            "where publication_id = ?", [previous]).fetchall():
        earlier.setdefault(t, {})[y] = (int(n), fp)
    return {t: {y for y, fp in now.items() if y is not None and earlier.get(t, {}).get(y) == fp
                and (before / "parquet" / t / _partition_dir(y) / "data0.parquet").is_file()}
            for t, now in years.items()}


def _kept_cities(con, previous: str | None, cities: dict[str, dict],
                 kept: dict[str, set[int]]) -> dict[str, set[tuple[int, str]]]:
    """Per changed mart with a city column: the (year, city) pairs, in years not kept whole,
    whose rows the previous publication holds unchanged (same fingerprint). A year or city
    that is null is never among them: its rows are always written again."""
    if not previous or not cities:
        return {}
    earlier: dict[str, dict] = {}
    for t, y, c, n, fp in con.execute(
            "select table_name, year, city_code, row_count, fingerprint from "
            "audit.publication_cities where publication_id = ? and table_name in "
            "(select unnest(?))", [previous, list(cities)]).fetchall():
        earlier.setdefault(t, {})[(y, c)] = (int(n), fp)
    return {t: {(y, c) for (y, c), fp in now.items()
                if y is not None and c is not None and y not in kept.get(t, set())
                and earlier.get(t, {}).get((y, c)) == fp}
            for t, now in cities.items() if t in earlier}


def _stale_rows(con, kept: set[int], kept_cities: set[tuple[int, str]]) -> str:
    """SQL on the rows `s` of a mart: those to write again, not in a kept year nor of a kept
    (year, city) (registered as the temporary table kept_cities)."""
    stale = f"not {_in_years(kept)}" if kept else "true"
    if kept_cities:
        con.execute(f"create or replace temp table kept_cities ({PARTITION_COLUMN} integer, "
                    f"{CITY_COLUMN} varchar)")
        con.executemany("insert into kept_cities values (?, ?)", sorted(kept_cities))
        stale += (f" and not exists (select 1 from kept_cities as k where "
                  f"k.{PARTITION_COLUMN} = s.{PARTITION_COLUMN} and "
                  f"k.{CITY_COLUMN} = s.{CITY_COLUMN})")
    return stale


# The serving file's rows in the order its readers ask for them: a report reads one city's
# years, a page one city's rows. DuckDB skips each row group (122,880 rows) whose minimum and
# maximum of a filtered column rule it out, so in this order a city's report reads the row
# groups holding that city, not the whole country's (the marts come out of dbt in no order).
SERVING_ORDER = (PARTITION_COLUMN, "city_code")


def _serving_order(con, schema: str, table: str) -> str:
    """' order by year, city_code', of those columns the mart has ('' for none)."""
    here = con.execute("select current_database()").fetchone()[0]
    present = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_catalog = ? and "
        "table_schema = ? and table_name = ?", [here, schema, table]).fetchall()}
    keys = [c for c in SERVING_ORDER if c in present]
    return f" order by {', '.join(keys)}" if keys else ""


def _same_columns(con, schema: str, table: str) -> bool:
    """The serving copy's table has the mart's columns, in order, with their types."""
    def columns(catalog: str, in_schema: str) -> list[tuple]:
        return con.execute(
            "select column_name, data_type from information_schema.columns where "
            "table_catalog = ? and table_schema = ? and table_name = ? "
            "order by ordinal_position", [catalog, in_schema, table]).fetchall()
    here = con.execute("select current_database()").fetchone()[0]
    return columns("serving_copy", "main") == columns(here, schema)


def _write_parquet(con, schema: str, t: str, folder: Path, before: Path | None,
                   carried: bool, by_year: bool, kept: set[int], described: dict) -> None:
    """A mart's Parquet: carried over whole, or written whole, or written by year with the
    kept years linked from the previous publication."""
    source = (before / "parquet") if before else None
    if carried and source is not None:
        if (source / f"{t}.parquet").is_file():
            _carry(source / f"{t}.parquet", folder / f"{t}.parquet")
            return
        if (source / t).is_dir():
            for old in (source / t).glob("*/*.parquet"):
                (folder / t / old.parent.name).mkdir(parents=True, exist_ok=True)
                _carry(old, folder / t / old.parent.name / old.name)
            return
    about, columns = described.get(t) or comments(con, schema, t)
    metadata = (f"kv_metadata {{description: {literal(about or '')}, column_descriptions: "
                f"{literal(json.dumps(columns, ensure_ascii=False))}}}")
    if not by_year:
        con.execute(f"copy {schema}.{t} to {sql_path(folder / (t + '.parquet'))} "
                    f"(format parquet, {metadata})")
        return
    target = folder / t
    target.mkdir()
    rows = f"select * from {schema}.{t}" + (f" where not {_in_years(kept)}" if kept else "")
    con.execute(f"copy ({rows}) to {sql_path(target)} (format parquet, partition_by "
                f"({PARTITION_COLUMN}), write_partition_columns true, overwrite_or_ignore, "
                f"filename_pattern 'data', {metadata})")
    for year in kept:
        (target / _partition_dir(year)).mkdir()
        _carry(source / t / _partition_dir(year) / "data0.parquet",
               target / _partition_dir(year) / "data0.parquet")
    if not any(target.iterdir()):       # no rows at all: one empty file keeps the columns
        (target / _partition_dir(None)).mkdir()
        con.execute(f"copy (select * from {schema}.{t} limit 0) to "
                    f"{sql_path(target / _partition_dir(None) / 'data0.parquet')} "
                    f"(format parquet, {metadata})")


def _record_years(con, publication_id: str, years: dict[str, dict], previous: str | None,
                  carried: list[str]) -> None:
    """What each year of the marts written by year holds, for the next publication to keep
    what did not change: the years written now, and those of marts carried over whole."""
    rows = [[publication_id, t, y, n, fp] for t, now in years.items()
            for y, (n, fp) in now.items()]
    if rows:
        con.executemany("insert into audit.publication_years values (?,?,?,?,?)", rows)
    if previous and carried:
        con.execute("insert into audit.publication_years select ?, table_name, year, "
                    "row_count, fingerprint from audit.publication_years where "
                    "publication_id = ? and table_name in (select unnest(?))",
                    [publication_id, previous, list(carried)])


def _record_cities(con, publication_id: str, cities: dict[str, dict], previous: str | None,
                   carried: list[str]) -> None:
    """What each year and city of the marts with both columns holds, as _record_years."""
    rows = [[publication_id, t, y, c, n, fp] for t, now in cities.items() if t not in carried
            for (y, c), (n, fp) in now.items()]
    if rows:
        import pandas as pd

        con.register("publication_city_rows", pd.DataFrame(rows, columns=[
            "publication_id", "table_name", "year", "city_code", "row_count", "fingerprint"]))
        con.execute("insert into audit.publication_cities by name "
                    "select * from publication_city_rows")
        con.unregister("publication_city_rows")
    if previous and carried:
        con.execute("insert into audit.publication_cities select ?, table_name, year, "
                    "city_code, row_count, fingerprint from audit.publication_cities where "
                    "publication_id = ? and table_name in (select unnest(?))",
                    [publication_id, previous, list(carried)])


def _carry(source: Path, target: Path) -> None:
    """The previous publication's file, unchanged: a hard link (no copy, no space), or a copy
    where the file system has none. Parquet files are never written in place, so a link
    shares nothing that can change."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _switch(settings: Settings, publication_id: str) -> None:
    """Point `current` at the publication, and make sure the stable reader paths go through
    `current` (a warehouse published before publications had folders has plain files
    there). Each step is one rename: readers see the old publication or the new one."""
    root = settings.published_dir
    _link(root / "current", f"publications/{publication_id}")
    _link(root / "citycheck.duckdb", "current/citycheck.duckdb")
    parquet = root / "parquet"
    if parquet.exists() and not parquet.is_symlink():
        shutil.rmtree(parquet)
    _link(parquet, "current/parquet")


def _link(path: Path, target: str) -> None:
    if path.is_symlink() and os.readlink(path) == target:
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.link")
    tmp.symlink_to(target)
    os.replace(tmp, path)


def mirror(settings: Settings, publication_id: str) -> None:
    """With CITYCHECK_STORAGE_URL, the publication's Parquet set goes there too, for readers
    on other machines: publications/<id>/parquet/… first, then the object `current` (the id)
    is replaced, in one put. Readers that follow `current` see a whole publication. Writing a
    file that is there already is skipped, so this finishes what an interrupted call left
    (recover_publication calls it)."""
    if not settings.storage_url:
        return
    remote = settings.storage("published")
    if remote.exists("current") and remote.read_text("current").strip() == publication_id:
        return
    remote.put_tree(_publications(settings) / publication_id / "parquet",
                    f"publications/{publication_id}/parquet")
    remote.write_text("current", publication_id + "\n")


def current_publication(settings: Settings) -> str | None:
    """The publication readers get now: the folder `current` points at."""
    link = settings.published_dir / "current"
    return Path(os.readlink(link)).name if link.is_symlink() else None


def recover_publication(con, settings: Settings) -> str | None:
    """Finish or undo a publication a stopped process left half-done: the last committed
    publication (audit.publications) is what readers must get; its folder is switched to
    (rebuilt from the `published` schema of a warehouse published before publications had
    folders, if it is missing), and whatever was staged but never
    committed is removed. Returns the committed publication id, if any."""
    con.execute(AUDIT_DDL)
    row = con.execute("select publication_id, build_id from audit.publications "
                      "order by published_at desc limit 1").fetchone()
    if row is not None:
        publication_id, build_id = row
        if not (_publications(settings) / publication_id).is_dir():
            have = {r[0] for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [PUBLISHED_SCHEMA]).fetchall()}
            tables = [t for t in published_marts(settings) if t in have]
            if tables:
                log.warning("publication %s has no folder; writing it again from the "
                            "warehouse's published schema", publication_id)
                _stage(con, settings, PUBLISHED_SCHEMA, tables, publication_id, build_id)
        if (_publications(settings) / publication_id).is_dir():
            _switch(settings, publication_id)
            mirror(settings, publication_id)
    _clean(con, settings)
    return row[0] if row else None


def _clean(con, settings: Settings) -> None:
    """Remove staged folders never committed, the files of the layout before publication
    folders, and all but the last KEEP_PUBLICATIONS publications (a reader that opened an
    older one keeps its open files)."""
    root = _publications(settings)
    committed = [r[0] for r in con.execute(
        "select publication_id from audit.publications order by published_at desc").fetchall()]
    keep = set(committed[:KEEP_PUBLICATIONS]) | {current_publication(settings)}
    # the per-city fingerprints serve the next publication only (every publication's by
    # year and by mart stay in the audit)
    con.execute("delete from audit.publication_cities where publication_id not in "
                "(select unnest(?::varchar[]))", [sorted(k for k in keep if k)])
    if root.is_dir():
        for path in root.iterdir():
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)
    published = settings.published_dir
    for pattern in (".citycheck.duckdb.*.tmp", ".citycheck.duckdb.*.tmp.wal", ".parquet.*.tmp",
                    ".*.link", "parquet-*"):
        for path in published.glob(pattern):
            if path.is_symlink() or path.is_file():
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)


def published_summary(settings: Settings) -> list[tuple[str, int]]:
    """(table, rows) of what BI tools see, read from the serving copy."""
    from citycheck.warehouse.reader import open_reader

    if not settings.serving_path.exists():
        return []
    con = open_reader(settings.serving_path)
    try:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_name <> 'publication' and table_type = 'BASE TABLE' order by 1"
        ).fetchall()]
        return [(n, con.execute(f"select count(*) from main.{n}").fetchone()[0]) for n in names]
    finally:
        con.close()
