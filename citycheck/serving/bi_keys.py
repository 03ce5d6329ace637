"""Keys for SQLAlchemy clients of the DuckDB serving file: the `citycheck_keys` plugin.

duckdb-engine 0.17 (the newest in the registry) inherits SQLAlchemy's PostgreSQL reflection,
which finds primary and foreign keys through `pg_catalog.pg_index`. DuckDB lists no index
there, so a BI tool or notebook asking `Inspector.get_pk_constraint` gets none, even for keys a
DuckDB file declares (upstream: Mause/duckdb_engine#594). Where citycheck is installed (an
analyst's notebook, a tool installed beside it), ask for the plugin in the URL:

    duckdb:////path/to/published/citycheck.duckdb?plugin=citycheck_keys
    (with connect_args={"read_only": True}; docs/bi.md)

and the inspector answers with the star schema's keys, the ones PostgreSQL publications
declare: each mart's primary key (the column its dbt tests call unique and not null) and the
joins (its `relationships` tests), citycheck/warehouse/star.py — for the tables in the file.
Keys DuckDB itself declares (`duckdb_constraints()`) are answered too. The serving file
declares none: the index each would build cost a quarter of publication time at bench scale M
(docs/performance.md), and foreign keys would stop a publication from rewriting a dimension.

Registered under SQLAlchemy's `sqlalchemy.plugins` entry points (pyproject.toml). Other
dialects are left as they are.
"""
from __future__ import annotations

import functools

from sqlalchemy.engine import CreateEnginePlugin, default


def _schema(schema: str | None) -> str:
    return schema or "main"


def _tables(connection, schema: str | None) -> set[str]:
    return {r[0] for r in connection.exec_driver_sql(
        "select table_name from duckdb_tables() where schema_name = ? and database_name = "
        "current_database()", (_schema(schema),))}


@functools.lru_cache(maxsize=1)
def _star():
    """The star schema's keys, read once per process (an inspector asks table by table)."""
    from citycheck.warehouse.star import star_keys
    from common.config import DBT_PROJECT_DIR

    return star_keys(DBT_PROJECT_DIR)


def get_pk_constraint(connection, table_name: str, schema: str | None = None, **kw) -> dict:
    row = connection.exec_driver_sql(
        "select constraint_column_names from duckdb_constraints() where constraint_type = "
        "'PRIMARY KEY' and table_name = ? and schema_name = ? and database_name = "
        "current_database()", (table_name, _schema(schema))).fetchone()
    if row:
        return {"constrained_columns": list(row[0]), "name": None}
    keys, _ = _star()
    columns = []
    if table_name in keys and table_name in _tables(connection, schema):
        columns = [keys[table_name]]
    return {"constrained_columns": columns, "name": None}


def get_foreign_keys(connection, table_name: str, schema: str | None = None, **kw) -> list:
    tables = _tables(connection, schema)
    declared = [(list(cols), ref, list(ref_cols)) for cols, ref, ref_cols in
                connection.exec_driver_sql(
                    "select constraint_column_names, referenced_table, "
                    "referenced_column_names from duckdb_constraints() where constraint_type "
                    "= 'FOREIGN KEY' and table_name = ? and schema_name = ? and "
                    "database_name = current_database()", (table_name, _schema(schema)))]
    _, joins = _star()
    declared += [([column], ref, [ref_column]) for mart, column, ref, ref_column in joins
                 if mart == table_name and ref in tables and table_name in tables
                 and ([column], ref, [ref_column]) not in declared]
    return [{"name": f"fk_{table_name}_{'_'.join(cols)}", "constrained_columns": cols,
             "referred_schema": schema, "referred_table": ref, "referred_columns": ref_cols,
             "options": {}} for cols, ref, ref_cols in declared]


class DuckDBKeys(CreateEnginePlugin):
    """`?plugin=citycheck_keys`: key reflection from DuckDB's catalog (see the module)."""

    def update_url(self, url):
        return url     # it takes no URL arguments of its own ("plugin" is SQLAlchemy's)

    def engine_created(self, engine) -> None:
        dialect = engine.dialect
        try:
            from duckdb_engine import Dialect as DuckDBDialect
        except ImportError:         # no duckdb-engine here: no DuckDB engine to help
            return
        if not isinstance(dialect, DuckDBDialect):
            return
        # this engine's dialect only; the multi-table forms call these once per table
        dialect.get_pk_constraint = get_pk_constraint
        dialect.get_foreign_keys = get_foreign_keys
        for name in ("get_multi_pk_constraint", "get_multi_foreign_keys"):
            if hasattr(default.DefaultDialect, name):   # SQLAlchemy 2 (1.4 has no multi forms)
                setattr(dialect, name, functools.partial(getattr(default.DefaultDialect, name),
                                                         dialect))
