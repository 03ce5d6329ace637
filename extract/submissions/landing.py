"""Landing files: archive, read, judge and land each batch whole through the warehouse's
engine (common/engine.py: Landing), then write the receipts and only then take the files
out of the inbox. `recover_intake` finishes what a stopped batch left.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from common import progress
from common.config import Settings
from common.engine import Landing, LandingConflict, engine_for, taken_whole
from common.faults import crash_point
from common.messages import say
from common.reference import Reference, load_reference
from common.storage import Storage
from extract.submissions import judging
from extract.submissions.archive import (
    JOURNAL,
    archive_key,
    file_sha256,
    receipt_place,
    safe_name,
)
from extract.submissions.receipts import Receipt, summary, write_receipt
from extract.submissions.records import FileContext, Reading, SubmissionError, read_file
from extract.submissions.taking import (
    Claim,
    Stage,
    Staged,
    clear_stale_stages,
    settle_seconds,
    settled,
)

# raw.submission_files' columns, in the order intake gives them
FILE_COLUMNS = ("file_hash", "original_name", "archived_path", "size_bytes", "received_at",
                "city_code", "department_code", "year", "layout", "status", "rows_read",
                "rows_accepted", "rows_rejected", "rows_ignored", "message")


@dataclass
class Submission:
    """One file to ingest: where it is, when it arrived (UTC; it decides which version of a
    value is the newest, whatever order files are ingested in), whether it leaves its folder
    for the archive, and what the caller states about it (else read from the file)."""
    path: Path
    received_at: datetime
    move: bool = False
    department: str | None = None
    city: str | None = None
    year: int | None = None
    original_name: str | None = None   # when `path` is not the name it was sent under
    # where the file waits when that is not `path` (an inbox in object storage: `path` is a
    # local copy), removed from there once landed when `move`
    source: tuple[Storage, str] | None = None
    # a file of the inbox folder: taken only once complete, and by one process (taking.py)
    inbox: bool = False

    @property
    def name(self) -> str:
        return self.original_name or self.path.name


@dataclass
class Incoming:
    """A file on its way in: what was read from it, before the batch's transaction."""
    item: Submission
    digest: str
    size: int
    receipt: Receipt
    earlier: tuple | None = None     # the file's first arrival, when these bytes came before
    archived: str | None = None      # its key in the archive (common/storage.py)
    stored: bool = False             # the archive copy was made by this attempt
    reading: Reading | None = None   # what was read, when the file could be read
    receipt_json: str | None = None  # the receipt as landed, written to the archive as is
    staged: Staged | None = None     # its bytes, copied and hashed once (taking.py)
    landing_id: str = ""             # its file_hash in raw.*: the sha256, or sha256~n for the
    #                                  n-th sending of bytes refused every time before
    claim: Claim | None = None
    earlier_id: str | None = None    # the landing these bytes duplicate

    @property
    def ctx(self) -> FileContext | None:
        return self.reading.ctx if self.reading else None


def ingest_file(path: Path, settings: Settings, *, department: str | None = None,
                city: str | None = None, year: int | None = None,
                ref: Reference | None = None, move: bool = False,
                received_at: datetime | None = None, landing: Landing | None = None
                ) -> Receipt:
    """Ingest one submission file into raw.*; archive it (moved when `move`, else copied);
    write and return its receipt. `received_at` (UTC) is when the file arrived; default now.
    `landing`: an open Landing of the warehouse's engine to use, else its own."""
    received = received_at or datetime.now(UTC).replace(tzinfo=None)
    item = Submission(Path(path), received, move, department, city, year)
    return ingest_files([item], settings, ref=ref, landing=landing)[0]


