"""Progress on long steps for a person at a terminal, and nothing in logs.

Nothing is shown unless an entry point asks for it with `to_terminal(stream)` and the stream
is a terminal: `citycheck` does for its stderr, `make run` for the terminal it started on
(its task output goes to a log file). Airflow workers never call it, so their task logs stay
free of progress lines. Each update rewrites one line (carriage return); `finish` ends it.
"""
from __future__ import annotations

import shutil
import time

_stream = None
_last = 0.0
_shown = False


def to_terminal(stream) -> None:
    """Show progress on `stream` if it is a terminal (else stay quiet)."""
    global _stream
    _stream = stream if stream is not None and stream.isatty() else None


def active() -> bool:
    """Whether progress is shown (a person at a terminal): chatty tools may then be quiet."""
    return _stream is not None


def update(text: str, force: bool = False) -> None:
    """One line of where a step is, at most ten times a second."""
    global _last, _shown
    if _stream is None:
        return
    now = time.monotonic()
    if not force and now - _last < 0.1:
        return
    _last = now
    width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
    _stream.write("\r" + text[:width].ljust(width))
    _stream.flush()
    _shown = True


def finish() -> None:
    """Clear the progress line, so that what is printed next starts on a clean line."""
    global _shown
    if _stream is None or not _shown:
        return
    width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
    _stream.write("\r" + " " * width + "\r")
    _stream.flush()
    _shown = False
