"""What another account on the machine can open in var/: the published data and the reports,
not the department files, the warehouse or the portal's accounts, hashes and session key.
(Before, all of var/ was world-readable.)"""
from __future__ import annotations

import os
import stat
import subprocess
import sys

from citycheck.serving import department_portal as dp
from common.config import SAMPLE_DIR


def _others(path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & 0o077


def test_department_files_and_accounts_are_private_and_the_publication_is_not(built):
    data = built.data_dir
    # a run's own folders: the archive, landed rows and the warehouse (every department's
    # figures) are for this account only
    for folder in (built.archive_dir, built.landing_dir, built.warehouse_path.parent,
                   built.inbox_dir):
        assert _others(folder) == 0, (folder, oct(folder.stat().st_mode))
    # what readers are for stays readable
    for folder in (built.published_dir, built.reports_dir):
        assert stat.S_IMODE(folder.stat().st_mode) & 0o005 == 0o005, folder
    # the portal: accounts with password hashes, the session key
    dp.add_user(built, "someone", "office", "371000", password="long-enough-pass")
    portal = dp.portal_dir(built)
    assert _others(portal) == 0
    assert _others(portal / "portal.db") == 0
    # a file sent again through the CLI lands in the private archive, whatever the umask
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(data)}
    sample = next((SAMPLE_DIR / "submissions").glob("*.xlsx"))
    done = subprocess.run([sys.executable, "-m", "citycheck.cli", "ingest", str(sample)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert _others(built.archive_dir) == 0


def test_an_operators_drop_folder_keeps_its_modes(tmp_path, monkeypatch):
    from common.config import Settings

    shared = tmp_path / "drop"
    shared.mkdir(mode=0o775)
    shared.chmod(0o775)
    monkeypatch.setenv("CITYCHECK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CITYCHECK_INBOX_DIR", str(shared))
    settings = Settings.from_env()
    settings.ensure_dirs()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o775
    assert _others(settings.archive_dir) == 0