def ingest_files(items: list[Submission], settings: Settings, ref: Reference | None = None,
                 landing: Landing | None = None,
                 each: Callable[[Receipt], None] | None = None) -> list[Receipt]:
    """Ingest files in batches of settings.ingest_batch_files (CITYCHECK_INGEST_BATCH_FILES):
    the files of a batch are read, each to its own verdicts, then landed in one transaction
    with one lookup of earlier copies and earlier versions, so a file costs its reading, not
    a round of queries. Receipts come back in the order of `items`. With `each`, every whole
    receipt is handed to it as its batch lands, and the list keeps each receipt's counts
    only (Receipt.counts_only): a long backlog's memory does not grow with its receipts.

    Give `items` oldest first: a file is a duplicate of the first copy of its bytes.
    (Reading in several processes was measured and is slower: sending the verdicts back
    costs more than reading them; docs/performance.md.)"""
    if landing is None:
        with engine_for(settings).landing() as own:
            return ingest_files(items, settings, ref, own, each)
    ref = ref or load_reference(settings.seeds_dir)
    settings.ensure_dirs()
    size = max(1, settings.ingest_batch_files)
    receipts: list[Receipt] = []
    accepted = 0        # values accepted so far, for the progress line
    for start in range(0, len(items), size):
        batch = items[start:start + size]
        for attempt in range(3):
            try:
                landed = _ingest_batch(batch, settings, ref, landing, (start, len(items)))
                accepted += sum(r.rows_accepted for r in landed)
                receipts += hand_over(landed, each)
                progress.update(f"  intake: {len(receipts)} of {len(items)} files landed, "
                                f"{accepted:,} values accepted" if len(items) > 1 else
                                f"  intake: {items[0].name} landed, {accepted:,} values "
                                "accepted", force=True)
                break
            except LandingConflict:
                # another process landed one of these files while this one read it: judged
                # again, it is now a duplicate of what landed
                if attempt == 2:
                    raise
    progress.finish()
    return receipts


def hand_over(receipts: list[Receipt], each: Callable[[Receipt], None] | None
              ) -> list[Receipt]:
    """Landed receipts as a caller keeps them: whole, or, with `each`, handed whole to it one
    by one and kept as counts (Receipt.counts_only)."""
    if each is None:
        return receipts
    for r in receipts:
        each(r)
    return [r.counts_only() for r in receipts]


def _ingest_batch(items: list[Submission], settings: Settings, ref: Reference,
                  landing: Landing, place: tuple[int, int] = (0, 0)) -> list[Receipt]:
    """Take each file (taking.py: complete, by one process, its bytes copied and hashed
    once), put that copy into the archive and give its records their verdicts; write the
    batch's journal; land the batch in one transaction with every receipt; then write the
    receipt files, and only then take the files out of the inbox. A process killed at any
    point loses nothing: before the commit the inbox still holds every file (and
    `recover_intake` lands what the journal lists); after it, the warehouse holds every
    record and receipt (docs/reliability.md). A file not taken now (still being written,
    held by another process) gets a receipt saying so and stays where it is."""
    archive = settings.storage("archive")
    stage = Stage(archive)
    receipts: dict[int, Receipt] = {}   # position in `items` -> its receipt
    taken: list[tuple[int, Incoming]] = []
    try:
        for i, item in enumerate(items):
            x = _take(item, stage, settings)
            if isinstance(x, Receipt):      # not taken now: why
                receipts[i] = x
            else:
                taken.append((i, x))
        # The same bytes twice in one batch: the second is landed after the first, as it
        # would be one file at a time (a duplicate of what the first became, or read again
        # when the first was refused).
        while taken:
            now, later, seen = [], [], set()
            for i, x in taken:
                (later if x.digest in seen else now).append((i, x))
                seen.add(x.digest)
            landed = _land_batch([x for _, x in now], settings, ref, landing, archive, place)
            receipts.update((i, r) for (i, _), r in zip(now, landed, strict=True))
            taken = later
        return [receipts[i] for i in range(len(items))]
    finally:
        for _, x in taken:
            if x.claim is not None:
                x.claim.release()
        stage.close()


