"""Where each file is kept: the archive (one folder per sha256, in the archive's Storage:
common/storage.py), and the journal of a batch on its way in, written before the warehouse
commits so that a killed process loses nothing (docs/reliability.md).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

JOURNAL = ".journal"


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


def archive_key(digest: str) -> str:
    """The archive folder of a file's bytes: <sha256[:2]>/<sha256>."""
    return f"{digest[:2]}/{digest}"


def receipt_place(landing_id: str) -> tuple[str, str]:
    """(folder, stem) of a landing's receipt: `receipt` in its bytes' folder, or `receipt-n`
    for the n-th sending of bytes refused every time before (landing id `<sha256>~n`)."""
    digest, _, n = landing_id.partition("~")
    return archive_key(digest), f"receipt-{n}" if n else "receipt"
