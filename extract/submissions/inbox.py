"""The inbox: files waiting for intake, oldest first.

`queue_inbox` lists them and tells the warehouse's engine, so that where several processes
land at once (PostgreSQL) the files of one city and department still land in the order they
arrived, whichever process takes which file: what the submissions DAG's list task does
before its mapped ingest tasks.
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from common.config import Settings
from common.engine import engine_for
from common.reference import Reference
from extract.submissions.landing import Submission, ingest_files, recover_intake
from extract.submissions.receipts import Receipt


def list_inbox(settings: Settings) -> list[Path]:
    """Files waiting in the inbox, oldest first. Hidden and partly written files (.part,
    .tmp, ~$ lock files of an open Excel) are left until they are complete."""
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    files = [p for p in settings.inbox_dir.iterdir()
             if p.is_file() and not p.name.startswith((".", "~$"))
             and p.suffix.lower() not in {".part", ".tmp", ".crdownload"}]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def queue_inbox(settings: Settings) -> list[Path]:
    """list_inbox, and the list given to the engine as the order files land in
    (Engine.queue)."""
    paths = list_inbox(settings)
    items = [inbox_item(p) for p in paths]
    engine_for(settings).queue([(x.name, x.received_at) for x in items])
    return paths


def ingest_inbox_file(path: Path, settings: Settings, ref: Reference | None = None
                      ) -> Receipt:
    """Ingest one file from the inbox; it leaves the inbox for the archive. It was received
    when it landed in the inbox (its modification time there), not when a task got to it:
    mapped ingest tasks may run in any order."""
    return ingest_files([inbox_item(Path(path))], settings, ref=ref)[0]


def inbox_item(path: Path) -> Submission:
    arrived = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return Submission(path, arrived, move=True)


def ingest_inbox(settings: Settings) -> list[Receipt]:
    """Finish what a stopped run left (recover_intake), then ingest every file waiting in the
    inbox, oldest first, in batches (ingest_files)."""
    engine = engine_for(settings)
    with engine.landing() as landing:
        recovered = recover_intake(settings, landing)
        paths = queue_inbox(settings)
        return recovered + ingest_files([inbox_item(p) for p in paths], settings,
                                        landing=landing)
