"""The department portal (部门填报门户): clerks log in, download their template, upload files and
read the receipt at once; the coordinating office reads the dispatch list and exports it.

    make portal                      # http://127.0.0.1:8090
    citycheck users add water_clerk --role clerk --department water --city 371000

Its own small FastAPI app, started by `make portal` beside Airflow (not an Airflow plugin:
plugin endpoints are not behind Airflow's auth, and clerks are no Airflow users; docs/portal.md).

- **Same intake.** An upload is kept in `portal/uploads/<id>/` with who sent it, then goes
  through `extract.submissions.ingest_files` (the inbox's intake: same receipt, archive and
  crash guarantees) with the clerk's department and city stated, so the intake's authorisation
  applies: a department cannot submit another's indicators. When the warehouse is busy (a run
  is writing), the upload waits in `portal/uploads/` and is taken in by a background retry and
  at the portal's next start; nothing is lost.
- **Reads the publication.** Status and the dispatch list come from the published marts (the
  read-only serving file); history and receipts from the portal's own store.
- **Secure by default.** Argon2 password hashes (pwdlib); signed session cookies (8 hours,
  SameSite=Strict, `Secure` unless CITYCHECK_PORTAL_INSECURE_COOKIES=1 for plain-HTTP
  loopback); a CSRF token on every form; upload count, size and content-type checks; at most
  5 failed logins per user and address in 15 minutes; no stack trace in any response; an audit
  log of logins and uploads (`portal/portal.db`, table `audit`).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from common.config import Settings, make_dir
from common.faults import crash_point
from common.messages import say

MAX_FILES = 10
LOGIN_FAILURES = 5             # wrong passwords for one name from one address, per window
ADDRESS_FAILURES = 20          # wrong passwords from one address, whatever the names
LOGIN_WINDOW_S = 15 * 60
SESSION_S = 8 * 3600
# Argon2id costs 64 MiB and ~0.1 s a check: at most this many run at once (the rest wait up to
# HASH_WAIT_S, then are told to try again), so that a crowd of logins cannot exhaust memory
HASH_SLOTS = int(os.environ.get("CITYCHECK_PORTAL_HASH_SLOTS", "2"))
HASH_WAIT_S = 10.0
_HASHING = threading.BoundedSemaphore(HASH_SLOTS)
ROLES = ("clerk", "office")
_INGEST = threading.Lock()     # DuckDB has one writer: the portal's uploads go one at a time

SCHEMA = """
create table if not exists users (
    username text primary key, password_hash text not null, role text not null,
    department_code text, city_code text not null, disabled integer not null default 0,
    created_at text not null);
create table if not exists audit (
    at text not null, username text, address text, event text not null, detail text);
create index if not exists audit_failures on audit (event, address, at);
-- a signed cookie names a session here: logout, a password reset or disabling the account
-- ends it at once, whatever copy of the cookie is kept
create table if not exists sessions (
    session_id text primary key, username text not null, started real not null, ended real);
create index if not exists sessions_by_user on sessions (username);
create table if not exists uploads (
    upload_id text primary key, username text not null, department_code text,
    city_code text not null, file_name text not null, received_at text not null,
    status text not null, file_hash text, receipt_json text, receipt_text text);
-- what the office and the clerks did in a round (review steps, opening and closing rounds),
-- kept here too so the pages can say which are not published yet (step_id: the review id or
-- round event id in the warehouse)
create table if not exists actions (
    step_id text primary key, username text not null, city_code text not null,
    department_code text, kind text not null, subject text not null, detail text,
    at text not null);
