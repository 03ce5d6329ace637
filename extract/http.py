"""HTTP for open-data portals: timeouts, retries with backoff and jitter, size limits, and
URLs with secrets removed before they are logged, stored or put in an exception."""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

log = logging.getLogger(__name__)
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A fetch failed for good. The message names the source and never contains a secret."""


@dataclass
class HttpClient:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_bytes: int = 50 * 1024 * 1024
    secrets: list[str] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def get(self, source: str, url: str, params: dict | None = None,
            headers: dict | None = None) -> requests.Response:
        full = _with_params(url, params or {})
        shown = self.redact(full)
        for attempt in range(self.retries + 1):
            try:
                resp = self.session.get(full, headers=headers or {}, stream=True,
                                        timeout=(self.connect_timeout, self.read_timeout))
                body = _read_limited(resp, self.max_bytes)
            except _SizeExceeded:
                raise FetchError(f"{source}: response from {shown} is larger than "
                                 f"{self.max_bytes:,} bytes") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = f"{exc.__class__.__name__}"
                if attempt == self.retries:
                    raise FetchError(f"{source}: {reason} on {shown} after "
                                     f"{attempt + 1} attempts") from None
                self._sleep(attempt, None, source, shown, reason)
                continue
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                self._sleep(attempt, resp.headers.get("Retry-After"), source, shown,
                            f"HTTP {resp.status_code}")
                continue
            if resp.status_code >= 400:
                raise FetchError(f"{source}: HTTP {resp.status_code} from {shown}"
                                 + (f" after {attempt + 1} attempts" if attempt else ""))
            resp._content = body  # the body as read, within the size limit
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep(self, attempt: int, retry_after: str | None, source: str, shown: str,
               reason: str) -> None:
        delay = min(self.max_backoff, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)
        if retry_after:
            try:
                delay = min(self.max_backoff, float(retry_after))
            except ValueError:
                pass
        log.warning("%s: %s on %s; retrying in %.2f s", source, reason, shown, delay)
        time.sleep(delay)


class _SizeExceeded(Exception):
    pass


def _read_limited(resp: requests.Response, limit: int) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        resp.close()
        raise _SizeExceeded
    chunks, size = [], 0
    for chunk in resp.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            resp.close()
            raise _SizeExceeded
        chunks.append(chunk)
    return b"".join(chunks)


def _with_params(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, str(v)) for k, v in params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
