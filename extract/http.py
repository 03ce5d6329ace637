"""HTTP for open-data portals: timeouts, retries with backoff and jitter, size limits, and
URLs with secrets removed before they are logged, stored or put in an exception."""
from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

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


class _CrossHostSecret(Exception):
    pass


class _Session(requests.Session):
    """requests strips only `Authorization` when a redirect leaves the host it was sent to
    (Session.should_strip_auth). A portal key travels in a custom header or in the query:
    the custom headers named in `secret_headers` are stripped the same way, and a redirect
    to another host whose URL still carries a key is refused."""

    def __init__(self):
        super().__init__()
        self.secret_headers: set[str] = set()
        self.secrets: list[str] = []
        self.max_redirects = 10

    def rebuild_auth(self, prepared_request, response):
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in self.secret_headers:
                prepared_request.headers.pop(name, None)
            if any(s and s in (prepared_request.url or "") for s in self.secrets):
                raise _CrossHostSecret(urlsplit(prepared_request.url).hostname)


@dataclass
class HttpClient:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    # the longest a portal's Retry-After is obeyed (seconds, or an HTTP date): beyond it
    # the fetch fails rather than waiting (CITYCHECK_FETCH_MAX_RETRY_AFTER)
    max_retry_after: float = field(default_factory=lambda: float(
        os.environ.get("CITYCHECK_FETCH_MAX_RETRY_AFTER", 120)))
    max_bytes: int = 50 * 1024 * 1024
    secrets: list[str] = field(default_factory=list)
    session: requests.Session = field(default_factory=_Session)
    sleep: Callable[[float], None] = time.sleep

    def add_secret(self, secret: str) -> None:
        """A secret to redact everywhere and never to send to another host."""
        self.secrets.append(secret)
        register_secret(secret)
        if isinstance(self.session, _Session):
            self.session.secrets.append(secret)

    def protect_header(self, name: str) -> None:
        """A request header that carries a secret: stripped when a redirect leaves the
        portal's host."""
        if isinstance(self.session, _Session):
            self.session.secret_headers.add(name)

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
            except requests.TooManyRedirects:
                raise FetchError(f"{source}: {shown} redirected more than "
                                 f"{self.session.max_redirects} times (a redirect loop?); "
                                 "check the source's URL in extract/sources.yml") from None
            except _CrossHostSecret as exc:
                raise FetchError(f"{source}: {shown} redirected to another host ({exc}) with "
                                 "the access key in the URL; refused, the key was not sent "
                                 "there. Register the new address if it is the portal's") from None
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:  # incl. a body cut off
                reason = f"{exc.__class__.__name__}"
                if attempt == self.retries:
                    raise FetchError(f"{source}: {reason} on {shown} after "
                                     f"{attempt + 1} attempts") from None
                self._sleep(attempt, None, source, shown, reason)
                continue
            except requests.RequestException as exc:   # an invalid URL or redirect target
                raise FetchError(f"{source}: {exc.__class__.__name__} on {shown}: "
                                 f"{self.redact(str(exc))}") from None
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
        """Back off before the next attempt: as long as the portal's Retry-After asks
        (seconds or an HTTP date, parsed by urllib3's Retry), else exponentially with
        jitter. A Retry-After beyond max_retry_after fails the fetch instead."""
        delay = min(self.max_backoff, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)
        if retry_after:
            try:
                asked = Retry().parse_retry_after(retry_after)
            except InvalidHeader:
                asked = None
            if asked is not None:
                if asked > self.max_retry_after:
                    raise FetchError(f"{source}: {shown} answered {reason} and asks to wait "
                                     f"{asked:.0f} s (Retry-After: {retry_after}), longer than "
                                     f"the {self.max_retry_after:.0f} s allowed "
                                     "(CITYCHECK_FETCH_MAX_RETRY_AFTER); try again later")
                delay = asked
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