def _take(item: Submission, stage: Stage, settings: Settings) -> Incoming | Receipt:
    """The file, claimed and copied (an Incoming), or a receipt saying why not now."""
    def not_now(status: str, message: str) -> Receipt:
        return Receipt(file_name=item.name, file_hash="", status=status, message=message,
                       received_at=item.received_at.isoformat(timespec="seconds") + "Z")

    claim = None
    if item.inbox:
        try:
            claim = Claim(item.path)
        except BlockingIOError:
            return not_now("skipped", say("inbox_taken_elsewhere"))
        except FileNotFoundError:
            return not_now("skipped", say("inbox_gone"))
        if not settled(claim.look.mtime_ns / 1e9):
            claim.release()
            return not_now("waiting", say("inbox_settling", seconds=f"{settle_seconds():g}"))
    size = item.path.stat().st_size
    staged = None
    if size <= settings.max_file_bytes:
        staged = stage.copy(item.path, item.name, settings.max_file_bytes)
        if staged is None:
            if claim is not None:
                claim.release()
            return not_now("waiting", say("inbox_changing"))
        digest = staged.digest
    else:
        digest = file_sha256(item.path)    # refused on its size alone: never read nor kept
    return Incoming(item, digest, size, Receipt(
        file_name=item.name, file_hash=digest,
        received_at=item.received_at.isoformat(timespec="seconds") + "Z",
        status="rejected", message=""), staged=staged, landing_id=digest, claim=claim)


def _land_batch(landings: list[Incoming], settings: Settings, ref: Reference,
                landing: Landing, archive: Storage, place: tuple[int, int]) -> list[Receipt]:
    """Land files of distinct bytes: read, judge, journal, commit, receipts, inbox."""
    prior = landing.landings_of([x.digest for x in landings])
    reading: list[Incoming] = []
    for x in landings:
        earlier = _earlier(x, prior.get(x.digest, []))
        if earlier is not None:
            x.earlier_id, x.earlier = earlier[0], earlier[1:8]
        else:
            reading.append(x)
            before = prior.get(x.digest, [])
            if before:      # no earlier sending was taken whole: these bytes are read again
                x.landing_id = f"{x.digest}~{len(before)}"
                x.receipt.file_hash = x.landing_id
                x.receipt.sha256 = x.digest
                x.receipt.conflicts.append(say(
                    "resent_after_refusal", name=before[-1][1],
                    received=f"{before[-1][2]:%Y-%m-%d %H:%M}"))
    journal = None
    try:
        for number, x in enumerate(reading, place[0] + 1):
            progress.update(f"  intake: reading file {number} of {place[1]} ({x.item.name})"
                            if place[1] > 1 else f"  intake: reading {x.item.name}")
            _read(x, settings, archive, ref)
        has_rows = judging.judge(landing.con, reading, ref)
        journal = write_journal(archive, reading)
        archive.sync()   # archive and journal stored before the warehouse commits
        _land(landing, reading, ref, has_rows)
    except LandingConflict:
        # judged again at once: keep the archive copies (another process may have landed
        # the same bytes from them), only the journal goes
        _forget(archive, [], journal)
        raise
    except Exception:
        _forget(archive, reading, journal)
        landing.done([(x.item.name, x.item.received_at) for x in landings])
        raise
    landing.done([(x.item.name, x.item.received_at) for x in landings])
    crash_point("ingest.after_commit")
    for x in landings:
        if x.earlier is None:
            write_receipt(x.receipt, archive, *receipt_place(x.landing_id),
                          as_json=x.receipt_json)
        elif not _same_submission(x, archive, landing):
            _duplicate(x, archive, landing)
    crash_point("ingest.before_remove")
    for x in landings:
        if x.item.move:
            _remove_from_inbox(x)
    if journal is not None:
        archive.remove(journal)   # everything it lists is in the warehouse
    for x in landings:
        if x.claim is not None:
            x.claim.release()
            x.claim = None
    return [x.receipt for x in landings]


