"""Where each file is kept: the archive (one folder per sha256), and the journal of a batch on
its way in, written before the warehouse commits so that a killed process loses nothing
(docs/reliability.md).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from common.config import Settings


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def safe_name(name: str) -> str:
    """A file name that cannot climb out of its folder."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base).lstrip(".")
    return base[:120] or "submission"


def archive_dir(settings: Settings, digest: str) -> Path:
    return settings.archive_dir / digest[:2] / digest


def store(path: Path, name: str, archive: Path) -> tuple[Path, bool]:
    """Put the file `path`, sent as `name`, into its archive folder under that name: a hard
    link where the archive shares the inbox's file system (no bytes copied), else a copy.
    Never a move: until the batch is committed the inbox keeps the file. Returns (archived
    path, whether this call made it). A kill half-way through a copy leaves bytes whose
    sha256 is not the folder's name: recovery never lands them, and the next attempt writes them again."""
    archived = archive / safe_name(name)
    if archived.exists() and (path.resolve() == archived.resolve()
                              or archived.stat().st_size == path.stat().st_size):
        return archived, False          # an earlier attempt, or recovery from the archive
    archived.unlink(missing_ok=True)
    try:
        os.link(path, archived)
    except OSError:
        shutil.copyfile(path, archived)
    return archived, True


def journal_dir(settings: Settings) -> Path:
    return settings.archive_dir / ".journal"


def write_atomic(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def sync_folder(folder: Path) -> None:
    """Flush what was written to the file system that holds `folder` (one syncfs for the
    batch, not one fsync per file: at national scale a batch is 500 files)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()
