"""Open-data sources: fetch what the registry (extract/sources.yml) declares and land it.

Each fetch lands the payload as a file, one manifest row in raw.open_data_fetches and one row
per (record, measure) in raw.open_data_observations, in one transaction. A payload identical
to the last one loaded for the source adds nothing (status `unchanged`).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from common.config import SOURCES_FILE, Settings
from common.engine import engine_for
from common.reference import Reference, load_reference
from extract.http import FetchError, HttpClient
from extract.numbers import clean, parse_number, parse_year
from extract.registry import Source, load_sources

log = logging.getLogger(__name__)


@dataclass
class FetchResult:
    source: str
    fetch_id: str
    status: str                 # loaded | unchanged | not_modified | failed
    url: str
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    message: str = ""


def _dig(obj, path: str | None):
    for key in (path.split(".") if path else []):
        if not isinstance(obj, dict) or key not in obj:
            raise KeyError(key)
        obj = obj[key]
    return obj


def _json(source: Source, resp, shown: str):
    ctype = resp.headers.get("Content-Type", "")
    if "json" not in ctype:
        hint = " (an HTML error page?)" if "html" in ctype else ""
        raise FetchError(f"{source.name}: expected JSON from {shown}, got Content-Type "
                         f"'{ctype or 'none'}'{hint}")
    try:
        return json.loads(resp.content.decode(resp.encoding or "utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"{source.name}: invalid or truncated JSON from {shown}: {exc}") from None


class NotModified(Exception):
    """The portal answered 304: nothing changed since the last fetch."""

    def __init__(self, meta: dict):
        super().__init__("not modified")
        self.meta = meta


def _meta(resp) -> dict:
    return {"status": resp.status_code, "etag": resp.headers.get("ETag"),
            "last_modified": resp.headers.get("Last-Modified")}


class Fetcher:
    def __init__(self, settings: Settings, client: HttpClient | None = None):
        self.settings = settings
        self.client = client or HttpClient()

    def _secret(self, source: Source) -> str:
        """The secret a source's auth refers to: an environment variable or the password of
        an Airflow connection. Registered with the client so it is redacted everywhere."""
        auth = source.auth or {}
        if "airflow_conn" in auth:
            from airflow.sdk import BaseHook

            secret = BaseHook.get_connection(auth["airflow_conn"]).password or ""
        else:
            secret = os.environ.get(auth["env"], "")
        if secret:
            self.client.add_secret(secret)
        return secret

    def _auth(self, source: Source) -> tuple[dict, dict]:
        if not source.auth:
            return {}, {}
        secret = self._secret(source)
        if not secret:
            return {}, {}  # public access; the portal says if a key is needed
        if source.auth.get("kind") == "query":
            return {source.auth["param"]: secret}, {}
        header = source.auth.get("header", "X-App-Key")
        self.client.protect_header(header)
        return {}, {header: secret}

    def url(self, source: Source) -> str:
        return source.url.format(portal_url=self.settings.portal_url.rstrip("/"))

    def fetch_records(self, source: Source, validators: dict | None = None,
                      ) -> tuple[list[dict], bytes, dict]:
        """Return (records, raw payload bytes, response metadata). Raises NotModified when a
        download's validators (ETag, Last-Modified) still hold."""
        params, headers = self._auth(source)
        base = self.url(source)
        shown = self.client.redact(base)
        if source.kind in ("csv", "xlsx"):
            return self._download(source, base, shown, params, headers, validators or {})
        read = (self._ckan if source.kind == "ckan" else self._json_pages)
        return self._consistently(source, lambda: read(source, base, shown, params, headers))

    def _consistently(self, source: Source, read) -> tuple[list[dict], bytes, dict]:
        """A paged read whose pages agree with each other: no record on two pages, the same
        total (of records or of pages) and the same version (ETag, Last-Modified) on every
        page, and the first page the same again once the last was read (records inserted or
        removed at the front shift every page after). A read that fails this is read again
        from the start, up to READS times; then the fetch fails, saying what moved, and
        nothing lands."""
        problem = None
        for _ in range(READS):
            records, payload, meta, pages = read()
            problem = _moved(source, records, pages)
            if problem is None:
                return records, payload, meta
            log.warning("%s: %s; reading it again from the start", source.name, problem)
        raise FetchError(f"{source.name}: the portal's data changed while it was read page by "
                         f"page ({problem}), {READS} times in a row; nothing landed, the next "
                         "fetch tries again")

    def _download(self, source, base, shown, params, headers, validators):
        conditional = dict(headers)
        if validators.get("etag"):
            conditional["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            conditional["If-Modified-Since"] = validators["last_modified"]
        resp = self.client.get(source.name, base, {**source.params, **params}, conditional)
        meta = _meta(resp)
        if resp.status_code == 304:
            raise NotModified(meta)
        body = resp.content
        ctype = resp.headers.get("Content-Type", "")
        if "html" in ctype or body.lstrip()[:15].lower().startswith((b"<!doctype html",
                                                                      b"<html")):
            raise FetchError(f"{source.name}: {shown} answered HTTP {resp.status_code} with an "
                             f"HTML page instead of a {source.kind.upper()} file (the portal is "
                             "down, or the download moved)")
        if source.kind == "csv":
            return _csv_records(source, body), body, meta
        return _xlsx_records(source, body, self.settings.max_unpacked_bytes), body, meta

    def _json_pages(self, source, base, shown, params, headers):
        pg = source.pagination
        style = pg.get("style", "page")
        page = pg.get("first_page", 1)
        offset, cursor, seen_cursors = 0, None, set()
        size = pg.get("page_size", source.page_size)
        max_pages = pg.get("max_pages", source.max_pages)
        pages, records, meta, previous = [], [], {}, None
        seen: list[dict] = []          # what each page said of the whole: totals, version
        first_query = None
        for n in range(1, max_pages + 1):
            query = {**source.params, **params}
            if style == "page":
                query[pg.get("page_param", "page")] = page
            elif style == "offset":
                query[pg.get("offset_param", "offset")] = offset
                query[pg.get("limit_param", "limit")] = size
            elif cursor is not None:
                query[pg.get("cursor_param", "cursor")] = cursor
            if first_query is None:
                first_query = dict(query)
            resp = self.client.get(source.name, base, query, headers)
            body = _json(source, resp, shown)
            pages.append(body)
            meta = _meta(resp)
            seen.append({"version": (meta.get("etag"), meta.get("last_modified")),
                         "records": _dig_optional(body, pg.get("total_path")),
                         "pages": _dig_optional(body, source.pages_path)})
            try:
                items = _dig(body, source.records_path)
            except KeyError as exc:
                raise FetchError(f"{source.name}: response has no '{exc.args[0]}' "
                                 f"(records_path {source.records_path}); the portal changed "
                                 f"its format: update {SOURCES_FILE.name}") from None
            if not isinstance(items, list):
                raise FetchError(f"{source.name}: '{source.records_path}' is not a list of "
                                 "records")
            if items and items == previous:
                raise FetchError(f"{source.name}: page {n} repeats page {n - 1}: the portal "
                                 f"ignores the {style} parameter; check the pagination in "
                                 f"{SOURCES_FILE.name}. Nothing landed")
            previous = items
            records += items
            if not items:
                break
            if style == "page":
                total_pages = _dig(body, source.pages_path) if source.pages_path else None
                if total_pages is not None and page >= int(total_pages):
                    break
                page += 1
            elif style == "offset":
                offset += len(items)
                total = _dig_optional(body, pg.get("total_path"))
                if (total is not None and offset >= int(total)) or len(items) < size:
                    break
            else:
                following = _dig_optional(body, pg.get("cursor_path"))
                if not following:
                    break
                if following == cursor or following in seen_cursors:
                    raise FetchError(f"{source.name}: the cursor did not advance after page "
                                     f"{n} ('{following}' again): the portal repeats itself; "
                                     "stopped before looping for ever, nothing landed")
                seen_cursors.add(following)
                cursor = following
        else:
            raise FetchError(f"{source.name}: more than {max_pages} pages; raise max_pages in "
                             f"{SOURCES_FILE.name} if the dataset really is that large")
        if len(pages) > 1:     # the first page again: did the front move while we paged?
            again = _json(source, self.client.get(source.name, base, first_query, headers),
                          shown)
            seen.append({"first_page_again": _dig_optional(again, source.records_path),
                         "first_page": _dig_optional(pages[0], source.records_path)})
        payload = json.dumps(pages, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return records, payload, meta, seen

    def _ckan(self, source, base, shown, params, headers):
        resp = self.client.get(source.name, f"{base}/package_show",
                               {"id": source.dataset, **params}, headers)
        package = _json(source, resp, shown)
        if not package.get("success"):
            raise FetchError(f"{source.name}: CKAN package_show failed for "
                             f"'{source.dataset}': {package.get('error')}")
        resources = [r for r in package["result"].get("resources", [])
                     if r.get("datastore_active")]
        if not resources:
            raise FetchError(f"{source.name}: dataset '{source.dataset}' has no datastore "
                             "resource")
        resource_id = resources[0]["id"]
        offset, pages, records, meta, seen = 0, [], [], {}, []
        for _ in range(source.max_pages):
            resp = self.client.get(source.name, f"{base}/datastore_search",
                                   {"resource_id": resource_id, "limit": source.page_size,
                                    "offset": offset, **params}, headers)
            body = _json(source, resp, shown)
            pages.append(body)
            result = body.get("result") or {}
            items = result.get("records", [])
            records += items
            offset += len(items)
            meta = _meta(resp)
            seen.append({"version": (meta.get("etag"), meta.get("last_modified")),
                         "records": result.get("total"), "pages": None})
            if not items or offset >= int(result.get("total", offset)):
                break
        else:
            raise FetchError(f"{source.name}: more than {source.max_pages} pages")
        payload = json.dumps(pages, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return records, payload, meta, seen


READS = 3      # how many times a paged source is read before its moving data fails the fetch


def _moved(source: Source, records: list[dict], seen: list[dict]) -> str | None:
    """What moved while a paged source was read, or None when its pages agree."""
    district, year = source.fields.get("district"), source.fields.get("year")
    keys: dict[tuple, int] = {}
    for record in records:
        key = (record.get(district), record.get(year)) if district and year else \
            json.dumps(record, sort_keys=True, ensure_ascii=False)
        keys[key] = keys.get(key, 0) + 1
    twice = [k for k, n in keys.items() if n > 1]
    if twice:
        return f"{len(twice)} records on two pages, e.g. {twice[0]}"
    pages = [p for p in seen if "version" in p]
    for what in ("records", "pages"):
        totals = [p[what] for p in pages if p[what] is not None]
        if len(set(map(str, totals))) > 1:
            return f"the total of {what} changed from {totals[0]} to {totals[-1]}"
    if pages and pages[-1]["records"] is not None and \
            int(pages[-1]["records"]) != len(records):
        return f"{len(records)} records read, the portal counts {pages[-1]['records']}"
    versions = {p["version"] for p in pages if any(p["version"])}
    if len(versions) > 1:
        return "the data's version (ETag, Last-Modified) changed between pages"
    again = next((p for p in seen if "first_page_again" in p), None)
    if again and again["first_page_again"] != again["first_page"]:
        return "the first page changed while the others were read"
    return None


def _dig_optional(obj, path: str | None):
    try:
        return _dig(obj, path) if path else None
    except KeyError:
        return None


def _xlsx_records(source: Source, data: bytes, max_unpacked_bytes: int) -> list[dict]:
    """The first sheet (or `sheet`) of a downloaded workbook: first non-empty row = headings."""
    import tempfile

    from extract.xlsx import WorkbookError, read_xlsx

    with tempfile.NamedTemporaryFile(suffix=".xlsx") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            sheets = read_xlsx(tmp.name, max_unpacked_bytes)
        except WorkbookError as exc:
            raise FetchError(f"{source.name}: the downloaded workbook: {exc}") from None
    sheet = next((s for s in sheets if s.name == source.sheet), None) if source.sheet else (
        sheets[0] if sheets else None)
    if sheet is None:
        raise FetchError(f"{source.name}: the workbook has no sheet '{source.sheet}'")
    rows = [r for r in sheet.rows if any(c not in (None, "") for c in r)]
    if not rows:
        return []
    heads = [str(h).strip() if h is not None else "" for h in rows[0]]  # as the portal wrote
    return [{h: (r[i] if i < len(r) else None) for i, h in enumerate(heads) if h}
            for r in rows[1:]]


UTF8_BOM = b"\xef\xbb\xbf"


def _csv_records(source: Source, data: bytes) -> list[dict]:
    if source.encoding:
        data = data.removeprefix(UTF8_BOM)   # a BOM before text the registry says is not UTF-8
    elif data.startswith(UTF8_BOM):
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FetchError(
                f"{source.name}: the CSV starts with a UTF-8 byte-order mark but is not UTF-8 "
                f"(byte 0x{data[exc.start]:02x} at offset {exc.start}); it looks like GBK/GB18030 "
                "saved with a BOM. If so, set `encoding: gb18030` for this source in "
                "extract/sources.yml; nothing was loaded") from None
    encodings = [source.encoding] if source.encoding else ["utf-8-sig", "gb18030"]
    for enc in encodings:
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise FetchError(f"{source.name}: CSV is not {' or '.join(encodings)} text")
    return list(csv.DictReader(io.StringIO(text)))


def check_fields(source: Source, records: list[dict]) -> None:
    """Schema drift: every declared field must be in every record."""
    for n, record in enumerate(records, start=1):
        missing = [f for f in source.expected_fields if f not in record]
        if missing:
            seen = ", ".join(sorted(record)) or "none"
            raise FetchError(f"{source.name}: record {n} has no field "
                             f"{', '.join(repr(m) for m in missing)} (fields present: {seen}); "
                             f"the portal changed its schema: update {SOURCES_FILE.name}")


def observations(source: Source, records: list[dict], ref: Reference) -> list[dict]:
    rows = []
    dist_field, year_field = source.fields["district"], source.fields["year"]
    for n, record in enumerate(records, start=1):
        record_json = json.dumps(record, ensure_ascii=False, sort_keys=True)
        district_text = clean(record.get(dist_field))
        year_text = clean(record.get(year_field))
        year = parse_year(record.get(year_field))
        dres = ref.resolve_district(district_text, source.city_code, year)
        for fld, indicator_code in source.measures.items():
            raw = record.get(fld)
            num = parse_number(raw)
            ind = ref.indicators[indicator_code]
            reason = None
            if year is None:
                reason = f"field '{year_field}': '{year_text}' is not a year"
            elif dres.code is None:
                reason = f"field '{dist_field}': {dres.reason}"
            elif num.error:
                reason = f"field '{fld}': {num.error}"
            elif num.value is not None and not ind.in_range(num.value):
                reason = (f"field '{fld}': {num.value:g} is outside the valid range "
                          f"{ind.range_text()} of {indicator_code}")
            rows.append({
                "record_number": n, "field_name": fld, "record_json": record_json,
                "status": "rejected" if reason else "accepted", "reason": reason,
                "indicator_code": indicator_code, "district_text": district_text,
                "district_code": dres.code, "year_text": year_text, "year": year,
                "value_text": clean(raw), "value": None if reason else num.value,
            })
    return rows


def fetch_source(source: Source, settings: Settings, client: HttpClient | None = None,
                 ref: Reference | None = None) -> FetchResult:
    """Fetch one source and land it. Raises FetchError (after recording it) on failure."""
    ref = ref or load_reference(settings.seeds_dir)
    settings.ensure_dirs()
    if client is None:
        client = HttpClient(connect_timeout=source.timeout.get("connect", 5.0),
                            read_timeout=source.timeout.get("read", 30.0),
                            retries=4 if source.retries is None else source.retries)
    fetcher = Fetcher(settings, client)
    fetch_id = uuid.uuid4().hex
    fetched_at = datetime.now(UTC).replace(tzinfo=None)
    shown_url = fetcher.client.redact(fetcher.url(source))
    result = FetchResult(source.name, fetch_id, "failed", shown_url)
    with engine_for(settings).connect() as con:
        last = con.execute(
            "select content_hash, etag, last_modified, fetched_at from raw.open_data_fetches "
            "where source_name = ? and status = 'loaded' order by fetched_at desc limit 1",
            [source.name]).fetchone()
    validators = {"etag": last[1], "last_modified": last[2]} if last else {}
    try:
        records, payload, meta = fetcher.fetch_records(source, validators)
        check_fields(source, records)
    except NotModified as nm:
        result.status = "not_modified"
        result.message = (f"HTTP 304 Not Modified: unchanged since the fetch of "
                          f"{last[3]:%Y-%m-%d %H:%M}; nothing added")
        _record_fetch(settings, result, fetched_at, nm.meta, last[0], None, [])
        return result
    except Exception as exc:  # noqa: BLE001 - any failure is this source's, recorded
        text = str(exc) if isinstance(exc, FetchError) else (
            f"{source.name}: {exc.__class__.__name__}: {exc}")
        result.message = fetcher.client.redact(text)
        _record_fetch(settings, result, fetched_at, {}, None, None, [])
        raise FetchError(result.message) from None
    content_hash = hashlib.sha256(payload).hexdigest()
    result.records = len(records)
    if last and last[0] == content_hash:
        result.status = "unchanged"
        result.message = "payload identical to the last one loaded; nothing added"
        _record_fetch(settings, result, fetched_at, meta, content_hash, None, [])
        return result
    landing = settings.storage("landing")   # the landing zone: a folder or a URL
    suffix = {"csv": ".csv", "xlsx": ".xlsx"}.get(source.kind, ".json")
    key = f"open_data/{source.name}/{fetched_at:%Y%m%dT%H%M%S}_{fetch_id}{suffix}"
    landing.write_bytes(key, payload)
    payload_path = (landing.shown(key), len(payload))
    obs = observations(source, records, ref)
    result.accepted = sum(o["status"] == "accepted" for o in obs)
    result.rejected = len(obs) - result.accepted
    result.status = "loaded"
    result.message = (f"{len(records)} records, {result.accepted} observations accepted, "
                      f"{result.rejected} rejected")
    _record_fetch(settings, result, fetched_at, meta, content_hash, payload_path, obs)
    return result


def _record_fetch(settings: Settings, result: FetchResult, fetched_at: datetime, meta: dict,
                  content_hash: str | None, payload_path: tuple[str, int] | None,
                  obs: list[dict]) -> None:
    """The fetch (`payload_path`: where its payload was kept and its size) and its
    observations, landed in one transaction."""
    frames = {"open_data_fetches": pd.DataFrame([{
        "fetch_id": result.fetch_id, "source_name": result.source, "url": result.url,
        "http_status": meta.get("status"),
        "bytes": payload_path[1] if payload_path else None,
        "content_hash": content_hash, "fetched_at": fetched_at, "etag": meta.get("etag"),
        "last_modified": meta.get("last_modified"),
        "payload_path": payload_path[0] if payload_path else None, "status": result.status,
        "records": result.records, "observations_accepted": result.accepted,
        "observations_rejected": result.rejected, "message": result.message}])}
    if obs:
        frame = pd.DataFrame(obs)
        frame.insert(0, "fetch_id", result.fetch_id)
        frame.insert(1, "source_name", result.source)
        frame["year"] = frame["year"].astype("Int32")
        frame["value"] = frame["value"].astype("Float64")
        frame["loaded_at"] = fetched_at
        frames["open_data_observations"] = frame
    engine_for(settings).land(frames)   # the fetch and its observations, in one transaction


def _require_local_portal(settings: Settings, sources: list) -> None:
    """A portal on this machine (the bundled demo one by default) that does not even accept a
    connection is not worth a minute of retries: say in one line what to start instead."""
    import socket
    from urllib.parse import urlsplit

    if not any("{portal_url}" in s.url for s in sources):
        return
    url = urlsplit(settings.portal_url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        return
    try:
        socket.create_connection((url.hostname, url.port or 80), timeout=1).close()
    except OSError:
        raise FetchError(
            f"no open-data portal answers at {settings.portal_url} (CITYCHECK_PORTAL_URL). The "
            "bundled demo portal only runs inside `make run`: start it in another terminal "
            f"with `.venv/bin/python -m citycheck.devtools.demo_portal --port {url.port or 80}`, point "
            "CITYCHECK_PORTAL_URL at your portal, or skip fetching with `citycheck run "
            "--no-fetch`") from None


def fetch_all(settings: Settings, names: list[str] | None = None) -> list[FetchResult]:
    """Fetch every registered source (or the named ones). Raises after trying all of them."""
    sources = load_sources()
    known = {s.name for s in sources}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise FetchError(f"unknown source {unknown}; registered: {sorted(known)}")
    _require_local_portal(settings, [s for s in sources if not names or s.name in names])
    results, errors = [], []
    ref = load_reference(settings.seeds_dir)
    for source in sources:
        if names and source.name not in names:
            continue
        try:
            results.append(fetch_source(source, settings, ref=ref))
        except FetchError as exc:
            errors.append(str(exc))
    if errors:
        raise FetchError("; ".join(errors))
    return results
