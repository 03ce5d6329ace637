"""The seam between citycheck's steps and the database the warehouse lives in.

Every step talks to the warehouse through one `Engine`, made once from configuration
(`engine_for(settings)`, CITYCHECK_WAREHOUSE_TARGET):

    duckdb    one file on this machine (the default; citycheck/warehouse/duckdb.py)
    postgres  a PostgreSQL database, CITYCHECK_PG_DSN (citycheck/warehouse/postgres.py)

The interface is small, and it is all a step may know about the engine:

    connect()            a connection: execute(sql, params with ?), fetchone/fetchall/df
    landing()            one intake batch: judge its records, then land them, whole or not
    land(frames)         append rows to raw tables in one transaction (open data)
    queue(items)         the files listed for intake: they land in their order
    writer_slots()       how many processes may write at once (the Airflow pool)
    dbt_env()            the variables dbt_project/profiles.yml reads for this engine
    row_hash             SQL summing rows into the fingerprints checks and publication compare
    publish(...)         put a validated build's marts where readers read them, atomically
    recover_publication  finish a publication a stopped process left half-done
    read_latest()        read the latest build (the dispatch list)
    published_id()       which publication readers get now
    open_published()     read what is published

Intake (extract/) sits before the warehouse in the data's flow and must not import it: it is
given an Engine and uses only this interface. The implementations are named here by their
dotted path and imported when chosen, the way Django names its database backends, so the
arrows between folders keep pointing one way (docs/architecture.md).
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

# CITYCHECK_WAREHOUSE_TARGET -> the class implementing it
IMPLEMENTATIONS = {
    "duckdb": "citycheck.warehouse.duckdb:DuckDBEngine",
    "postgres": "citycheck.warehouse.postgres:PostgresEngine",
}


class WarehouseBusy(Exception):
    """Another process holds the warehouse (DuckDB has one writer at a time)."""


class WarehouseUnavailable(Exception):
    """The warehouse cannot be reached or is not configured. The message says what to set."""


class PublishRefused(Exception):
    """Nothing was published. The message says why and what to do."""


class LandingConflict(Exception):
    """Another process landed one of the batch's files while this one read it: the batch is
    judged again (its files are then duplicates of what landed)."""


def taken_whole(landing: tuple) -> bool:
    """A landing (as Landing.landings_of gives it) loaded with nothing in it rejected: the
    same bytes sent again are a duplicate of it. Otherwise they are read again: what was
    refused may be accepted now (the round reopened, the reference data corrected)."""
    return landing[3] == "loaded" and not landing[8]


class Landing(ABC):
    """One intake batch on its way into raw.*.

    `con` is a DuckDB connection where the batch is judged (extract/submissions): the raw
    tables it sees there hold every earlier row the judgement needs once `prepare` has run,
    and whatever the batch inserts into them is landed by `commit`, in one transaction."""

    con = None

    @abstractmethod
    def known_files(self, digests: list[str]) -> dict[str, tuple]:
        """file_hash -> (original_name, received_at, status, archived_path, city_code,
        department_code, year) of the files among `digests` already landed."""

    @abstractmethod
    def landings_of(self, digests: list[str]) -> dict[str, list[tuple]]:
        """sha256 -> every landing of those bytes, oldest first: (file_hash, original_name,
        received_at, status, archived_path, city_code, department_code, year, rows_rejected).
        A file_hash is the sha256, or sha256~n for the n-th sending again of bytes no earlier
        sending of which was taken whole (taken_whole)."""

    @abstractmethod
    def later_versions(self, file_hash: str, before: datetime) -> tuple[int, str, object] | None:
        """How many of the file's accepted values files received after it, up to `before`,
        changed, and the newest of those files (name, received_at); None when none did."""

    @abstractmethod
    def receipt_hashes(self) -> list[str]:
        """The files whose receipt the warehouse holds (raw.submission_receipts)."""

    @abstractmethod
    def receipt_texts(self, digests: list[str]) -> list[tuple[str, str]]:
        """(file_hash, receipt JSON) of those files, as landed."""

    @abstractmethod
    def prepare(self, digests: list[str], groups: list[str], received: list) -> None:
        """Before judging against history: take the batch's place in line (files of the same
        city and department land in the order they arrived) and make the earlier rows of the
        values in con's temp table incoming_rows visible in con's raw schema. Raises
        LandingConflict when one of `digests` landed meanwhile."""

    def done(self, received: list[tuple[str, object]]) -> None:
        """These files (name, received_at) were dealt with, landed or not: no later file
        waits for them (Engine.queue). Nothing to do with one writer."""
        return

    @abstractmethod
    def commit(self, digests: list[str]) -> None:
        """Land the rows the batch added to con's raw tables (those of `digests`), whole."""

    @abstractmethod
    def rollback(self) -> None:
        """Forget the batch: nothing of it is landed."""


