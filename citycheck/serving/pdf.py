"""Pages printed to PDF by headless Chromium kept open: a pass over many reports starts one
browser per worker and prints each page over the DevTools protocol (`Page.printToPDF`, the
`websockets` package Airflow brings), instead of starting Chromium for every page — its start
was ~2.8 s of the 3.6 s a report cost at M.

The PDF is what `chromium --headless --print-to-pdf --no-pdf-header-footer` makes of the page:
the page's own CSS page size and margins (`@page { size: A4 }`), no header or footer. Each
PDF is written beside its page under a temporary name and moved into place. When the browser
cannot be started or fails, the page is printed by the command line instead
(`fallback`: report.print_pdf), so a PDF is never lost to this shortcut.

The PDF is untagged unless CITYCHECK_PDF_TAGGED=1: the HTML page is the accessible form of a
report (every chart described, every number in a table), and Chromium's tags (its
accessibility tree written into the PDF) were 40 % of a print and 2.7× the file at M
(1.04 s and 3.0 MB → 0.57 s and 1.1 MB for an 81-page report).
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import re
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def start_devtools(binary: str, profile: str, *flags: str) -> tuple[subprocess.Popen, str]:
    """Headless Chromium with its DevTools on a free loopback port (its profile in `profile`):
    the process, and the WebSocket URL of its page. Also the test browser's start
    (tests/cdp.py)."""
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", *flags, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = found and found[1]
        if not port:
            raise RuntimeError("Chromium did not open its DevTools port")
        targets = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json", timeout=10).read())
        return proc, next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
    except Exception:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
        raise


def tagged() -> bool:
    """Whether PDFs carry Chromium's accessibility tags (CITYCHECK_PDF_TAGGED=1)."""
    return os.environ.get("CITYCHECK_PDF_TAGGED", "").strip().lower() in ("1", "true", "yes")


class _Browser:
    """One headless Chromium and its page, driven over DevTools."""

    def __init__(self, binary: str) -> None:
        from websockets.sync.client import connect

        self._profile = tempfile.TemporaryDirectory(prefix="citycheck-pdf-",
                                                    ignore_cleanup_errors=True)
        self.ws = None
        try:
            self.proc, url = start_devtools(binary, self._profile.name)
        except Exception:
            self._profile.cleanup()
            raise
        try:
            self.ws = connect(url, max_size=None)
            self._ids = itertools.count(1)
            self.send("Page.enable")
        except Exception:
            self.close()
            raise

    def send(self, method: str, wait_event: str | None = None, **params) -> dict:
        """A command's result; with `wait_event`, also wait for that event after it."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        result, seen = None, wait_event is None
        while result is None or not seen:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error'].get('message')}")
                result = msg.get("result", {})
            elif wait_event and msg.get("method") == wait_event:
                seen = True
        return result

    def print(self, html: Path, pdf: Path) -> None:
        self.send("Page.navigate", wait_event="Page.loadEventFired",
                  url=html.resolve().as_uri())
        data = self.send("Page.printToPDF", preferCSSPageSize=True,
                         displayHeaderFooter=False, generateTaggedPDF=tagged())["data"]
        tmp = pdf.with_suffix(".pdf.tmp")
        tmp.write_bytes(base64.b64decode(data))
        tmp.replace(pdf)

    def close(self) -> None:
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            self.proc.kill()
            self.proc.wait(timeout=30)
            if self.proc.stderr:
                self.proc.stderr.close()
            self._profile.cleanup()


class Printers:
    """Browsers lent to one thread at a time, each started when no idle one is left (as many
    as the threads printing at once)."""

    def __init__(self, binary: str, fallback) -> None:
        self._binary = binary
        self._fallback = fallback       # (html, pdf) -> None or why not: one Chromium each
        self._idle: queue.Queue[_Browser] = queue.Queue()
        self._started: list[_Browser] = []

    def print(self, html: Path, pdf: Path) -> str | None:
        """None, or why there is no PDF (as the fallback says it)."""
        browser = None
        try:
            try:
                browser = self._idle.get_nowait()
            except queue.Empty:
                browser = _Browser(self._binary)
                self._started.append(browser)
            browser.print(html, pdf)
            return None
        except Exception:       # noqa: BLE001 - the command line prints it instead
            if browser is not None:
                self._started.remove(browser)
                browser.close()
                browser = None
            return self._fallback(html, pdf)
        finally:
            if browser is not None:
                self._idle.put(browser)

    def close(self) -> None:
        for browser in self._started:
            browser.close()
        self._started.clear()


@contextmanager
def printers(binary: str, fallback):
    pool = Printers(binary, fallback)
    try:
        yield pool
    finally:
        pool.close()
