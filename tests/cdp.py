"""Drive headless Chromium through the DevTools protocol (the `websockets` package Airflow
already brings): load a page, fill a form, choose a file, click, read the page, screenshot.
For pages a person acts on (the department portal); tests/browser.py covers pages one reads."""
from __future__ import annotations

import base64
import itertools
import json
import tempfile
import time
from pathlib import Path

from citycheck.serving.pdf import start_devtools
from tests.browser import CHROMIUM

# What DevTools answers a command that reached a page while it was being replaced (a
# navigation under way): the command is to be asked again of the new page, not a failure.
NAVIGATING = {"Inspected target navigated or closed", "Cannot find context with specified id"}


class Navigating(Exception):
    """The page was being replaced when the command arrived."""


class Browser:
    def __init__(self, width: int = 1200, height: int = 900) -> None:
        from websockets.sync.client import connect

        # Chromium may still write its profile while it exits: a leftover file in the temp
        # folder is no test failure
        self._profile = tempfile.TemporaryDirectory(prefix="citycheck-chromium-",
                                                    ignore_cleanup_errors=True)
        self.proc, url = start_devtools(CHROMIUM, self._profile.name, "--hide-scrollbars",
                                        f"--window-size={width},{height}")
        self.ws = connect(url, max_size=None)
        self._ids = itertools.count(1)
        self.console_errors: list[str] = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        if width < 500:     # a window narrower than Chromium's least: a phone's viewport
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=True)

    def send(self, method: str, **params) -> dict:
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("method") == "Runtime.exceptionThrown":
                self.console_errors.append(json.dumps(msg["params"])[:300])
            if msg.get("method") == "Runtime.consoleAPICalled" and \
                    msg["params"].get("type") == "error":
                self.console_errors.append(json.dumps(msg["params"])[:300])
            if msg.get("id") == msg_id:
                if "error" in msg and msg["error"].get("message") in NAVIGATING:
                    raise Navigating(msg["error"]["message"])
                assert "error" not in msg, msg
                return msg.get("result", {})

    def js(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                         awaitPromise=True)["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if self.js(f"document.readyState === 'complete' && !!({expression})"):
                    return
            except Navigating:      # asked while the page was being replaced: not yet
                pass
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.2)

    def goto(self, url: str) -> None:
        """Load `url` and wait for the new document (not the one being left)."""
        self.js("window.__citycheck_left = true")
        self.send("Page.navigate", url=url)
        self.wait_for("!window.__citycheck_left && document.body")

    def submit(self, selector: str, then: str = "document.body", seconds: float = 30) -> None:
        """Click a button that sends a form, and wait for the page it leads to (where `then`
        holds), not the page being left."""
        self.js("window.__citycheck_left = true")
        self.click(selector)
        self.wait_for(f"!window.__citycheck_left && ({then})", seconds)

    def fill(self, selector: str, value: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def type_into(self, selector: str, value: str) -> None:
        """Type as a person would (focus, then key input): for pages whose scripts (React)
        ignore a value set from outside."""
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=value)

    def choose_file(self, selector: str, path: Path) -> None:
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(path)])

    def click(self, selector: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).click()")

    def text(self) -> str:
        return self.js("document.body.innerText")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png",
                         captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self._profile.cleanup()
