"""A local open-data portal serving the bundled payloads the way real portals do.

`make run` starts it on 127.0.0.1 and stops it afterwards; the tests start their own. It
serves a page-numbered JSON API, a CKAN action API (package_show, datastore_search with limit
and offset) and a GBK-encoded CSV download with an ETag. Nothing here is used in production:
real sources are declared in extract/sources.yml with real URLs.

    python -m citycheck.devtools.demo_portal --port 8765
"""
from __future__ import annotations

import argparse
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from common.config import SAMPLE_DIR

PORTAL_DIR = SAMPLE_DIR / "portal"
CKAN_DATASET = "weihai-air-quality-days"
CKAN_RESOURCE = "5f1e2c3a-air-quality-days-by-district"


class PortalHandler(BaseHTTPRequestHandler):
    data_dir: Path = PORTAL_DIR
    server_version = "citycheck-demo-portal/1"

    def log_message(self, fmt, *args):  # keep test and demo output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status: int = 200) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8")

    def do_GET(self):  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/v1/statistics/population":
            items = json.loads((self.data_dir / "statistics_population.json").read_text("utf-8"))
            per_page = int(q.get("per_page", 10))
            page = int(q.get("page", 1))
            pages = max(1, -(-len(items) // per_page))
            chunk = items[(page - 1) * per_page: page * per_page]
            return self._json({"code": 0, "data": {"items": chunk, "page": page,
                                                   "pages": pages, "total": len(items)}})
        if url.path == "/ckan/api/3/action/package_show":
            if q.get("id") != CKAN_DATASET:
                return self._json({"success": False, "error": {"message": "Not found"}}, 404)
            return self._json({"success": True, "result": {
                "name": CKAN_DATASET, "title": "威海市各区市空气质量优良天数",
                "resources": [{"id": CKAN_RESOURCE, "format": "JSON", "datastore_active": True}]}})
        if url.path == "/ckan/api/3/action/datastore_search":
            if q.get("resource_id") != CKAN_RESOURCE:
                return self._json({"success": False, "error": {"message": "Not found"}}, 404)
            records = json.loads((self.data_dir / "ckan_air_quality.json").read_text("utf-8"))
            limit, offset = int(q.get("limit", 100)), int(q.get("offset", 0))
            return self._json({"success": True, "result": {
                "resource_id": CKAN_RESOURCE, "records": records[offset:offset + limit],
                "limit": limit, "offset": offset, "total": len(records)}})
        if url.path == "/downloads/bulletin_urbanisation.csv":
            body = (self.data_dir / "bulletin_urbanisation.csv").read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                return self._send(304, b"", "text/csv; charset=gbk", {"ETag": etag})
            return self._send(200, body, "text/csv; charset=gbk", {"ETag": etag})
        return self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")


class Portal:
    """Run the portal in a background thread: `with Portal() as url: ...`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: Path = PORTAL_DIR):
        handler = type("Handler", (PortalHandler,), {"data_dir": data_dir})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> str:
        self.thread.start()
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = Portal(args.host, args.port).server
    print(f"demo portal on http://{args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
