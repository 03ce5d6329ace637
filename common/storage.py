"""Where files live: one interface over a local folder or any fsspec URL.

The inbox, the archive (originals, receipts, intake journals), the landing zone (fetched
payloads) and the published Parquet go through a `Storage` each, configured by URL:

    CITYCHECK_STORAGE_URL unset      the local folders under CITYCHECK_DATA_DIR (the default)
    CITYCHECK_STORAGE_URL=s3://b/cc  inbox/, archive/, landing/ and published/ under that URL:
                                     workers on machines that share no disk see the same files

A plain path keeps what a local disk gives: hard links instead of copies, atomic renames,
one syncfs before the warehouse commits. Any URL (file://, s3://, gs://, …) goes through
fsspec (https://filesystem-spec.readthedocs.io), whose object stores write each object whole
(a put is atomic), which is what the intake's crash guarantees need: the archive copy and
the journal exist before the warehouse commits, the inbox object is removed after.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class Storage:
    """A folder tree at `location` (a path or an fsspec URL). Keys are paths relative to it,
    with / between parts."""

    def __init__(self, location: str | Path) -> None:
        from fsspec.core import url_to_fs

        self.location = str(location)
        self.plain = "://" not in self.location
        self.fs, self.root = url_to_fs(self.location)
        self.root = self.root.rstrip("/")

    def __repr__(self) -> str:
        return f"Storage({self.location!r})"

    def _full(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def path(self, key: str = "") -> Path:
        """The local path of `key` (plain storage only)."""
        assert self.plain, "only a local folder has paths"
        return Path(self._full(key))

    def shown(self, key: str = "") -> str:
        """Where `key` is, for people and for the warehouse's records: a path, or a URL."""
        if self.plain:
            return self._full(key)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{self._full(key)}"

    def exists(self, key: str) -> bool:
        return self.fs.exists(self._full(key))

    def size(self, key: str) -> int:
        return int(self.fs.size(self._full(key)))

    def modified(self, key: str) -> datetime:
        """When the file was written (UTC, naive): the inbox's arrival time."""
        if self.plain:
            return datetime.fromtimestamp(os.stat(self._full(key)).st_mtime, UTC).replace(
                tzinfo=None)
        return self.fs.modified(self._full(key)).astimezone(UTC).replace(tzinfo=None)

    def files(self, folder: str = "") -> list[str]:
        """Keys of the files directly in `folder`."""
        full = self._full(folder)
        self.fs.invalidate_cache(full)
        try:
            entries = self.fs.ls(full, detail=True)
        except FileNotFoundError:      # nothing there (an object store has no empty folder)
            return []
        out = []
        for entry in entries:
            if entry["type"] == "file":
                name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
                out.append(f"{folder}/{name}" if folder else name)
        return out

    def makedirs(self, key: str) -> None:
        if self.plain:
            Path(self._full(key)).mkdir(parents=True, exist_ok=True)
        # object stores have no folders: a key's prefix exists once a file is under it

    def put_file(self, local: Path, key: str) -> bool:
        """Store a local file under `key`, whole: on a local disk a hard link where the file
        system allows (no bytes copied), else a copy. False when `key` already holds a file of
        that size (an earlier attempt stored it)."""
        full = self._full(key)
        if self.fs.exists(full) and self.fs.size(full) == local.stat().st_size:
            return False
        if self.plain:
            target = Path(full)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(local, target)
            except OSError:
                shutil.copyfile(local, target)
            return True
        self._parent(full)
        self.fs.put_file(str(local), full)
        return True

    @contextmanager
    def local_copy(self, key: str):
        """A local path holding `key`'s bytes for as long as the block runs (the file itself
        on a local disk)."""
        if self.plain:
            yield Path(self._full(key))
            return
        with tempfile.TemporaryDirectory(prefix="citycheck-storage-") as tmp:
            local = Path(tmp) / key.rsplit("/", 1)[-1]
            self.fs.get_file(self._full(key), str(local))
            yield local

    def download(self, key: str, local: Path) -> None:
        """Copy `key` to the local path `local`."""
        local.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self._full(key), str(local))

    def key_of(self, shown: str) -> str:
        """The key of something this storage showed (a path or a URL under it)."""
        prefix = self.shown("") + "/"
        if not shown.startswith(prefix):
            raise ValueError(f"{shown} is not under {self.shown('')}")
        return shown[len(prefix):]

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write `key` whole or not at all (a rename on a local disk, one put elsewhere)."""
        full = self._full(key)
        if self.plain:
            target = Path(full)
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            part.write_bytes(data)
            os.replace(part, target)
            return
        self._parent(full)
        self.fs.pipe_file(full, data)

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def read_text(self, key: str) -> str:
        return self.fs.cat_file(self._full(key)).decode("utf-8")

    def _parent(self, full: str) -> None:
        """A file system with folders (file://) needs the parent made; an object store has
        none (its makedirs makes buckets, which must exist already)."""
        if self.fs.__class__.__name__ == "LocalFileSystem":
            self.fs.makedirs(full.rsplit("/", 1)[0], exist_ok=True)

    def remove(self, key: str) -> None:
        full = self._full(key)
        if self.plain:
            Path(full).unlink(missing_ok=True)
        elif self.fs.exists(full):
            self.fs.rm_file(full)

    def put_tree(self, local: Path, key: str) -> None:
        """Copy a local folder's files under `key` (for the published Parquet)."""
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            self.put_file(path, f"{key}/{path.relative_to(local).as_posix()}")

    def sync(self, key: str = "") -> None:
        """Make what was written durable before the warehouse commits: one syncfs of the file
        system holding a local folder; an object store's put returns once stored."""
        if not self.plain:
            return
        folder = self._full(key)
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