"""


class PortalError(Exception):
    """A portal command cannot be done; the message says why."""


def portal_dir(settings: Settings) -> Path:
    """The portal's own folder: accounts and password hashes, the session key, sessions, the
    audit, uploads — private to the account the portal runs as (0700, the database 0600)."""
    folder = settings.data_dir / "portal"
    make_dir(folder, private=True)
    return folder


def db(settings: Settings) -> sqlite3.Connection:
    path = portal_dir(settings) / "portal.db"
    if not path.exists():
        path.touch(mode=0o600)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("pragma journal_mode = wal")
    con.executescript(SCHEMA)
    return con


def audit(settings: Settings, username: str | None, address: str | None, event: str,
          detail: str = "") -> None:
    with closing(db(settings)) as con:
        con.execute("insert into audit values (?,?,?,?,?)",
                    [_now(), username, address, event, detail])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- accounts ---------------------------------------------------------------------------------

def _hasher():
    from pwdlib import PasswordHash

    return PasswordHash.recommended()


def add_user(settings: Settings, username: str, role: str, city: str,
             department: str | None = None, password: str | None = None) -> str:
    """Create an account; returns its password (generated unless given)."""
    from common.reference import load_reference

    if role not in ROLES:
        raise PortalError(f"role must be one of {', '.join(ROLES)}")
    ref = load_reference(settings.seeds_dir)
    if city not in ref.cities:
        raise PortalError(f"unknown city {city}; known: {', '.join(sorted(ref.cities))}")
    if role == "clerk" and department not in ref.departments:
        raise PortalError(f"a clerk needs --department, one of {', '.join(sorted(ref.departments))}")
    password = password or secrets.token_urlsafe(12)
    if len(password) < 10:
        raise PortalError("a password has at least 10 characters")
    with closing(db(settings)) as con:
        if con.execute("select 1 from users where username = ?", [username]).fetchone():
            raise PortalError(f"user {username} exists; `citycheck users reset {username}` "
                              "gives it a new password")
        con.execute("insert into users values (?,?,?,?,?,0,?)",
                    [username, _hasher().hash(password), role,
                     department if role == "clerk" else None, city, _now()])
    audit(settings, None, "cli", "user_added", f"{username} {role} {department or ''} {city}")
    return password


def set_disabled(settings: Settings, username: str, disabled: bool = True) -> None:
    with closing(db(settings)) as con:
        if con.execute("update users set disabled = ? where username = ?",
                       [int(disabled), username]).rowcount != 1:
            raise PortalError(f"no user {username}")
    if disabled:
        end_sessions(settings, username)
    audit(settings, None, "cli", "user_disabled" if disabled else "user_enabled", username)


def reset_password(settings: Settings, username: str) -> str:
    password = secrets.token_urlsafe(12)
    with closing(db(settings)) as con:
        if con.execute("update users set password_hash = ? where username = ?",
                       [_hasher().hash(password), username]).rowcount != 1:
            raise PortalError(f"no user {username}")
    end_sessions(settings, username)
    audit(settings, None, "cli", "password_reset", username)
    return password


def list_users(settings: Settings) -> list[dict]:
    with closing(db(settings)) as con:
        return [dict(r) for r in con.execute(
            "select username, role, department_code, city_code, disabled, created_at "
            "from users order by username")]


def find_user(settings: Settings, username: str) -> dict | None:
    with closing(db(settings)) as con:
        row = con.execute("select * from users where username = ?", [username]).fetchone()
    return dict(row) if row else None


def check_login(settings: Settings, username: str, password: str, address: str
                ) -> dict | None | str:
    """The user's row when the password is right; 'locked' after too many failures (for this
    name from this address, or for any names from this address); 'busy' when every password
    check slot stayed taken; None.

    The attempt is written down as a failure before the password is checked, in the same
    transaction that counts the failures (SQLite's write lock), so that simultaneous guesses
    are counted one after the other: never more than LOGIN_FAILURES checked. A right password
    takes its failure back."""
    since = datetime.fromtimestamp(time.time() - LOGIN_WINDOW_S, UTC).strftime(
        "%Y-%m-%d %H:%M:%S")
    with closing(db(settings)) as con:
        con.execute("begin immediate")
        try:
            by_name, by_address = con.execute(
                "select count(*) filter (where username = ?), count(*) from audit "
                "where event = 'login_failed' and address = ? and at >= ?",
                [username, address, since]).fetchone()
            if by_name >= LOGIN_FAILURES or by_address >= ADDRESS_FAILURES:
                con.execute("commit")
                return "locked"
            attempt = con.execute("insert into audit values (?,?,?,'login_failed','')",
                                  [_now(), username, address]).lastrowid
            row = con.execute("select * from users where username = ?", [username]).fetchone()
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        if not _HASHING.acquire(timeout=HASH_WAIT_S):
            con.execute("delete from audit where rowid = ?", [attempt])
            return "busy"
        try:
            # verify even for an unknown user, so that timing does not say which names exist
            known = row is not None and not row["disabled"]
            ok = _hasher().verify(password, row["password_hash"] if known else _dummy_hash())
        finally:
            _HASHING.release()
        if known and ok:
            con.execute("delete from audit where rowid = ?", [attempt])
            return dict(row)
    return None


# -- sessions ---------------------------------------------------------------------------------

def start_session(settings: Settings, username: str) -> str:
    session_id = secrets.token_urlsafe(24)
    with closing(db(settings)) as con:
        con.execute("insert into sessions values (?,?,?,null)",
                    [session_id, username, time.time()])
    return session_id


def session_user(settings: Settings, session_id: str | None) -> dict | None:
    """The account a session belongs to, while the session lasts: not ended (logout, reset,
    disabled), younger than SESSION_S, its account enabled."""
    if not session_id:
        return None
    with closing(db(settings)) as con:
        row = con.execute(
            "select u.* from sessions as s join users as u using (username) "
            "where s.session_id = ? and s.ended is null and s.started > ? and not u.disabled",
            [session_id, time.time() - SESSION_S]).fetchone()
    return dict(row) if row else None


def end_session(settings: Settings, session_id: str | None) -> None:
    if session_id:
        with closing(db(settings)) as con:
            con.execute("update sessions set ended = ? where session_id = ? and ended is null",
                        [time.time(), session_id])


def end_sessions(settings: Settings, username: str) -> int:
    """End every session of an account (a password reset, the account disabled)."""
    with closing(db(settings)) as con:
        return con.execute("update sessions set ended = ? where username = ? and ended is null",
                           [time.time(), username]).rowcount


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_hex(8)))
    return _DUMMY[0]


# -- uploads ------------------------------------------------------------------------------------

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


MAX_NAME_CHARS = 120


def name_problem(name: str) -> str | None:
    """Why a file's name cannot be kept as it is (a NUL or other control character, longer
    than a file system takes), or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        shown = "".join("\ufffd" if ord(c) < 32 or ord(c) == 127 else c for c in name)
        return say("upload_name_unreadable", name=shown[:60])
    if len(name) > MAX_NAME_CHARS or len(name.encode("utf-8")) > 240:
        return say("upload_name_too_long", name=name[:40] + "…", limit=MAX_NAME_CHARS)
    return None


