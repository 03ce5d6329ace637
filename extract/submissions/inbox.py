"""The inbox: files waiting for intake, oldest first.

`queue_inbox` lists them and tells the warehouse's engine, so that where several processes
land at once (PostgreSQL) the files of one city and department still land in the order they
arrived, whichever process takes which file: what the submissions DAG's list task does
before its mapped ingest tasks. Where one process writes at a time (DuckDB), each mapped
task lands the older files still waiting before its own (ingest_inbox_file).
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
    return [_entry(inbox, k) for k, _ in _waiting(inbox)]


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
    return [_entry(inbox, k) for k, _ in waiting]


def ingest_inbox_file(entry, settings: Settings, ref: Reference | None = None,
                      each: Callable[[Receipt], None] | None = None) -> Receipt:
    """Ingest one file from the inbox (a path or URL list_inbox gave); it leaves the inbox
    for the archive. It was received when it landed in the inbox (its modification time
    there), not when a task got to it: mapped ingest tasks may run in any order.

    Each file is judged against what arrived before it (a 2022 figure against the 2021 one
    of the same district, for the plausibility rules), so the older files land first:
    - where one process writes at a time (DuckDB), the files that arrived before this one
      and still wait in the inbox land first, oldest first, in this call; their own tasks
      find them gone ("skipped");
    - where several write at once (PostgreSQL), each file waits for the older files of its
      city and department instead (PostgresLanding.prepare).
    Returns this file's receipt; `each` is handed every receipt landed, as ingest_files."""
    entries = [entry]
    if engine_for(settings).writer_slots() == 1:
        entries = _waiting_before(settings, entry) + entries
    last: list[Receipt] = []

    def landed(receipt: Receipt) -> None:       # handed over in the order of `entries`
        if each is not None:
            each(receipt)
        last[:] = [receipt]

    with inbox_items(settings, entries) as items:
        ingest_files(items, settings, ref=ref, each=landed)
    return last[0]


def _waiting_before(settings: Settings, entry) -> list:
    """The inbox entries (as list_inbox gives them) that arrived before `entry` and still
    wait, oldest first; none when `entry` itself is not waiting (taken, or still changing)."""
    inbox = settings.storage("inbox")
    keys = [k for k, _ in _waiting(inbox)]
    key = _key(inbox, entry)
    if key not in keys:
        return []
    return [_entry(inbox, k) for k in keys[:keys.index(key)]]


def _entry(inbox: Storage, key: str):
    """An inbox file as list_inbox gives it: a path, or a URL in object storage."""
    return inbox.path(key) if inbox.plain else inbox.shown(key)


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