def _earlier(x: Incoming, prior: list[tuple]) -> tuple | None:
    """The earlier landing these bytes are a duplicate of: the same sending again (a run
    stopped after its commit left it in the inbox), or a sending taken whole (loaded, nothing
    rejected). None when there is none: then they are read again, for what was refused before
    (the file, or some of its records) may be accepted now."""
    for p in prior:
        if p[1] == x.item.name and p[2] == x.item.received_at:
            return p
    whole = [p for p in prior if taken_whole(p)]
    return whole[0] if whole else None


def _remove_from_inbox(x: Incoming) -> None:
    """Take the landed file out of its folder, unless it changed since it was claimed (then
    what landed is the copy taken, and the file, written again, is left for the next run)."""
    import logging

    if x.claim is not None and not x.claim.unchanged():
        logging.getLogger(__name__).warning(
            "%s changed after it was taken in: left in the inbox for the next run",
            x.item.name)
        return
    if x.item.source is not None:
        storage, key = x.item.source
        try:
            storage.remove(key)
        except FileNotFoundError:
            pass
    x.item.path.unlink(missing_ok=True)


def _forget(archive: Storage, reading: list[Incoming], journal: str | None) -> None:
    """The batch failed with an error its caller is told about, and nothing of it was
    recorded: its journal goes, so that no later recovery lands what the caller was told was
    not landed, and so do the archive copies it made. The originals are where they were (a
    kill never gets here: then the journal is what recovery lands)."""
    if journal is not None:
        archive.remove(journal)
    for x in reading:
        if x.archived is not None and x.stored:
            archive.remove(x.archived)


def _same_submission(x: Incoming, archive: Storage, landing: Landing) -> bool:
    """These bytes were landed from this very file (same name, same arrival): a run that was
    stopped after its commit left it in the inbox. It has its receipt; it is no duplicate."""
    name, received = x.earlier[0], x.earlier[1]
    if name == x.item.name and received == x.item.received_at:
        landing_id = x.earlier_id or x.digest
        folder, stem = receipt_place(landing_id)
        stored = f"{folder}/{stem}.json"
        if archive.exists(stored):
            x.receipt = Receipt(**json.loads(archive.read_text(stored)))
        else:       # stopped before its receipt file was written: the warehouse holds it
            for _, text in landing.receipt_texts([landing_id]):
                x.receipt = Receipt(**json.loads(text))
                write_receipt(x.receipt, archive, folder, stem, as_json=text)
        return True
    return False


def _duplicate(x: Incoming, archive: Storage, landing: Landing) -> None:
    name, received, status, archived_path, city, department, year = x.earlier
    r = x.receipt
    r.status = "duplicate"
    r.message = say("duplicate_file", name=name, received=f"{received:%Y-%m-%d %H:%M}",
                    status=status)
    later = (landing.later_versions(x.earlier_id, x.item.received_at) if x.earlier_id
             else None)
    if later is not None:   # the earlier sending was corrected before this one: what stands
        count, newest, newest_at = later
        r.message += " " + say("duplicate_file_superseded", count=count, newest=newest,
                               newest_at=f"{newest_at:%Y-%m-%d %H:%M}")
    r.archived_path = archived_path
    r.city_code, r.department_code, r.year = city, department, year
    # The first receipt stays as it was; this one goes beside it.
    write_receipt(r, archive, archive_key(x.digest),
                  stem=f"duplicate-{x.item.received_at:%Y%m%dT%H%M%S}")


def _archived_intact(x: Incoming, archive: Storage) -> bool:
    """The archive holds exactly the bytes hashed: the staged copy itself (a hard link to a
    file only this process wrote), or a file whose sha256 is theirs."""
    if archive.plain:
        held = archive.path(x.archived)
        if os.stat(held).st_ino == os.stat(x.staged.copy).st_ino:
            return True
    with archive.local_copy(x.archived) as held:
        return file_sha256(held) == x.digest