def content_problem(name: str, data: bytes) -> str | None:
    """Why the bytes are not the file type their name says (checked by content), or None; in
    English and Chinese (common/messages.py)."""
    suffix = Path(name).suffix.lower()
    if suffix not in (".xlsx", ".xls", ".csv"):
        return say("upload_type", name=name, suffix=suffix or "none")
    if not data:
        return say("upload_empty", name=name)
    if suffix == ".xlsx" and not data.startswith(ZIP_MAGIC):
        return say("upload_not_xlsx", name=name)
    if suffix == ".xls" and not data.startswith(OLE_MAGIC):
        return say("upload_not_xls", name=name)
    if suffix == ".csv":
        if b"\x00" in data[:4096] or data.startswith((ZIP_MAGIC, OLE_MAGIC)):
            return say("upload_csv_binary", name=name)
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                data[:65536].decode(encoding)
                return None
            except UnicodeDecodeError as exc:
                if exc.start >= 65536 - 4:      # a character cut at the sample's end
                    return None
        return say("upload_csv_encoding", name=name)
    return None


def stage_upload(settings: Settings, user: dict, name: str, data: bytes) -> str:
    """Keep the upload, with who sent it, before anything else: the portal may stop at any
    moment after this and the file is still taken in (take_in_pending)."""
    upload_id = uuid.uuid4().hex
    folder = portal_dir(settings) / "uploads" / upload_id
    folder.mkdir(parents=True)
    safe = Path(name).name.replace("/", "_") or "upload"
    try:
        (folder / safe).write_bytes(data)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)     # no half-kept upload is left behind
        raise
    received = datetime.now(UTC).replace(tzinfo=None)
    tmp = folder / "upload.json.tmp"      # complete or absent: what take_in_pending reads
    tmp.write_text(json.dumps({
        "upload_id": upload_id, "username": user["username"],
        "department_code": user["department_code"], "city_code": user["city_code"],
        "file_name": safe, "received_at": received.isoformat()}), encoding="utf-8")
    tmp.replace(folder / "upload.json")
    with closing(db(settings)) as con:
        con.execute("insert into uploads (upload_id, username, department_code, city_code, "
                    "file_name, received_at, status) values (?,?,?,?,?,?,'waiting')",
                    [upload_id, user["username"], user["department_code"], user["city_code"],
                     safe, received.strftime("%Y-%m-%d %H:%M:%S")])
    return upload_id


