"""After a crash: finish what a stopped run left, and say what each output holds.

`citycheck recover` (also run at the start of every inbox ingest and every publish) lands
the files the archive holds but the warehouse does not, writes receipts a crash left
unwritten, and rolls a half-done publication forward or back. `citycheck published` reads,
without changing anything, which publication each output holds and flags a disagreement.
docs/reliability.md lists every fault and its guarantee.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from common.config import Settings
from common.engine import engine_for


def recover(settings: Settings) -> list[str]:
    """Finish intake and publication; one line per thing done."""
    from citycheck.warehouse.audit import AUDIT_DDL
    from extract.submissions import recover_intake

    settings.ensure_dirs()
    engine = engine_for(settings)
    lines = []
    for receipt in recover_intake(settings):
        lines.append(f"landed {receipt.file_name} from the archive: {receipt.status} — "
                     f"{receipt.message}")
    before = engine.published_id()
    with engine.connect() as con:
        con.execute(AUDIT_DDL)
        committed = engine.recover_publication(con)
    if committed and committed != before:
        lines.append(f"readers switched to publication {committed}, the last one recorded")
    from citycheck.publication.publish_postgres import publish_postgres

    if _postgres_behind(settings) and settings.serving_path.exists():
        copied = publish_postgres(settings, settings.pg_dsn)
        lines.append(f"PostgreSQL brought up to publication {copied.publication_id}")
    if not lines:
        lines.append("nothing to recover: no run was stopped half-way (every archived file "
                     "is landed and receipted, no publication is half-done)")
    state = publication_state(settings)
    lines += state.lines()
    return lines


@dataclass
class PublicationState:
    """Which publication each output holds (None: it holds none, or cannot be read now)."""
    outputs: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return len({v for v in self.outputs.values()}) <= 1

    def lines(self) -> list[str]:
        lines = ["Publication held by each output:"]
        for name, held in self.outputs.items():
            lines.append(f"  {name:<34} {held or '-'}")
        lines += [f"  {n}" for n in self.notes]
        if not self.agree:
            lines.append("  THEY DISAGREE: run `citycheck recover` to finish the last "
                         "publication")
        return lines


def _postgres_behind(settings: Settings) -> bool:
    """Whether PostgreSQL (when configured, DuckDB target) holds another publication than the
    serving file: what `recover` then copies."""
    if not engine_for(settings).publishes_files or not settings.pg_dsn:
        return False
    outputs = publication_state(settings).outputs
    return outputs.get("PostgreSQL (published.publication)") != outputs.get(
        "serving file (publication table)")


def publication_state(settings: Settings) -> PublicationState:
    import duckdb

    state = PublicationState()
    if engine_for(settings).publishes_files:
        committed = None
        if settings.warehouse_path.exists():
            try:
                con = duckdb.connect(str(settings.warehouse_path), read_only=True)
            except duckdb.Error:
                state.notes.append("(the warehouse is busy: a run holds it; its audit row was "
                                   "not read)")
            else:
                try:
                    row = con.execute("select publication_id from audit.publications "
                                      "order by published_at desc limit 1").fetchone()
                    committed = row[0] if row else None
                except duckdb.CatalogException:
                    committed = None
                finally:
                    con.close()
                state.outputs["warehouse (audit.publications)"] = committed
        state.outputs["serving file (publication table)"] = _serving_id(settings.serving_path)
        parquet = settings.published_dir / "parquet"
        state.outputs["Parquet set (its folder)"] = (
            Path(os.path.realpath(parquet)).parent.name if parquet.exists() else None)
    dsn = settings.pg_dsn or os.environ.get("CITYCHECK_PG_DSN")
    if dsn:
        state.outputs["PostgreSQL (published.publication)"] = _postgres_id(dsn, state)
    return state


def _serving_id(path: Path) -> str | None:
    import duckdb

    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select publication_id from main.publication").fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def _postgres_id(dsn: str, state: PublicationState) -> str | None:
    import psycopg2

    try:
        con = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.Error as exc:
        state.notes.append(f"(PostgreSQL not reachable: {str(exc).strip().splitlines()[0]})")
        return None
    try:
        with con.cursor() as cur:
            cur.execute("select publication_id from published.publication")
            return cur.fetchone()[0]
    except psycopg2.Error:
        return None
    finally:
        con.close()
