"""Taking a file in: only when it is complete, by one process, from the bytes archived.

A file dropped in the inbox may still be being copied (a clerk's share, an FTP upload). It is
taken only once it has stopped changing for CITYCHECK_INBOX_SETTLE_SECONDS (default 10; the
documented completion convention: write to NAME.part and rename when done, which the inbox
never takes). Taking it:

1. claim it: an exclusive, non-blocking lock on the file (flock), held until it is landed and
   removed; a file another process holds, or that is gone, is left to that process;
2. copy its bytes once into a staging folder beside the archive, hashing them as they are
   copied: the file's sha256 is that of the bytes archived and read, never of a file that
   changed after it was hashed (a hard link would share the inode the copy goes on writing);
3. look at it again: a file whose size or modification time changed while it was copied is
   still being written: its copy is dropped and it stays in the inbox for the next run.

Before its name is removed from the inbox, after the warehouse committed, it is looked at
once more: a file that changed since it was claimed is not removed (what landed is the
complete copy taken; the new bytes arrive as another file at the next run).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from common.processes import alive

STAGING = ".incoming"     # beside the archive's folders: one folder per process and batch


def settle_seconds() -> float:
    from common.config import ConfigError

    text = os.environ.get("CITYCHECK_INBOX_SETTLE_SECONDS", "10").strip()
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"CITYCHECK_INBOX_SETTLE_SECONDS={text!r} is not a number of seconds "
                          "(default 10)")
    return value


def settled(mtime: float, now: float | None = None) -> bool:
    """The file has not changed for the settle time."""
    return (now if now is not None else time.time()) - mtime >= settle_seconds()


@dataclass
class Look:
    """What a file looked like: enough to tell that it changed."""
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> Look:
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


class Claim:
    """An inbox file held by this process (flock) from its first look until it is removed."""

    def __init__(self, path: Path) -> None:
        import fcntl

        self.path = path
        self.fd = os.open(path, os.O_RDONLY)       # FileNotFoundError: another run took it
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise
        self.look = Look.of(path)

    def unchanged(self) -> bool:
        try:
            return Look.of(self.path) == self.look
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class Staged:
    """A file's bytes, copied once: their sha256, their size, and the copy (named as the
    file was sent, so that its name and type are read from it)."""
    digest: str
    size: int
    copy: Path


class Stage:
    """The staging folder of one batch: beside a local archive (so that archiving a copy is a
    rename), or a temporary folder for one in object storage."""

    def __init__(self, archive) -> None:
        if archive.plain:
            root = archive.path(STAGING)
            root.mkdir(parents=True, exist_ok=True)
            self.folder = root / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
            self.folder.mkdir()
            self._tmp = None
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="citycheck-stage-")
            self.folder = Path(self._tmp.name)
        self._names: set[str] = set()

    def copy(self, path: Path, name: str, size_limit: int) -> Staged | None:
        """Copy `path` (at most `size_limit` + 1 bytes are read: a larger file is refused on
        its size) hashing it; None when it changed while being copied."""
        from extract.submissions.archive import safe_name

        before = Look.of(path)
        # named as sent, in the batch's folder; a name met before in the batch goes into a
        # folder of its own (".…": no file's safe name starts with a dot)
        safe = safe_name(name)
        if safe in self._names:
            target = self.folder / f".{uuid.uuid4().hex[:8]}" / safe
            target.parent.mkdir()
        else:
            target = self.folder / safe
        self._names.add(safe)
        h = hashlib.sha256()
        copied = 0
        with open(path, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                dst.write(chunk)
                copied += len(chunk)
        if Look.of(path) != before or copied != before.size:
            target.unlink(missing_ok=True)
            return None
        return Staged(h.hexdigest(), copied, target)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        else:
            shutil.rmtree(self.folder, ignore_errors=True)


def clear_stale_stages(archive) -> None:
    """Remove staging folders of processes that no longer run (killed mid-batch: their copies
    are in no journal; the inbox still holds the files)."""
    if not archive.plain:
        return
    root = archive.path(STAGING)
    if not root.exists():
        return
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
