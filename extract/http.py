"""HTTP for open-data portals: timeouts, retries with backoff and jitter, size limits, and
URLs with secrets removed before they are logged, stored or put in an exception."""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

log = logging.getLogger(__name__)
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A fetch failed for good. The message names the source and never contains a secret."""


class _Redactor(logging.Filter):
    """Removes known secrets from log records of the HTTP stack: urllib3 logs every request
    line at DEBUG, query string (and so an app key passed as a parameter) included."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if any(s in text for s in self.secrets):
                for secret in self.secrets:
                    text = text.replace(secret, "***")
                record.msg, record.args = text, ()
        return True


_REDACTOR = _Redactor()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
    logging.getLogger(_name).addFilter(_REDACTOR)


def register_secret(secret: str) -> None:
    """Redact this secret from the HTTP stack's own log lines from now on."""
    if secret:
        _Redactor.secrets.add(secret)


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
    sleep: Callable[[float], None] = time.sleep

    def add_secret(self, secret: str) -> None:
        self.secrets.append(secret)
        register_secret(secret)

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
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:  # incl. a body cut off
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
        self.sleep(delay)


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
