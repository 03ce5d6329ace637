"""Named points where the fault-injection tests kill the process or fail a write
(docs/reliability.md).

`crash_point("ingest.in_transaction")` does nothing unless CITYCHECK_CRASH_AT names that
point; then the process sends itself SIGKILL on the spot, as an out-of-memory kill, a lost
worker or a power cut would: no `finally`, no `except`, no atexit handler runs. The tests
start the real CLI with the variable set, then run the normal recovery and check what a user
would find.

`CITYCHECK_CRASH_AT=ingest.in_transaction:3` kills at the third time the point is reached
(the third file of a batch, say).

`CITYCHECK_TERM_AT` names a point where the process sends itself SIGTERM instead (Airflow's
task timeout, `kill`, a container stopping, arriving there): the command's handler stops it
(citycheck/cli.py), and the tests check it says so in one line, exits 143 and that the next
run or `citycheck recover` finishes.
"""
from __future__ import annotations

import os
import signal

_reached: dict[str, int] = {}


def crash_point(name: str) -> None:
    for variable, sent in (("CITYCHECK_CRASH_AT", signal.SIGKILL),
                           ("CITYCHECK_TERM_AT", signal.SIGTERM)):
        wanted = os.environ.get(variable)
        if not wanted:
            continue
        point, _, nth = wanted.partition(":")
        if point != name:
            continue
        _reached[name] = _reached.get(name, 0) + 1
        if _reached[name] >= int(nth or 1):
            os.kill(os.getpid(), sent)


def fail_point(name: str) -> None:
    """Raise the error a full disk gives (ENOSPC) where CITYCHECK_FAIL_AT names this point:
    for the outputs a file-size limit cannot single out (docs/reliability.md).

    Where CITYCHECK_FILL_DISK_AT names it, fill the disk for real instead: a file beside the
    data (`.filler` in CITYCHECK_DATA_DIR) grows until the file system says it is full, and
    the step goes on, meeting a full disk wherever it writes next (the tests mount a small
    tmpfs for this, and remove the file to free the space)."""
    if os.environ.get("CITYCHECK_FILL_DISK_AT") == name:
        _fill_disk()
    if os.environ.get("CITYCHECK_FAIL_AT") == name:
        import errno

        raise OSError(errno.ENOSPC, f"No space left on device (injected at {name})")


def _fill_disk() -> None:
    import errno
    from pathlib import Path

    filler = Path(os.environ.get("CITYCHECK_DATA_DIR", ".")) / ".filler"
    block = b"\0" * (1 << 16)
    with open(filler, "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
