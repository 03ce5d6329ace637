"""Where things live. Every path comes from one environment variable or a default under ./var.

The DAGs, the CLI and the tests all build a `Settings` from the environment, so a test
points the whole pipeline at a temporary directory by setting CITYCHECK_DATA_DIR.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
SOURCES_FILE = PROJECT_ROOT / "extract" / "sources.yml"

# The Airflow pool every warehouse-writing task uses, sized by the engine (Engine.writer_slots:
# one for DuckDB's one writer process, CITYCHECK_WRITER_SLOTS for PostgreSQL).
WAREHOUSE_POOL = "citycheck_warehouse"
# DuckDB's memory limit unless CITYCHECK_DUCKDB_MEMORY_LIMIT says otherwise: every citycheck
# connection and dbt's (dbt_project/profiles.yml repeats it: Jinja cannot import it). At
# the national scale (bench L) the build then peaks at 1.8 GB and the publication at 1.6 GB
# for 2 % and 7 % more time than with 2GB (docs/performance.md, sixth and seventh rounds);
# the sub-district scale needs more (the bench gives XL 8GB).
DEFAULT_DUCKDB_MEMORY_LIMIT = "1.5GB"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    inbox_dir: Path
    archive_dir: Path
    landing_dir: Path
    warehouse_path: Path
    published_dir: Path
    serving_path: Path
    reports_dir: Path
    portal_url: str
    max_file_bytes: int
    max_unpacked_bytes: int
    # The dbt project and its seeds (the reference data). Only the benchmark points these
    # elsewhere, to run the real pipeline on a synthetic province or country.
    dbt_project_dir: Path = DBT_PROJECT_DIR
    seeds_dir: Path = SEEDS_DIR
    # The warehouse's engine (common/engine.py): "duckdb" (the file above) or "postgres" (the
    # database named by pg_dsn), where intake lands, dbt builds, checks run and publication
    # swaps.
    warehouse_target: str = "duckdb"
    pg_dsn: str | None = None
    # Files landed per transaction when a folder of files is ingested (ingest_files).
    ingest_batch_files: int = 500
    # Where the inbox, archive, landing zone and published Parquet live when not in the local
    # folders above: any fsspec URL (CITYCHECK_STORAGE_URL; common/storage.py).
    storage_url: str | None = None
    # Rows one department file may hold (every sheet together): a department's figures for a
    # year are thousands of rows; a file far larger is refused before it is judged.
    max_file_rows: int = 100_000

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        data = Path(env.get("CITYCHECK_DATA_DIR", PROJECT_ROOT / "var")).resolve()
        published = Path(env.get("CITYCHECK_PUBLISHED_DIR", data / "published"))
        return cls(
            data_dir=data,
            inbox_dir=Path(env.get("CITYCHECK_INBOX_DIR", data / "inbox")),
            archive_dir=data / "archive",
            landing_dir=data / "landing",
            warehouse_path=Path(env.get("CITYCHECK_WAREHOUSE", data / "warehouse" / "citycheck.duckdb")),
            published_dir=published,
            serving_path=published / "citycheck.duckdb",
            reports_dir=data / "reports",
            portal_url=env.get("CITYCHECK_PORTAL_URL", "http://127.0.0.1:8765"),
            max_file_bytes=_positive_int("CITYCHECK_MAX_FILE_BYTES", 20 * 1024 * 1024),
            # What an .xlsx may expand to when unpacked: a zip bomb stops here.
            max_unpacked_bytes=_positive_int("CITYCHECK_MAX_UNPACKED_BYTES", 256 * 1024 * 1024),
            dbt_project_dir=Path(env.get("CITYCHECK_DBT_PROJECT_DIR", DBT_PROJECT_DIR)),
            seeds_dir=Path(env.get("CITYCHECK_DBT_PROJECT_DIR", DBT_PROJECT_DIR)) / "seeds",
            warehouse_target=warehouse_target(env.get("CITYCHECK_WAREHOUSE_TARGET")),
            pg_dsn=env.get("CITYCHECK_PG_DSN") or None,
            ingest_batch_files=_positive_int("CITYCHECK_INGEST_BATCH_FILES", 500),
            storage_url=env.get("CITYCHECK_STORAGE_URL") or None,
            max_file_rows=_positive_int("CITYCHECK_MAX_FILE_ROWS", 100_000),
        )

    def storage(self, area: str):
        """The Storage of `area` (inbox, archive, landing, published): under
        CITYCHECK_STORAGE_URL when set, else the local folder."""
        from common.storage import Storage

        if self.storage_url:
            return Storage(f"{self.storage_url.rstrip('/')}/{area}")
        return Storage({"inbox": self.inbox_dir, "archive": self.archive_dir,
                        "landing": self.landing_dir, "published": self.published_dir}[area])

    def ensure_dirs(self) -> None:
        # not the warehouse's folder: the DuckDB engine makes it when it opens the file, and
        # with PostgreSQL no DuckDB file is written at all.
        # Department files are private to the account citycheck runs as (0700): the archive,
        # the landed rows, and the inbox when citycheck made it (a drop folder an operator
        # made, CITYCHECK_INBOX_DIR, keeps the modes they gave it). What is published and the
        # reports are for readers, and keep the usual modes.
        make_dir(self.inbox_dir, private="new")
        for path in (self.archive_dir, self.landing_dir):
            make_dir(path, private=True)
        for path in (self.published_dir, self.reports_dir):
            make_dir(path)


PRIVATE_DIR = 0o700


def make_dir(path: Path, private: bool | str = False) -> None:
    """Make `path` (and its parents). private=True: only this account may enter it (0700);
    private="new": only when this call made it."""
    existed = path.is_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path} ({exc.strerror}): point CITYCHECK_DATA_DIR "
                          "(or the variable naming that path) at a folder citycheck may "
                          "write") from None
    if private is True or (private == "new" and not existed):
        try:
            mode = path.stat()
            if mode.st_mode & 0o777 != PRIVATE_DIR and mode.st_uid == os.geteuid():
                path.chmod(PRIVATE_DIR)
        except OSError:
            pass        # a file system without modes


class ConfigError(ValueError):
    """A CITYCHECK_* setting cannot be used. The message names the variable and what to set."""


def _positive_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name}={text!r} is not a positive whole number (default {default})")
    return value


WAREHOUSE_TARGETS = ("duckdb", "postgres")


def warehouse_target(text: str | None) -> str:
    target = (text or "duckdb").strip().lower()
    if target not in WAREHOUSE_TARGETS:
        raise ConfigError(f"CITYCHECK_WAREHOUSE_TARGET={text!r}: use one of "
                         f"{', '.join(WAREHOUSE_TARGETS)}")
    return target


def parse_years(text: str | None) -> list[int] | None:
    """'2023' -> [2023]; '2019-2021' -> [2019, 2020, 2021]; '2020,2022' -> [2020, 2022]."""
    if not text or not str(text).strip():
        return None
    text = str(text).strip()
    try:
        if "-" in text:
            first, last = (int(y) for y in text.split("-", 1))
            return list(range(first, last + 1))
        return [int(y) for y in text.split(",")]
    except ValueError:
        raise ConfigError(f"'{text}' is not a year, a range like 2019-2023 or a list like "
                          "2020,2021") from None
