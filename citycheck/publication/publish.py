"""Publish the validated marts: one publication, one step for every reader.

What is published is exactly what validation checked: the marts named in
dbt_project/models/marts/_marts__models.yml (never "every table in the schema": a killed
build leaves dbt's swap tables there), and only when their content still has the
fingerprints validation recorded (audit.validated_marts). This module decides whether and
what to publish; the warehouse's engine publishes it all at once (Engine.publish):

- DuckDB: a folder of files per publication (serving DuckDB file and Parquet, only what
  changed written again), switched by one symlink (citycheck/warehouse/files.py);
- PostgreSQL: a schema swapped for `published` in one transaction
  (citycheck/warehouse/pg_publication.py).

A process stopped anywhere is finished by the engine's recover_publication, run at the start
of every publish and by `citycheck recover`. docs/reliability.md lists each fault and the
test that causes it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citycheck.warehouse.audit import (
    AUDIT_DDL,
    BuildIncomplete,
    latest_build,
    refuse_unless_complete,
)
from citycheck.warehouse.files import parquet_location  # noqa: F401 - where readers find a mart
from citycheck.warehouse.marts import (
    MARTS_SCHEMA,
    by_city,
    city_fingerprints,
    fingerprints,
    partition_fingerprints,
    partitioned,
    published_marts,
    years_of,
)
from common.config import Settings
from common.engine import Engine, PublicationRequest, PublishRefused, engine_for

__all__ = ["PublishRefused", "PublishResult", "fingerprints", "parquet_location", "publish",
           "published_marts"]


@dataclass
class PublishResult:
    publication_id: str
    build_id: str
    tables: dict[str, int] = field(default_factory=dict)
    carried: list[str] = field(default_factory=list)   # unchanged since the last publication
    serving_path: Path | None = None
    parquet_dir: Path | None = None


def publish(settings: Settings) -> PublishResult:
    """Publish the latest build if it is complete and validated and its marts are exactly what
    validation saw; otherwise PublishRefused says why, and the publication stays as it was."""
    settings.ensure_dirs()
    engine = engine_for(settings)
    publication_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    tables = published_marts(settings)
    with engine.connect() as con:
        con.execute(AUDIT_DDL)
        engine.recover_publication(con)
        # a mart with a year column is fingerprinted by year, once: its whole fingerprint is
        # the sum of its years', and the years tell the engine which to write again; one
        # with a city column too, by year and city, whose sums are its years' (for an engine
        # that publishes files: the serving file gets only the cities that changed)
        row_hash = engine.row_hash("t")
        cities = {t: city_fingerprints(con, MARTS_SCHEMA, t, row_hash)
                  for t in by_city(con, MARTS_SCHEMA, tables)} if engine.publishes_files else {}
        by_year = {t: years_of(cities[t]) if t in cities else
                   partition_fingerprints(con, MARTS_SCHEMA, t, row_hash)
                   for t in partitioned(con, MARTS_SCHEMA, tables)}
        build_id, marts = _validated_build(con, engine, tables, by_year)
        done = engine.publish(con, PublicationRequest(publication_id, build_id, tables, marts,
                                                      by_year, cities))
    return PublishResult(publication_id, build_id, done.tables, done.carried,
                         done.serving_path, done.parquet_dir)


def _validated_build(con, engine: Engine, tables: list[str], by_year: dict[str, dict]
                     ) -> tuple[str, dict[str, tuple[int, str]]]:
    """(build id, (rows, fingerprint) per mart) of the latest build, if it completed, passed
    validation and its marts still have the fingerprints validation recorded; otherwise
    PublishRefused says why. `by_year`: the per-year fingerprints of the marts that have
    them, from which their whole fingerprints are summed instead of scanned again."""
    try:
        build_id = refuse_unless_complete(latest_build(con), "publish")
    except BuildIncomplete as exc:
        raise PublishRefused(str(exc)) from None
    check = con.execute("select success, report_path, validated_at from audit.validations "
                        "where build_id = ? order by validated_at desc limit 1",
                        [build_id]).fetchone()
    if check is None:
        raise PublishRefused(f"build {build_id} has not been validated: run "
                             "`citycheck validate` first")
    if not check[0]:
        raise PublishRefused(f"build {build_id} failed validation (report: {check[1]}); "
                             "the previous publication stays as it was")
    seen = {t: (int(n), fp) for t, n, fp in con.execute(
        "select table_name, row_count, fingerprint from audit.validated_marts "
        "where build_id = ? and validated_at = ?", [build_id, check[2]]).fetchall()}
    missing = [t for t in tables if t not in seen]
    if missing:
        raise PublishRefused(f"validation of build {build_id} did not record {', '.join(missing)}:"
                             " run `citycheck validate` again")
    now = fingerprints(con, MARTS_SCHEMA, [t for t in tables if t not in by_year],
                       engine.row_hash("t"))
    now.update({t: (sum(n for n, _ in years.values()), str(sum(int(fp) for _, fp in
                                                              years.values())))
                for t, years in by_year.items()})
    changed = [t for t in tables if now[t] != seen[t]]
    if changed:
        raise PublishRefused(f"{', '.join(changed)} changed after build {build_id} was "
                             "validated; nothing was published. Run `citycheck build` and "
                             "`citycheck validate` again")
    return build_id, now