def take_in(settings: Settings, upload_id: str) -> dict:
    """Ingest one staged upload through the inbox's intake. Returns its row in `uploads`
    (status 'waiting' while the warehouse is busy)."""
    from common.engine import WarehouseBusy
    from extract.submissions import Submission, ingest_files

    folder = portal_dir(settings) / "uploads" / upload_id
    with _INGEST:
        if folder.exists():
            meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
            item = Submission(folder / meta["file_name"],
                              # kept until its row says what became of it (below): taken
                              # in again after a stop, it is the same submission, not a
                              # duplicate (landing._same_submission)
                              datetime.fromisoformat(meta["received_at"]), move=False,
                              department=meta["department_code"], city=meta["city_code"])
            with closing(db(settings)) as con:    # kept, then stopped before it was listed
                con.execute("insert or ignore into uploads (upload_id, username, "
                            "department_code, city_code, file_name, received_at, status) "
                            "values (?,?,?,?,?,?,'waiting')",
                            [upload_id, meta["username"], meta["department_code"],
                             meta["city_code"], meta["file_name"],
                             datetime.fromisoformat(meta["received_at"]).strftime(
                                 "%Y-%m-%d %H:%M:%S")])
            if item.path.exists():
                try:
                    (receipt,) = ingest_files([item], settings)
                except WarehouseBusy:
                    return upload_row(settings, upload_id)
            else:       # a portal of an earlier version removed it once landed, then stopped
                receipt = _landed_receipt(settings, meta["file_name"], item.received_at)
            crash_point("portal.after_intake")
            with closing(db(settings)) as con:
                con.execute("update uploads set status = ?, file_hash = ?, receipt_json = ?, "
                            "receipt_text = ? where upload_id = ?",
                            [receipt.status, receipt.file_hash,
                             json.dumps(receipt.to_dict(), ensure_ascii=False),
                             receipt.to_text(), upload_id])
            shutil.rmtree(folder, ignore_errors=True)
            if receipt.status == "loaded":
                why_not = announce(f"{meta['username']}: {meta['file_name']}")
                audit(settings, meta["username"], None, "announced" if why_not is None
                      else "not_announced", why_not or receipt.file_hash)
    return upload_row(settings, upload_id)


def _landed_receipt(settings: Settings, name: str, received: datetime):
    """The receipt of the upload sent as `name` at `received`, as the warehouse holds it; a
    refusal saying the file was lost when it never landed."""
    from common.engine import engine_for
    from extract.submissions import Receipt

    with engine_for(settings).connect() as con:
        row = con.execute(
            "select r.receipt_json from raw.submission_receipts as r join "
            "raw.submission_files as f on f.file_hash = r.file_hash "
            "where f.original_name = ? and f.received_at = ?", [name, received]).fetchone()
    if row:
        return Receipt(**json.loads(row[0]))
    return Receipt(file_name=name, file_hash="", status="rejected",
                   received_at=received.isoformat(timespec="seconds") + "Z",
                   message=say("upload_lost"))