def _read(x: Incoming, settings: Settings, archive: Storage, ref: Reference) -> None:
    """Put the file's copy into the archive, read it and cut it into records (no warehouse
    access; the records are judged with the batch's, in judge)."""
    item, receipt = x.item, x.receipt
    archive.makedirs(archive_key(x.digest))
    if x.staged is None:
        # Not read and not copied: a far too large file is refused on its size alone.
        receipt.message = say("file_too_large", size=f"{x.size:,}",
                              limit=f"{settings.max_file_bytes:,}")
    else:
        crash_point("ingest.before_copy")
        # the copy taken (taking.py), never the inbox file: until the batch is committed the
        # inbox keeps the file. A kill half-way through a copy leaves bytes whose sha256 is
        # not the folder's name: recovery never lands them, and the next attempt writes them
        # again.
        x.archived = f"{archive_key(x.digest)}/{safe_name(item.name)}"
        x.stored = archive.put_file(x.staged.copy, x.archived)
        if not _archived_intact(x, archive):     # a copy an earlier attempt left, not these
            archive.remove(x.archived)           # bytes: replaced by them
            x.stored = archive.put_file(x.staged.copy, x.archived)
        crash_point("ingest.after_copy")
        try:
            if x.size == 0:
                raise SubmissionError(say("file_empty"))
            x.reading = read_file(x.staged.copy, ref, item.department, item.city, item.year,
                                  max_unpacked_bytes=settings.max_unpacked_bytes,
                                  name=item.name, max_rows=settings.max_file_rows)
        except SubmissionError as exc:
            receipt.message = str(exc)
    receipt.archived_path = archive.shown(x.archived) if x.archived else None
    if x.reading:
        ctx, notes = x.reading.ctx, x.reading.notes
        receipt.status = "loaded"
        receipt.department_code, receipt.city_code, receipt.year = (
            ctx.department_code, ctx.city_code, ctx.year)
        receipt.template_version, receipt.layout = ctx.template_version, x.reading.layout
        receipt.neutralised = notes["neutralised"]
        receipt.footer = notes["footer"]
        receipt.conflicts = receipt.conflicts + notes["conflicts"]
        receipt.sheets = notes["sheets"]


def _land(landing: Landing, landings: list[Incoming], ref: Reference, has_rows: bool) -> None:
    """One transaction for the batch: which values each file corrects, its file row, its
    records (the temp table incoming_rows, from judge) and its receipt. A file is loaded
    whole or not at all, and so is the batch. The SQL runs on the landing's DuckDB
    connection; the engine lands what it added (Landing.commit)."""
    if not landings:
        return
    con = landing.con
    con.execute("begin transaction")
    try:
        con.register("incoming_files", pd.DataFrame({
            "file_hash": [x.landing_id for x in landings],
            "original_name": [x.item.name for x in landings],
            "city_code": [x.receipt.city_code for x in landings],
            "received_at": [x.item.received_at for x in landings]}))
        landing.prepare([x.landing_id for x in landings],
                        [f"{x.ctx.city_code}:{x.ctx.department_code}" if x.ctx else None
                         for x in landings],
                        [(x.item.name, x.item.received_at) for x in landings])
        if has_rows:
            receipts = {x.landing_id: x.receipt for x in landings}
            judging.refuse_closed_rounds(con, receipts)
            withdrawn = judging.superseded(con, receipts)
            if withdrawn:
                judging.reject_withdrawals(con, receipts, withdrawn)
            judging.warn(con, ref, receipts)
        for x in landings:
            if x.ctx is not None:
                x.receipt.message = summary(x.receipt)
        # the batch's file rows as one frame in one statement (executemany was a statement
        # per file: the largest single line of intake at L)
        con.register("incoming_file_rows", pd.DataFrame(
            [[x.landing_id, x.item.name, r.archived_path, x.size, x.item.received_at,
              r.city_code, r.department_code, r.year, r.layout, r.status, r.rows_read,
              r.rows_accepted, r.rows_rejected, r.rows_ignored, r.message]
             for x in landings for r in [x.receipt]], columns=FILE_COLUMNS))
        con.execute(f"insert into raw.submission_files ({', '.join(FILE_COLUMNS)}) "
                    f"select {', '.join(FILE_COLUMNS)} from incoming_file_rows")
        con.unregister("incoming_file_rows")
        if has_rows:
            con.execute("insert into raw.submission_rows by name select * from incoming_rows")
        for x in landings:
            x.receipt_json = json.dumps(x.receipt.to_dict(), ensure_ascii=False)
        con.register("incoming_receipts", pd.DataFrame({
            "file_hash": [x.landing_id for x in landings],
            "receipt_json": [x.receipt_json for x in landings]}))
        con.execute("insert into raw.submission_receipts select file_hash, 'receipt', "
                    "receipt_json from incoming_receipts")
        con.unregister("incoming_receipts")
        landing.commit([x.landing_id for x in landings])
    except BaseException:
        landing.rollback()
        raise
    finally:
        con.execute("drop table if exists incoming_rows")
        con.unregister("incoming_files")


