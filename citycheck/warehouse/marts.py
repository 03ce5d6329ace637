"""The marts a publication holds, and what is said about them: their names (the marts
folder's YAML), fingerprints of their rows, their descriptions (dbt's persist_docs)."""
from __future__ import annotations

from pathlib import Path

from common.config import Settings

MARTS_SCHEMA = "marts"
PUBLISHED_SCHEMA = "published"
PARTITION_COLUMN = "year"
CITY_COLUMN = "city_code"


def published_marts(settings: Settings) -> list[str]:
    """The marts a publication holds: every model documented in the marts folder's YAML."""
    import yaml

    names: set[str] = set()
    for path in sorted((settings.dbt_project_dir / "models" / "marts").glob("*.yml")):
        # libyaml's loader where PyYAML has it: the pure-Python one takes 0.6 s here
        doc = yaml.load(path.read_text(encoding="utf-8"),
                        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        names.update(m["name"] for m in doc.get("models") or [])
    return sorted(names)


def fingerprints(con, schema: str, tables: list[str], row_hash: str = "hash(t)::hugeint"
                 ) -> dict[str, tuple[int, str]]:
    """table -> (rows, fingerprint): the row count and the sum of the rows' hashes
    (`row_hash`, the engine's: Engine.row_hash("t"); DuckDB's unless told). Equal
    fingerprints mean the same rows (as a multiset), whatever their physical order."""
    found = {}
    for t in tables:
        n, total = con.execute(f'select count(*), coalesce(sum({row_hash}), 0) '
                               f'from {schema}."{t}" as t').fetchone()
        found[t] = (int(n), str(total))
    return found


def city_fingerprints(con, schema: str, table: str, row_hash: str
                      ) -> dict[tuple[int | None, str | None], tuple[int, str]]:
    """(year, city) -> (rows, fingerprint) of a mart with both columns: a year's fingerprint
    is the sum of its cities' (fingerprints are sums of row hashes)."""
    return {(y, c): (int(n), str(fp)) for y, c, n, fp in con.execute(
        f'select {PARTITION_COLUMN}, {CITY_COLUMN}, count(*), coalesce(sum({row_hash}), 0) '
        f'from {schema}."{table}" as t group by 1, 2').fetchall()}


def years_of(cities: dict[tuple, tuple[int, str]]) -> dict[int | None, tuple[int, str]]:
    """year -> (rows, fingerprint), summed from city_fingerprints."""
    years: dict[int | None, list[int]] = {}
    for (year, _), (n, fp) in cities.items():
        total = years.setdefault(year, [0, 0])
        total[0] += n
        total[1] += int(fp)
    return {y: (n, str(fp)) for y, (n, fp) in years.items()}


def by_city(con, schema: str, tables: list[str]) -> set[str]:
    """The marts with a year and a city column: a publication rewrites in the serving file
    only the cities of a year that changed."""
    wanted = set(tables)
    return {r[0] for r in con.execute(
        "select table_name from information_schema.columns where table_schema = ? "
        "and column_name in (?, ?) group by 1 having count(*) = 2",
        [schema, PARTITION_COLUMN, CITY_COLUMN]).fetchall() if r[0] in wanted}


def partitioned(con, schema: str, tables: list[str]) -> set[str]:
    """The marts fingerprinted (and, as files, written) by year: those with a year column."""
    wanted = set(tables)
    return {r[0] for r in con.execute(
        "select table_name from information_schema.columns where table_schema = ? "
        "and column_name = ?", [schema, PARTITION_COLUMN]).fetchall() if r[0] in wanted}


def partition_fingerprints(con, schema: str, table: str, row_hash: str
                           ) -> dict[int | None, tuple[int, str]]:
    """year -> (rows, fingerprint) of a mart, as fingerprints() computes them per table."""
    return {y: (int(n), str(fp)) for y, n, fp in con.execute(
        f'select {PARTITION_COLUMN}, count(*), coalesce(sum({row_hash}), 0) '
        f'from {schema}."{table}" as t group by 1').fetchall()}


def sql_path(path: Path) -> str:
    """A file path as a SQL string literal (DuckDB cannot bind ATTACH/COPY targets)."""
    return "'" + str(path).replace("'", "''") + "'"


def literal(text: str) -> str:
    """A SQL string literal (COMMENT ON and COPY options take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def comments(con, schema: str, table: str) -> tuple[str | None, dict[str, str]]:
    """(table comment, column -> comment) of a DuckDB table: the dbt YAML descriptions, which
    dbt writes on the marts (persist_docs) and publish carries to every output."""
    row = con.execute("select comment from duckdb_tables() where database_name = "
                      "current_database() and schema_name = ? and table_name = ?",
                      [schema, table]).fetchone()
    columns = dict(con.execute(
        "select column_name, comment from duckdb_columns() where database_name = "
        "current_database() and schema_name = ? and table_name = ? and comment is not null "
        "order by column_index", [schema, table]).fetchall())
    return (row[0] if row else None), columns


def comment_statements(about: str | None, columns: dict[str, str], target: str) -> list[str]:
    """COMMENT ON statements (DuckDB and PostgreSQL alike) for table `target`."""
    out = [f"comment on table {target} is {literal(about)}"] if about else []
    out += [f'comment on column {target}."{c}" is {literal(text)}'
            for c, text in columns.items()]
    return out
