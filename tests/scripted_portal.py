"""A real HTTP server on 127.0.0.1 that misbehaves on demand: each path answers from a script
of responses (status, headers, body, delay, a body cut short), and every request is recorded,
headers included, for the test to check what the client sent."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    ctype: str = "application/json; charset=utf-8"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    cut_short: bool = False          # promise more bytes than are sent, then hang up

    def payload(self) -> bytes:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body, ensure_ascii=False).encode("utf-8")
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Seen:
    path: str
    query: dict
    headers: dict


class ScriptedPortal:
    def __init__(self):
        self.scripts: dict[str, list] = {}
        self.seen: list[Seen] = []
        portal = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                portal.seen.append(Seen(url.path, {k: v[-1] for k, v in
                                                   parse_qs(url.query).items()},
                                        dict(self.headers.items())))
                script = portal.scripts.get(url.path)
                if not script:
                    reply = Reply(404, "<html>not found</html>", "text/html")
                else:
                    reply = script(portal.seen[-1]) if callable(script) else (
                        script.pop(0) if len(script) > 1 else script[0])
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.payload()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.ctype)
                    self.send_header("Content-Length",
                                     str(len(body) * 2 if reply.cut_short else len(body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                    if reply.cut_short:
                        self.wfile.flush()
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def on(self, path: str, *replies) -> None:
        """Answer `path` with these replies in turn (the last one repeats), or with a
        function of the request."""
        self.scripts[path] = replies[0] if len(replies) == 1 and callable(replies[0]) \
            else list(replies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