def recover_intake(settings: Settings, landing: Landing | None = None,
                   ref: Reference | None = None) -> list[Receipt]:
    """Finish what a stopped intake left: every receipt the warehouse holds is written to the
    archive if its file is missing, and every file archived with its journal entry but never
    landed (the process died before its batch committed) is landed now from the archive.
    Returns the receipts of the files it landed. Run before each inbox ingest; idempotent."""
    if landing is None:
        with engine_for(settings).landing() as own:
            return recover_intake(settings, own, ref)
    archive = settings.storage("archive")
    if not archive.exists(""):
        return []
    clear_stale_stages(archive)
    unwritten = [landing_id for landing_id in landing.receipt_hashes()
                 if not archive.exists("{}/{}.json".format(*receipt_place(landing_id)))]
    for landing_id, text in landing.receipt_texts(unwritten) if unwritten else []:
        write_receipt(Receipt(**json.loads(text)), archive, *receipt_place(landing_id),
                      as_json=text)
    journals = sorted(k for k in archive.files(JOURNAL) if k.endswith(".json"))
    if not journals:
        return []
    entries = [entry for journal in journals for entry in json.loads(archive.read_text(journal))]
    landed = set(landing.known_files([e.get("landing_id") or e["digest"] for e in entries]))
    receipts = []
    with tempfile.TemporaryDirectory(prefix="citycheck-recover-") as tmp:
        orphans: dict[str, Submission] = {}
        for entry in entries:
            if (entry.get("landing_id") or entry["digest"]) in landed \
                    or entry["digest"] in orphans or not archive.exists(entry["archived"]):
                continue
            with archive.local_copy(entry["archived"]) as copy:
                if file_sha256(copy) != entry["digest"]:
                    continue          # a copy a kill cut short: the inbox still has the file
                local = copy
                if not archive.plain:
                    local = Path(tmp) / entry["digest"] / copy.name
                    local.parent.mkdir()
                    shutil.copyfile(copy, local)
            orphans[entry["digest"]] = Submission(
                local, datetime.fromisoformat(entry["received_at"]),
                department=entry["department"], city=entry["city"], year=entry["year"],
                original_name=entry["original_name"])
        if orphans:
            receipts = ingest_files(sorted(orphans.values(), key=lambda s: s.received_at),
                                    settings, ref=ref, landing=landing)
    for journal in journals:   # every file they list is in the warehouse now
        archive.remove(journal)
    return receipts


def write_journal(archive: Storage, reading: list[Incoming]) -> str | None:
    """One journal per batch, written once its files are in the archive and before the
    warehouse commits: for each file, where it is archived, the name it was sent under, when
    it arrived and what the caller stated. `recover_intake` lands from it whatever a killed
    batch left unrecorded. Returns its key."""
    entries = [{"digest": x.digest, "landing_id": x.landing_id, "archived": x.archived,
                "original_name": x.item.name,
                "received_at": x.item.received_at.isoformat(),
                "department": x.item.department, "city": x.item.city, "year": x.item.year}
               for x in reading if x.archived is not None]
    if not entries:
        return None
    key = f"{JOURNAL}/{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{entries[0]['digest'][:12]}.json"
    archive.write_text(key, json.dumps(entries, ensure_ascii=False))
    return key
