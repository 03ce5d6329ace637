"""The inbox: files waiting for intake, oldest first.

`queue_inbox` lists them and tells the warehouse's engine, so that where several processes
land at once (PostgreSQL) the files of one city and department still land in the order they
arrived, whichever process takes which file: what the submissions DAG's list task does
before its mapped ingest tasks.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from common.config import Settings
from common.engine import engine_for
from common.reference import Reference
from common.storage import Storage
from extract.submissions.landing import Submission, hand_over, ingest_files, recover_intake
from extract.submissions.receipts import Receipt
from extract.submissions.taking import settled

WAITING = {".part", ".tmp", ".crdownload"}


def list_inbox(settings: Settings) -> list:
    """Files waiting in the inbox, oldest first: paths for a local inbox, URLs for one in
    object storage (CITYCHECK_STORAGE_URL). Hidden and partly written files (.part, .tmp,
    ~$ lock files of an open Excel) are left until they are complete."""
    inbox = settings.storage("inbox")
    return [inbox.path(k) if inbox.plain else inbox.shown(k) for k, _ in _waiting(inbox)]


def _waiting(inbox: Storage) -> list[tuple[str, datetime]]:
    """(key, arrival) of each complete file in the inbox, oldest first: one look at each. A
    file that changed within the settle time (CITYCHECK_INBOX_SETTLE_SECONDS) may still be
    being copied: it is left for the next run (extract/submissions/taking.py)."""
    inbox.makedirs("")
    now = datetime.now(UTC).replace(tzinfo=None)
    found = []
    for k in inbox.files(""):
        if k.startswith((".", "~$")) or Path(k).suffix.lower() in WAITING:
            continue
        try:
            arrived = inbox.modified(k)
        except FileNotFoundError:        # taken by another intake meanwhile
            continue
        if settled(arrived.replace(tzinfo=UTC).timestamp(), now.replace(tzinfo=UTC).timestamp()):
            found.append((k, arrived))
    return sorted(found, key=lambda f: (f[1], f[0]))


def queue_inbox(settings: Settings) -> list:
    """list_inbox, and the list given to the engine as the order files land in
    (Engine.queue)."""
    inbox = settings.storage("inbox")
    waiting = _waiting(inbox)
    engine_for(settings).queue([(_name(k), arrived) for k, arrived in waiting])
    return [inbox.path(k) if inbox.plain else inbox.shown(k) for k, _ in waiting]


def ingest_inbox_file(entry, settings: Settings, ref: Reference | None = None) -> Receipt:
    """Ingest one file from the inbox (a path or URL list_inbox gave); it leaves the inbox
    for the archive. It was received when it landed in the inbox (its modification time
    there), not when a task got to it: mapped ingest tasks may run in any order."""
    with inbox_items(settings, [entry]) as items:
        return ingest_files(items, settings, ref=ref)[0]


def inbox_item(path: Path) -> Submission:
    try:
        arrived = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    except FileNotFoundError:            # another intake took it since it was listed
        arrived = datetime.now(UTC).replace(tzinfo=None)
    return Submission(path, arrived, move=True, inbox=True)


def _name(entry) -> str:
    return str(entry).rstrip("/").rsplit("/", 1)[-1]


def _key(inbox: Storage, entry) -> str:
    return _name(entry) if inbox.plain else inbox.key_of(str(entry))


@contextmanager
def inbox_items(settings: Settings, entries: list) -> Iterator[list[Submission]]:
    """Submissions for inbox entries. A file in object storage is read from a local copy
    for as long as the block runs, and removed from the inbox once landed."""
    inbox = settings.storage("inbox")
    if inbox.plain:
        yield [inbox_item(Path(e)) for e in entries]
        return
    with tempfile.TemporaryDirectory(prefix="citycheck-inbox-") as tmp:
        items = []
        for i, entry in enumerate(entries):
            key = _key(inbox, entry)
            local = Path(tmp) / str(i) / _name(entry)
            inbox.download(key, local)
            items.append(Submission(local, inbox.modified(key), move=True,
                                    source=(inbox, key)))
        yield items


def ingest_inbox(settings: Settings,
                 each: Callable[[Receipt], None] | None = None) -> list[Receipt]:
    """Finish what a stopped run left (recover_intake), then ingest every file waiting in the
    inbox, oldest first, in batches (ingest_files; `each` as there)."""
    engine = engine_for(settings)
    with engine.landing() as landing:
        recovered = hand_over(recover_intake(settings, landing), each)
        entries = queue_inbox(settings)
        with inbox_items(settings, entries) as items:
            return recovered + ingest_files(items, settings, landing=landing, each=each)
