"""Small facts about processes on this machine, shared by intake and the stack."""
from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process with this id runs (one of another account's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
