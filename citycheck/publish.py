"""Publish the validated marts: write, audit, then publish atomically.

1. Refuse unless the latest build passed validation (audit.builds / audit.validations).
2. Copy every mart into the `published` schema of the warehouse in one transaction.
3. Write a new read-only serving DuckDB file beside the old one and rename it over it
   (readers holding the old file keep reading it; new readers get the new one).
4. Write one Parquet file per mart into a new folder and switch the `parquet` symlink to it.

Readers (BI tools, analysts) never open the warehouse file the pipeline writes.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citycheck.build import AUDIT_DDL, latest_build
from citycheck.config import Settings
from citycheck.warehouse import open_warehouse

MARTS_SCHEMA = "marts"
PUBLISHED_SCHEMA = "published"
KEEP_PARQUET_VERSIONS = 3


class PublishRefused(Exception):
    """Nothing was published. The message says why and what to do."""


@dataclass
class PublishResult:
    publication_id: str
    build_id: str
    tables: dict[str, int] = field(default_factory=dict)
    serving_path: Path | None = None
    parquet_dir: Path | None = None


def mart_tables(con) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = ? "
        "and table_type = 'BASE TABLE' order by table_name", [MARTS_SCHEMA]).fetchall()]


def publish(settings: Settings) -> PublishResult:
    settings.ensure_dirs()
    publication_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    with open_warehouse(settings) as con:
        build_id = _validated_build(con)
        tables = mart_tables(con)
        if not tables:
            raise PublishRefused(f"schema {MARTS_SCHEMA} has no tables to publish")
        result = PublishResult(publication_id, build_id)
        if settings.warehouse_target == "postgres":
            from citycheck.postgres import publish_marts

            result.tables = publish_marts(con, tables)
        else:
            con.execute("begin transaction")
            try:
                con.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
                for t in tables:
                    con.execute(f"create or replace table {PUBLISHED_SCHEMA}.{t} as "
                                f"select * from {MARTS_SCHEMA}.{t}")
                    result.tables[t] = con.execute(
                        f"select count(*) from {PUBLISHED_SCHEMA}.{t}").fetchone()[0]
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
            result.serving_path = _write_serving_copy(con, settings, tables, publication_id,
                                                      build_id)
            result.parquet_dir = _write_parquet(con, settings, tables, publication_id)
        con.execute("insert into audit.publications values (?,?,?,?,?,?,?)",
                    [publication_id, build_id, datetime.now(UTC).replace(tzinfo=None),
                     len(tables), sum(result.tables.values()),
                     str(result.parquet_dir) if result.parquet_dir else None,
                     str(result.serving_path) if result.serving_path else None])
    return result


def _validated_build(con) -> str:
    """The latest build, if it passed validation; otherwise PublishRefused says why."""
    con.execute(AUDIT_DDL)
    build = latest_build(con)
    if build is None:
        raise PublishRefused("nothing has been built yet: run `citycheck build`")
    build_id, status = build
    if status != "success":
        raise PublishRefused(f"the latest build {build_id} failed; the previous "
                             "publication stays as it was. Fix the build and run it again")
    check = con.execute("select success, report_path from audit.validations where "
                        "build_id = ? order by validated_at desc limit 1",
                        [build_id]).fetchone()
    if check is None:
        raise PublishRefused(f"build {build_id} has not been validated: run "
                             "`citycheck validate` first")
    if not check[0]:
        raise PublishRefused(f"build {build_id} failed validation (report: {check[1]}); "
                             "the previous publication stays as it was")
    return build_id


def sql_path(path: Path) -> str:
    """A file path as a SQL string literal (DuckDB cannot bind ATTACH/COPY targets)."""
    return "'" + str(path).replace("'", "''") + "'"


def _write_serving_copy(con, settings: Settings, tables: list[str], publication_id: str,
                        build_id: str) -> Path:
    final = settings.serving_path
    tmp = final.with_name(f".{final.name}.{publication_id}.tmp")
    tmp.unlink(missing_ok=True)
    con.execute(f"attach {sql_path(tmp)} as serving_copy")
    try:
        for t in tables:
            con.execute(f"create table serving_copy.main.{t} as select * from "
                        f"{PUBLISHED_SCHEMA}.{t}")
        con.execute("create table serving_copy.main.publication as select ? as publication_id, "
                    "? as build_id, current_timestamp as published_at",
                    [publication_id, build_id])
    finally:
        con.execute("detach serving_copy")
    os.replace(tmp, final)  # atomic on one file system
    return final


def _write_parquet(con, settings: Settings, tables: list[str], publication_id: str) -> Path:
    root = settings.published_dir
    folder = root / f"parquet-{publication_id}"
    folder.mkdir(parents=True)
    for t in tables:
        con.execute(f"copy {PUBLISHED_SCHEMA}.{t} to {sql_path(folder / (t + '.parquet'))} "
                    "(format parquet)")
    link = root / "parquet"
    tmp_link = root / f".parquet.{publication_id}.tmp"
    tmp_link.symlink_to(folder.name)
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(tmp_link, link)  # readers see the old set or the new set, never a mix
    versions = sorted(p for p in root.glob("parquet-*") if p.is_dir())
    for old in versions[:-KEEP_PARQUET_VERSIONS]:
        shutil.rmtree(old, ignore_errors=True)
    return link


def published_summary(settings: Settings) -> list[tuple[str, int]]:
    """(table, rows) of what BI tools see, read from the serving copy."""
    import duckdb

    if not settings.serving_path.exists():
        return []
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_name <> 'publication' order by 1").fetchall()]
        return [(n, con.execute(f"select count(*) from main.{n}").fetchone()[0]) for n in names]
    finally:
        con.close()