def announce(reason: str, asset: str = "submissions") -> str | None:
    """Tell Airflow that raw submissions landed (or, asset="rounds", that a round or review
    step was recorded) — an asset event on RAW_SUBMISSIONS (RAW_ROUNDS) through
    its REST API — so the warehouse DAG runs as it does after the submissions DAG. Configured
    by the environment the Airflow stack gives it (AIRFLOW__API__BASE_URL, and the portal's
    own account: CITYCHECK_AIRFLOW_USER, role `op`, with its password alone in
    CITYCHECK_AIRFLOW_PASSWORD_FILE — never the administrator's; `make airflow-up`,
    docker-compose); elsewhere nothing is sent.
    Returns None when announced, else why not (logged, never raised: the upload has landed)."""
    import logging

    import requests

    log = logging.getLogger(__name__)
    base = os.environ.get("AIRFLOW__API__BASE_URL")
    user = os.environ.get("CITYCHECK_AIRFLOW_USER")
    password_file = os.environ.get("CITYCHECK_AIRFLOW_PASSWORD_FILE")
    if not (base and user and password_file and Path(password_file).exists()):
        return ("no Airflow API account configured for the portal (CITYCHECK_AIRFLOW_USER, "
                "CITYCHECK_AIRFLOW_PASSWORD_FILE): the warehouse DAG runs on its schedule or "
                "by hand")
    from citycheck.operations.orchestration import RAW_ROUNDS, RAW_SUBMISSIONS

    target = RAW_ROUNDS if asset == "rounds" else RAW_SUBMISSIONS
    try:
        token = requests.post(f"{base}/auth/token", timeout=10, json={
            "username": user,
            "password": Path(password_file).read_text().strip()}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        found = requests.get(f"{base}/api/v2/assets", headers=headers, timeout=10,
                             params={"uri_pattern": target.uri}).json()["assets"]
        known = next(a for a in found if a["uri"] == target.uri)
        r = requests.post(f"{base}/api/v2/assets/events", headers=headers, timeout=10,
                          json={"asset_id": known["id"], "extra": {"portal": reason}})
        r.raise_for_status()
        return None
    except Exception as exc:        # noqa: BLE001 - the upload has landed; say why, go on
        log.warning("could not announce the upload to Airflow: %s", exc)
        return f"Airflow was not told ({type(exc).__name__}: {exc})"


def take_in_pending(settings: Settings) -> int:
    """Every staged upload not yet taken in (the warehouse was busy, or the portal stopped)."""
    root = portal_dir(settings) / "uploads"
    done = 0
    for folder in sorted(root.glob("*/upload.json")) if root.exists() else []:
        if take_in(settings, folder.parent.name).get("status") not in (None, "waiting"):
            done += 1
    return done


def upload_row(settings: Settings, upload_id: str) -> dict:
    with closing(db(settings)) as con:
        row = con.execute("select * from uploads where upload_id = ?", [upload_id]).fetchone()
    return dict(row) if row else {}


def history(settings: Settings, user: dict) -> list[dict]:
    with closing(db(settings)) as con:
        return [dict(r) for r in con.execute(
            "select * from uploads where city_code = ? and department_code = ? "
            "order by received_at desc, upload_id limit 200",
            [user["city_code"], user["department_code"]])]


# -- what the publication says ---------------------------------------------------------------
# A page's queries share one connection (`reading`): on the PostgreSQL engine each opening
# copies the published schema into memory.

@contextmanager
def reading(settings: Settings) -> Iterator[Callable[[str, list | dict], list[dict]]]:
    """`rows(sql, params)` over the current publication, one connection for all of a page's
    queries; it answers no rows before anything is published."""
    from citycheck.serving.sql import NothingPublished, open_publication, query_rows

    try:
        con = open_publication(settings)
    except NothingPublished:
        yield lambda sql, params: []
        return
    try:
        yield lambda sql, params: query_rows(con, sql, params)
    finally:
        con.close()


def clerk_view(settings: Settings, user: dict, year: int | None = None) -> dict:
    """What the clerk's page shows from the publication: the department's name, its rounds
    (the year in collection by default), each indicator in `year`, the values the office
    returned or holds, when the publication was made and which of the department's files it
    holds (every file received, through the portal or the inbox)."""
    from citycheck.operations import rounds as rv

    city, department = user["city_code"], user["department_code"]
    with reading(settings) as rows:
        round_rows = rv.rounds(rows, "", city)
        status = department_status(rows, user)
        years = sorted({r["year"] for r in round_rows} | {s["year"] for s in status},
                       reverse=True)
        year = year if year in years else rv.year_in_collection(round_rows) or (
            years[0] if years else None)
        named = rows("select department_name_zh, department_name_en from dim_department "
                     "where department_code = ?", [department])
        published_at, files = publication_state(rows, user)
        return {"status_rows": status, "years": years, "year": year,
                "round": next((r for r in round_rows if r["year"] == year), None),
                "department": named[0] if named else None, "published_at": published_at,
                "published_files": files,
                "indicators": indicator_status(rows, user, year) if year else [],
                "in_review": rv.review_queue(rows, "", city, None, department),
                "published_steps": published_steps(rows),
                "received_files": received_files(rows, user)}


def department_status(rows, user: dict) -> list[dict]:
    from citycheck.operations.rounds import days_overdue

    found = rows("""
        select year, submission_status, values_expected, values_present, values_missing,
               values_held, values_returned, due_on, files_received, files_refused,
               records_rejected, last_received_at
        from mart_submission_status where city_code = ? and department_code = ?
        order by year desc""", [user["city_code"], user["department_code"]])
    for r in found:
        r["days_overdue"] = (days_overdue(r["due_on"])
                             if r["values_missing"] or r["values_returned"] else 0)
    return found


def indicator_status(rows, user: dict, year: int) -> list[dict]:
    """Each indicator the clerk's department answers for, in one year, as the publication
    holds it: district values present, reported missing (无, with a reason), still owed, held
    for review, returned, and accepted with a plausibility warning."""
    return rows("""
        with present as (
            select indicator_code, count(*) filter (where not is_missing) as present,
                   count(*) filter (where is_missing) as reported_missing
            from fct_indicator_values where city_code = $city and year = $year
            group by indicator_code),
        states as (
            select indicator_code,
                   count(*) filter (where value_state = 'owed') as missing,
                   count(*) filter (where value_state in ('held', 'answered')) as held,
                   count(*) filter (where value_state = 'returned') as returned
            from mart_round_values
            where city_code = $city and year = $year and department_code = $department
            group by indicator_code),
        warned as (
            select indicator_code, count(*) as warned from mart_plausibility_warnings
            where city_code = $city and year = $year and department_code = $department
            group by indicator_code)
        select i.indicator_code, i.indicator_name_zh, i.indicator_name_en, i.unit,
               coalesce(p.present, 0) as present,
               coalesce(p.reported_missing, 0) as reported_missing,
               coalesce(o.missing, 0) as missing, coalesce(o.held, 0) as held,
               coalesce(o.returned, 0) as returned, coalesce(w.warned, 0) as warned
        from dim_indicator as i
        left join present as p using (indicator_code)
        left join states as o using (indicator_code)
        left join warned as w using (indicator_code)
        where i.department_code = $department
        order by i.indicator_code""",
        {"city": user["city_code"], "year": year, "department": user["department_code"]})


def publication_state(rows, user: dict) -> tuple[str | None, set[str]]:
    """When the current publication was made, and which of the department's files it holds
    (their SHA-256): an upload whose hash is not among them lands in the next publication."""
    when = []
    if rows("select 1 from information_schema.tables where table_name = 'publication'", []):
        when = rows("select cast(timezone('UTC', max(published_at)) as varchar) as at "
                    "from publication", [])
    files = rows("select source_id from dim_source where source_type = 'submission' and "
                 "source_owner = ? and city_code = ?",
                 [user["department_code"], user["city_code"]])
    return ((when[0]["at"] if when else None), {f["source_id"] for f in files})


def received_files(rows, user: dict) -> list[dict]:
    """Every file of the department the publication knows of (dim_source), however it came:
    the portal, or the inbox folder."""
    return rows("""
        select source_id as file_hash, source_name as file_name, received_at,
               source_status as status, records_accepted, records_rejected, message
        from dim_source where source_type = 'submission' and source_owner = ? and city_code = ?
        order by received_at desc limit 200""", [user["department_code"], user["city_code"]])


def published_steps(rows) -> set[str]:
    """The ids of the review steps and round events the publication holds."""
    return {r["id"] for r in rows("select review_step_id as id from fct_value_reviews union all "
                                  "select event_id from fct_round_events", [])}


def office_view(settings: Settings, city: str, year: int | None = None) -> dict:
    """The office's view of its rounds, read through one connection: every round, and for
    `year` (default the year in collection) each department's row, every value not settled,
    the review queue and the reminders."""
    from citycheck.operations import rounds as rv

    with reading(settings) as rows:
        round_rows = rv.rounds(rows, "", city)
        years = [r["year"] for r in round_rows]
        year = year if year in years else rv.year_in_collection(round_rows)
        chosen = next((r for r in round_rows if r["year"] == year), None)
        view = {"rounds": round_rows, "years": years, "year": year, "round": chosen,
                "rows": [], "missing": [], "queue": [], "published_steps": set()}
        if chosen is None:
            return view
        chosen["days_overdue"] = rv.days_overdue(chosen["due_on"]) if (
            chosen["round_state"] != "closed" and chosen["values_missing"]) else 0
        view["rows"] = rv.departments(rows, "", city, year)
        for r in view["rows"]:
            r["reminder"] = rv.reminder_text(r, year)
        view["missing"] = rv.round_values(rows, "", city, year)
        view["queue"] = rv.review_queue(rows, "", city, year)
        view["published_steps"] = published_steps(rows)
        return view


def record_action(settings: Settings, user: dict, step_id: str, kind: str, subject: str,
                  detail: str = "") -> None:
    with closing(db(settings)) as con:
        con.execute("insert into actions values (?,?,?,?,?,?,?,?)",
                    [step_id, user["username"], user["city_code"], user.get("department_code"),
                     kind, subject, detail, _now()])


def recent_actions(settings: Settings, user: dict, published: set[str]) -> list[dict]:
    """The account's city's (office) or department's (clerk) actions the publication does not
    hold yet: recorded, shown in the tables after the next run."""
    with closing(db(settings)) as con:
        if user["role"] == "office":
            found = con.execute("select * from actions where city_code = ? order by at desc "
                                "limit 100", [user["city_code"]]).fetchall()
        else:
            found = con.execute("select * from actions where city_code = ? and "
                                "department_code = ? order by at desc limit 100",
                                [user["city_code"], user["department_code"]]).fetchall()
    return [dict(r) for r in found if r["step_id"] not in published]


def dispatch_xlsx(rows: list[dict], year: int, missing: list[dict] = ()) -> bytes:
    """The office's export of one round: a sheet of the departments (the dispatch list) and
    a sheet of every value not settled (owed, held, returned, answered), with days overdue."""
    import io

    import openpyxl

    from citycheck.warehouse.rounds import STATE_ZH

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = f"{year}报送情况"
    sheet.append(["部门代码 Department code", "部门 Department", "状态 Status",
                  "应报 Expected", "已报 Present", "缺报 Owed", "待核实 Held",
                  "已退回 Returned", "逾期天数 Days overdue", "截止日期 Due",
                  "收到文件 Files", "拒收文件 Refused", "拒收记录 Rows rejected",
                  "最近报送 Last received"])
    for r in rows:
        sheet.append([r["department_code"], r["department_name_zh"], r["submission_status"],
                      r["values_expected"], r["values_present"], r["values_missing"],
                      r["values_held"], r["values_returned"], r["days_overdue"],
                      str(r["due_on"] or ""), r["files_received"], r["files_refused"],
                      r["records_rejected"], str(r["last_received_at"] or "")])
    detail = book.create_sheet(f"{year}未结清明细")
    detail.append(["部门代码 Department code", "部门 Department", "区县代码 District code",
                   "区县 District", "指标代码 Indicator code", "指标 Indicator",
                   "状态 State", "状态（中文）", "逾期天数 Days overdue", "审核理由 Review reason"])
    for m in missing:
        detail.append([m["department_code"], m["department_name_zh"], m["district_code"],
                       m["district_name_zh"], m["indicator_code"], m["indicator_name_zh"],
                       m["value_state"], STATE_ZH.get(m["value_state"], ""), m["days_overdue"],
                       m.get("review_reason") or ""])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