@dataclass
class PublicationRequest:
    """What the publication step asks an engine to publish: validated marts of one build."""
    publication_id: str
    build_id: str
    tables: list[str]
    marts: dict[str, tuple[int, str]]                  # table -> (rows, fingerprint) checked
    by_year: dict[str, dict] = field(default_factory=dict)   # table -> year -> (rows, fp)
    # table -> (year, city) -> (rows, fp), for the marts with both columns
    by_city: dict[str, dict] = field(default_factory=dict)


@dataclass
class PublicationOutcome:
    tables: dict[str, int] = field(default_factory=dict)
    carried: list[str] = field(default_factory=list)  # unchanged since the last publication
    serving_path: object = None
    parquet_dir: object = None


class Engine(ABC):
    """Where the warehouse lives (see the module's docstring)."""

    name: ClassVar[str]
    # A publication written as files (serving DuckDB file and Parquet), which a PostgreSQL
    # database can receive a copy of (citycheck/publication/publish_postgres.py).
    publishes_files: ClassVar[bool]

    def __init__(self, settings) -> None:
        self.settings = settings

    @abstractmethod
    def describe(self) -> str:
        """Where the warehouse is, for messages (no password)."""

    @abstractmethod
    def connect(self, read_only: bool = False) -> AbstractContextManager:
        """A connection answering execute(sql, params with ? placeholders), fetchone(),
        fetchall() and df(); statements commit one by one unless `begin` opens a
        transaction. The raw and audit schemas exist once it is open for writing."""

    @abstractmethod
    def landing(self) -> AbstractContextManager[Landing]:
        """One intake batch (see Landing)."""

    @abstractmethod
    def land(self, frames: dict) -> None:
        """Append DataFrames to raw tables (table name -> rows) in one transaction."""

    @abstractmethod
    def writer_slots(self) -> int:
        """How many processes may write at once: the slots of the Airflow pool that ingests
        and builds (WAREHOUSE_POOL), set from here by `make setup`, `make airflow-up` and
        docker-compose (`citycheck pool-slots`)."""

    def queue(self, items: list[tuple[str, object]]) -> None:
        """The files listed for intake, (name, received_at), replacing the previous list:
        where several processes land at once, each file lands after the older ones of its
        city and department. With one writer at a time there is nothing to do."""
        return

    @abstractmethod
    def dbt_env(self) -> dict[str, str]:
        """The environment dbt_project/profiles.yml reads: target and connection."""

    def held_for_dbt(self) -> AbstractContextManager:
        """A context kept around a dbt invocation in this process. Where the warehouse has one
        writer at a time, it keeps the writer's place from before dbt connects until dbt is
        done, so another process cannot take it in between; where it is a file, dbt runs in
        its folder and names it by its name (dbt_env), so that dbt's parsed project does not
        depend on where the data dir is. Elsewhere it does nothing."""
        from contextlib import nullcontext

        return nullcontext()

    def server_gone(self, text: str) -> str | None:
        """The words in an error (dbt's, of a node) that say the warehouse's server went
        away, if any: an embedded warehouse has no server to lose."""
        return None

    @abstractmethod
    def row_hash(self, alias: str) -> str:
        """SQL: a number hashing the whole row `alias`, summed into fingerprints."""

    @abstractmethod
    def publish(self, con, request: PublicationRequest) -> PublicationOutcome:
        """Make `request`'s marts what readers read, all at once, with its audit rows."""

    @abstractmethod
    def recover_publication(self, con) -> str | None:
        """Finish a publication a stopped process left half-done; the one now served."""

    @abstractmethod
    def read_latest(self) -> tuple[object, str, str]:
        """A read-only connection on the latest build (the dispatch list reads it even when
        validation refused to publish it): (connection, the marts' schema prefix, where it
        reads, for people). FileNotFoundError when nothing was built."""

    @abstractmethod
    def published_id(self) -> str | None:
        """The publication readers get now, None before the first."""

    @abstractmethod
    def open_published(self):
        """A read-only connection on what is published (tables by their mart names)."""

    def published_tables(self) -> Iterator[tuple[str, int]]:
        """(mart, rows) of the publication, for summaries."""
        return iter(())


def engine_for(settings) -> Engine:
    """The engine CITYCHECK_WAREHOUSE_TARGET names (settings.warehouse_target)."""
    module, _, cls = IMPLEMENTATIONS[settings.warehouse_target].partition(":")
    return getattr(importlib.import_module(module), cls)(settings)
