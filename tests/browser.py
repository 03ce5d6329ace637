"""Headless Chromium (Debian's `chromium`; `make setup` installs it with fonts-noto-cjk where
it can): load a page, keep its DOM and a screenshot, and say whether the screenshot shows
anything."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed: `make setup` installs it as "
                             "root (apt-get install chromium fonts-noto-cjk); see README")


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=120)


def load(page: Path, screenshot: Path, width: int = 1280, height: int = 1000
         ) -> tuple[str, str]:
    """(the DOM after loading, Chromium's log) of a file page; its screenshot written."""
    shot = _chromium(f"--screenshot={screenshot}", f"--window-size={width},{height}",
                     page.resolve().as_uri())
    assert screenshot.exists(), shot.stderr[-2000:]
    dom = _chromium("--dump-dom", page.resolve().as_uri())
    return dom.stdout, shot.stderr + dom.stderr


def shows_something(screenshot: Path) -> bool:
    """A screenshot with text on it: more than a handful of colours, not one flat fill."""
    from PIL import Image

    with Image.open(screenshot) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20) or []
    return len(colours) > 50


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
