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
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from citycheck.config import SOURCES_FILE, Settings
from citycheck.reference import Reference, load_reference
from citycheck.warehouse import connect
from extract.http import FetchError, HttpClient
from extract.numbers import clean, parse_number, parse_year
from extract.registry import Source, load_sources


@dataclass
class FetchResult:
    source: str
    fetch_id: str
    status: str                 # loaded | unchanged | failed
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


class Fetcher:
    def __init__(self, settings: Settings, client: HttpClient | None = None):
        self.settings = settings
        self.client = client or HttpClient()

    def _auth(self, source: Source) -> tuple[dict, dict]:
        if not source.auth:
            return {}, {}
        secret = os.environ.get(source.auth["env"], "")
        if not secret:
            return {}, {}  # public access; the portal says if a key is needed
        self.client.secrets.append(secret)
        if source.auth.get("kind") == "query":
            return {source.auth["param"]: secret}, {}
        return {}, {source.auth.get("header", "X-App-Key"): secret}

    def url(self, source: Source) -> str:
        return source.url.format(portal_url=self.settings.portal_url.rstrip("/"))

    def fetch_records(self, source: Source) -> tuple[list[dict], bytes, dict]:
        """Return (records, raw payload bytes, response metadata)."""
        params, headers = self._auth(source)
        base = self.url(source)
        shown = self.client.redact(base)
        meta: dict = {}
        if source.kind == "csv":
            resp = self.client.get(source.name, base, params, headers)
            meta = {"status": resp.status_code, "etag": resp.headers.get("ETag"),
                    "last_modified": resp.headers.get("Last-Modified")}
            return _csv_records(source, resp.content), resp.content, meta
        pages: list = []
        records: list[dict] = []
        if source.kind == "json_pages":
            pg = source.pagination
            page = pg.get("first_page", 1)
            for _ in range(pg.get("max_pages", source.max_pages)):
                resp = self.client.get(source.name, base,
                                       {**source.params, **params, pg.get("page_param", "page"): page},
                                       headers)
                body = _json(source, resp, shown)
                pages.append(body)
                try:
                    items = _dig(body, source.records_path)
                except KeyError as exc:
                    raise FetchError(f"{source.name}: response has no '{exc.args[0]}' "
                                     f"(records_path {source.records_path})") from None
                records += items
                meta = {"status": resp.status_code, "etag": resp.headers.get("ETag"),
                        "last_modified": resp.headers.get("Last-Modified")}
                total_pages = _dig(body, source.pages_path) if source.pages_path else None
                if not items or (total_pages is not None and page >= int(total_pages)):
                    break
                page += 1
            else:
                raise FetchError(f"{source.name}: more than {source.max_pages} pages; raise "
                                 "max_pages if the dataset really is that large")
        elif source.kind == "ckan":
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
            offset = 0
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
                meta = {"status": resp.status_code, "etag": resp.headers.get("ETag"),
                        "last_modified": resp.headers.get("Last-Modified")}
                if not items or offset >= int(result.get("total", offset)):
                    break
            else:
                raise FetchError(f"{source.name}: more than {source.max_pages} pages")
        else:
            raise FetchError(f"{source.name}: unknown kind '{source.kind}' "
                             "(json_pages, ckan or csv)")
        payload = json.dumps(pages, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return records, payload, meta


def _csv_records(source: Source, data: bytes) -> list[dict]:
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
    ref = ref or load_reference()
    settings.ensure_dirs()
    fetcher = Fetcher(settings, client)
    fetch_id = uuid.uuid4().hex
    fetched_at = datetime.now(UTC).replace(tzinfo=None)
    shown_url = fetcher.client.redact(fetcher.url(source))
    result = FetchResult(source.name, fetch_id, "failed", shown_url)
    try:
        records, payload, meta = fetcher.fetch_records(source)
        check_fields(source, records)
    except FetchError as exc:
        result.message = fetcher.client.redact(str(exc))
        _record_fetch(settings, result, fetched_at, {}, None, None, [])
        raise FetchError(result.message) from None
    content_hash = hashlib.sha256(payload).hexdigest()
    result.records = len(records)
    with connect(settings.warehouse_path) as con:
        last = con.execute(
            "select content_hash from raw.open_data_fetches where source_name = ? and "
            "status = 'loaded' order by fetched_at desc limit 1", [source.name]).fetchone()
    if last and last[0] == content_hash:
        result.status = "unchanged"
        result.message = "payload identical to the last one loaded; nothing added"
        _record_fetch(settings, result, fetched_at, meta, content_hash, None, [])
        return result
    landing = settings.landing_dir / "open_data" / source.name
    landing.mkdir(parents=True, exist_ok=True)
    suffix = ".csv" if source.kind == "csv" else ".json"
    payload_path = landing / f"{fetched_at:%Y%m%dT%H%M%S}_{fetch_id}{suffix}"
    payload_path.write_bytes(payload)
    obs = observations(source, records, ref)
    result.accepted = sum(o["status"] == "accepted" for o in obs)
    result.rejected = len(obs) - result.accepted
    result.status = "loaded"
    result.message = (f"{len(records)} records, {result.accepted} observations accepted, "
                      f"{result.rejected} rejected")
    _record_fetch(settings, result, fetched_at, meta, content_hash, payload_path, obs)
    return result


def _record_fetch(settings: Settings, result: FetchResult, fetched_at: datetime, meta: dict,
                  content_hash: str | None, payload_path: Path | None, obs: list[dict]) -> None:
    with connect(settings.warehouse_path) as con:
        con.execute("begin transaction")
        try:
            con.execute(
                "insert into raw.open_data_fetches values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [result.fetch_id, result.source, result.url, meta.get("status"),
                 payload_path.stat().st_size if payload_path else None, content_hash,
                 fetched_at, meta.get("etag"), meta.get("last_modified"),
                 str(payload_path) if payload_path else None, result.status, result.records,
                 result.accepted, result.rejected, result.message])
            if obs:
                frame = pd.DataFrame(obs)
                frame.insert(0, "fetch_id", result.fetch_id)
                frame.insert(1, "source_name", result.source)
                frame["year"] = frame["year"].astype("Int32")
                frame["value"] = frame["value"].astype("Float64")
                frame["loaded_at"] = fetched_at
                con.register("incoming_obs", frame)
                con.execute("insert into raw.open_data_observations by name "
                            "select * from incoming_obs")
                con.unregister("incoming_obs")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise


def fetch_all(settings: Settings, names: list[str] | None = None) -> list[FetchResult]:
    """Fetch every registered source (or the named ones). Raises after trying all of them."""
    sources = load_sources()
    known = {s.name for s in sources}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise FetchError(f"unknown source {unknown}; registered: {sorted(known)}")
    results, errors = [], []
    ref = load_reference()
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
