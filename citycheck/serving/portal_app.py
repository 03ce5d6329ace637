"""The department portal's web application (FastAPI); the logic is citycheck/serving/department_portal.py.

    .venv/bin/python -m citycheck.serving.portal_app [--port 8090]      (make portal)
"""
from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from citycheck import TEMPLATES_DIR
from citycheck.serving import department_portal as dp
from common.config import Settings
from common.messages import say

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(TEMPLATES_DIR))
RETRY_S = 15


def _secret(settings: Settings) -> str:
    """The key that signs session cookies: made once, kept beside the portal's store (0600)."""
    path = dp.portal_dir(settings) / "session_secret"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


# The page languages a reader can choose (the portal_macros.html `t` macro).
LANGUAGES = ("zh", "en", "both")
# Every status a page shows, in Chinese and English (the `st` macro of portal_macros.html)
STATUS_TEXT = {
    "loaded": ("已接收", "loaded"), "rejected": ("已退回", "rejected"),
    "duplicate": ("重复文件", "duplicate"), "waiting": ("排队中", "waiting"),
    "complete": ("已报齐", "complete"), "incomplete": ("未报齐", "incomplete"),
    "not_submitted": ("未报送", "not submitted"), "in_review": ("审核中", "in review"),
    "open": ("已开启", "open"), "collecting": ("收集中", "collecting"),
    "closed": ("已关闭", "closed"), "owed": ("未报", "owed"), "received": ("已报", "received"),
    "reported_missing": ("报送为无", "reported missing"), "held": ("待核实", "held"),
    "returned": ("已退回部门", "returned"), "answered": ("部门已答复", "answered"),
    "confirmed": ("已确认", "confirmed"), "confirm": ("确认", "confirm"),
    "return": ("退回", "return"), "answer": ("答复", "answer"),
    "round_opened": ("开启轮次", "round opened"), "round_reopened": ("重新开启轮次", "round reopened"),
    "round_closed": ("关闭轮次", "round closed"),
    "problem_update": ("更新问题清单", "problem list updated"),
}


def outcome(row: dict) -> str:
    """How a receipt reads at a glance (its box's colour): ok (every record taken), partial
    (loaded, but some records rejected or held for review), bad (refused), wait, dup."""
    if row.get("status") == "waiting":
        return "wait"
    if row.get("status") == "duplicate":
        return "dup"
    if row.get("status") != "loaded":
        return "bad"
    receipt = json.loads(row.get("receipt_json") or "{}")
    held = any(w.get("action") == "hold" for w in receipt.get("warnings") or [])
    return "partial" if receipt.get("rows_rejected") or held else "ok"

# Every response: no framing, no type sniffing, no referrer to other sites, and a policy that
# allows no script at all (the pages have none: charts are inline SVG) and no other origin.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
     b"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
FORM_BYTES = 256 * 1024          # any form but an upload: a reason, a login
# the routes that take a body only from a signed-in account: refused before a byte is read
SIGNED_IN_ONLY = ("/upload", "/logout", "/office/", "/answer")


class Guard:
    """ASGI middleware before any route: security headers on every response; a request body
    limited before it is read (by its Content-Length, and by counting what arrives when it has
    none), per route; a body for a signed-in route refused unread when no session is live."""

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        # an upload: the files (each at most max_file_bytes) and the multipart framing
        self.upload_bytes = dp.MAX_FILES * settings.max_file_bytes + 64 * 1024

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                   *SECURITY_HEADERS]}
            await send(message)

        if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            return await self.app(scope, receive, send_with_headers)
        path = scope["path"]
        if path.startswith(SIGNED_IN_ONLY) and dp.session_user(
                self.settings, scope.get("session", {}).get("sid")) is None:
            return await _answer(send_with_headers, 303, b"", [(b"location", b"/login")])
        limit = self.upload_bytes if path == "/upload" else FORM_BYTES
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _answer(send_with_headers, 413, _too_large(limit))
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, _too_large(limit).decode("utf-8"))
            return message

        await self.app(scope, counted, send_with_headers)


def _too_large(limit: int) -> bytes:
    mib = max(1, round(limit / 2**20))
    return (f"请求过大（上限约 {mib} MiB） The request is too large (at most about {mib} MiB): "
            f"send fewer or smaller files").encode()


async def _answer(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


RECEIPT_PAGE_LINES = 400


def _receipt_page(text: str | None) -> dict:
    """The receipt as the page shows it: its first RECEIPT_PAGE_LINES lines (a bad file of
    many rows has a line per rejected cell: a 22 MB page before), and how many more lines the
    downloaded receipt holds."""
    lines = (text or "").splitlines()
    if len(lines) <= RECEIPT_PAGE_LINES:
        return {"receipt_shown": text, "receipt_more": 0}
    return {"receipt_shown": "\n".join(lines[:RECEIPT_PAGE_LINES]),
            "receipt_first": RECEIPT_PAGE_LINES, "receipt_more": len(lines) - RECEIPT_PAGE_LINES}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(title="citycheck department portal", docs_url=None, redoc_url=None,
                  openapi_url=None)
    # inside the session middleware (added after it is outside it): it reads the session
    app.add_middleware(Guard, settings=settings)
    app.add_middleware(
        SessionMiddleware, secret_key=_secret(settings), session_cookie="citycheck_portal",
        max_age=dp.SESSION_S, same_site="strict",
        https_only=os.environ.get("CITYCHECK_PORTAL_INSECURE_COOKIES") != "1")
    max_bytes = settings.max_file_bytes
    # the annual reports and indicator pages: public documents, served as files
    from fastapi.staticfiles import StaticFiles

    # Only what is public: the annual reports and the indicator pages. The validation reports
    # (quarantined rows, cell by cell) are the office's, and are not served here.
    for public in ("annual", "site"):
        folder = settings.reports_dir / public
        folder.mkdir(parents=True, exist_ok=True)
        app.mount(f"/reports/{public}", StaticFiles(directory=str(folder), html=True),
                  name=f"reports_{public}")

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        """A page in the language the reader chose: ?lang=zh|en|both (kept in a cookie for
        the next pages); Chinese with English alongside until they choose."""
        asked = request.query_params.get("lang")
        lang = asked if asked in LANGUAGES else request.cookies.get("lang")
        lang = lang if lang in LANGUAGES else "both"
        response = TEMPLATES.TemplateResponse(request, name, {
            "user": current(request), "csrf": csrf_token(request), "lang": lang,
            "STATUS_TEXT": STATUS_TEXT, "flash": request.session.pop("flash", None),
            **context}, status_code=status)
        if asked in LANGUAGES:
            response.set_cookie("lang", asked, max_age=365 * 24 * 3600, samesite="strict",
                                httponly=True)
        return response

    def current(request: Request) -> dict | None:
        user = dp.session_user(settings, request.session.get("sid"))
        return user if user and user["username"] == request.session.get("user") else None

    def csrf_token(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(24)
        return request.session["csrf"]

    def check_csrf(request: Request, token: str | None) -> None:
        expected = request.session.get("csrf")
        if not expected or not token or not hmac.compare_digest(expected, token):
            raise HTTPException(403, "the form has expired or did not come from this portal: "
                                     "reload the page and try again")

    def need(request: Request, role: str | None = None) -> dict:
        user = current(request)
        if user is None:
            raise HTTPException(401)
        if role and user["role"] != role:
            raise HTTPException(403, "this page is not for your account")
        return user

    def address(request: Request) -> str:
        return request.client.host if request.client else "?"

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)
        return page(request, "portal_error.html", status=exc.status_code,
                    message=exc.detail or "请求未能完成 The request could not be done")

    @app.exception_handler(Exception)
    async def any_error(request: Request, exc: Exception):
        log.exception("portal error on %s", request.url.path)
        return page(request, "portal_error.html", status=500,
                    message="系统出错，已记录 Something went wrong on our side; it is logged. "
                            "Try again, or tell the coordinating office.")

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request):
        return page(request, "portal_login.html")

    @app.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form(""),
              csrf: str = Form("")):
        check_csrf(request, csrf)
        found = dp.check_login(settings, username, password, address(request))
        if found == "busy":
            response = page(request, "portal_login.html", status=503,
                            error="登录人数过多，请稍后再试 Too many logins at once: try again "
                                  "in a few seconds")
            response.headers["Retry-After"] = "5"
            return response
        if found == "locked":
            dp.audit(settings, username, address(request), "login_locked")
            return page(request, "portal_login.html", status=429,
                        error="登录失败次数过多，请15分钟后再试 Too many failed logins: try again "
                              "in 15 minutes")
        if not found:       # check_login wrote the failure down
            return page(request, "portal_login.html", status=401,
                        error="用户名或密码错误 Wrong user name or password")
        request.session.clear()
        request.session["user"] = found["username"]
        request.session["sid"] = dp.start_session(settings, found["username"])
        dp.audit(settings, found["username"], address(request), "login")
        return RedirectResponse("/office" if found["role"] == "office" else "/", status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")):
        check_csrf(request, csrf)
        user = current(request)
        dp.end_session(settings, request.session.get("sid"))
        request.session.clear()
        if user:
            dp.audit(settings, user["username"], address(request), "logout")
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, year: int | None = None):
        user = need(request)
        if user["role"] == "office":
            return RedirectResponse("/office", status_code=303)
        view = dp.clerk_view(settings, user, year)
        published_files = view.pop("published_files")
        uploads = dp.history(settings, user)
        for u in uploads:   # loaded, but after the build the publication was made from
            u["pending"] = u["status"] == "loaded" and u["file_hash"] not in published_files
            u["via"] = "portal"
        through_portal = {u["file_hash"] for u in uploads}
        for f in view.pop("received_files"):     # sent to the inbox folder, not the portal
            if f["file_hash"] not in through_portal:
                uploads.append({**f, "upload_id": None, "username": None, "pending": False,
                                "via": "inbox", "received_at": str(f["received_at"])[:19]})
        uploads.sort(key=lambda u: str(u["received_at"]), reverse=True)
        actions = dp.recent_actions(settings, user, view.pop("published_steps"))
        from citycheck.serving.bulletin import list_bulletins

        bulletins = list_bulletins(settings, user["city_code"], user["department_code"])
        return page(request, "portal_clerk.html", uploads=uploads, actions=actions,
                    bulletins=bulletins,
                    pending=[u for u in uploads if u["pending"]], **view)

    @app.get("/template")
    def template(request: Request, year: int):
        user = need(request, "clerk")
        import tempfile

        from extract.template import write_template

        with tempfile.TemporaryDirectory() as tmp:
            name = f"{user['city_code']}_{user['department_code']}_{year}.xlsx"
            path = write_template(Path(tmp) / name, user["department_code"], year,
                                  user["city_code"])
            data = path.read_bytes()
        return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.post("/upload", response_class=HTMLResponse)
    async def upload(request: Request, files: list[UploadFile], csrf: str = Form("")):
        user = need(request, "clerk")
        check_csrf(request, csrf)
        if len(files) > dp.MAX_FILES:
            raise HTTPException(413, say("upload_too_many", count=dp.MAX_FILES))
        problems, staged, status = [], [], 415
        for f in files:
            why = dp.name_problem(f.filename or "")
            if why:
                problems.append(why)
                status = 400
                continue
            data = await f.read(max_bytes + 1)
            if len(data) > max_bytes:
                problems.append(say("upload_too_large", name=f.filename, limit=f"{max_bytes:,}"))
                status = 413
                continue
            why = dp.content_problem(f.filename or "", data)
            if why:
                problems.append(why)
                continue
            staged.append(dp.stage_upload(settings, user, f.filename or "upload", data))
        if problems:
            dp.audit(settings, user["username"], address(request), "upload_refused",
                     "; ".join(problems))
            if not staged:
                return page(request, "portal_error.html", status=status,
                            message="；".join(problems))
        results = []
        for upload_id in staged:
            row = dp.take_in(settings, upload_id)
            dp.audit(settings, user["username"], address(request), "upload",
                     f"{row['file_name']} {row['status']} {row.get('file_hash') or ''}")
            results.append(row)
        return page(request, "portal_receipts.html", results=_with_review(results),
                    refused=problems)

    @app.get("/receipts/{upload_id}")
    def receipt(request: Request, upload_id: str, download: int = 0):
        user = need(request)
        row = dp.upload_row(settings, upload_id)
        if not row:
            raise HTTPException(404, "no such upload")
        if row["city_code"] != user["city_code"] or (
                user["role"] == "clerk" and row["department_code"] != user["department_code"]):
            dp.audit(settings, user["username"], address(request), "forbidden",
                     f"receipt {upload_id}")
            raise HTTPException(403, "this receipt belongs to another department or city")
        if download and row["receipt_text"]:
            return Response(row["receipt_text"], media_type="text/plain; charset=utf-8",
                            headers={"Content-Disposition":
                                     f'attachment; filename="receipt-{upload_id[:8]}.txt"'})
        return page(request, "portal_receipts.html", results=_with_review([row]), refused=[])

    @app.get("/office", response_class=HTMLResponse)
    def office(request: Request, year: int | None = None):
        user = need(request, "office")
        view = dp.office_view(settings, user["city_code"], year)
        actions = dp.recent_actions(settings, user, view.pop("published_steps"))
        from citycheck.serving.bulletin import list_bulletins
        from citycheck.serving.problems import list_problems

        assessment, history = [], {}
        if view["year"]:      # the departments' assessment that year, and the years before
            with dp.reading(settings) as rows:
                for r in rows("select * from mart_department_assessment where city_code = ? "
                              "and year between ? and ? order by rank_in_city nulls last, "
                              "department_code", [user["city_code"], view["year"] - 4,
                                                  view["year"]]):
                    if r["year"] == view["year"]:
                        assessment.append(r)
                    else:
                        history[(r["department_code"], r["year"])] = r["score"]
        return page(request, "portal_office.html", actions=actions,
                    bulletins=list_bulletins(settings, user["city_code"]),
                    problems=list_problems(settings, user["city_code"]),
                    assessment=assessment, assessment_history=history,
                    history_years=sorted({y for _, y in history}), **view)

    @app.post("/office/bulletin")
    def office_bulletin(request: Request, year: int = Form(0), csrf: str = Form("")):
        """Issue the next bulletin (通报) of the office's city and the round it is viewing."""
        from citycheck.serving.bulletin import BulletinError, issue_bulletin
        from citycheck.serving.report import ReportError

        user = need(request, "office")
        check_csrf(request, csrf)
        back = f"/office?year={year}#bulletins"
        try:
            issued = issue_bulletin(settings, user["city_code"], year or None,
                                    issued_by=user["username"])
        except (BulletinError, ReportError) as exc:
            request.session["flash"] = {"error": str(exc)}
            return RedirectResponse(back, status_code=303)
        dp.audit(settings, user["username"], address(request), "bulletin_issued",
                 f"{issued.city} {issued.round_year} {issued.number}")
        # the next build lands it in mart_bulletins (citycheck/warehouse/bulletins.py)
        dp.announce(f"{user['username']}: bulletin_issued {issued.city} {issued.round_year} "
                    f"{issued.number}", asset="rounds")
        request.session["flash"] = {"ok": f"已印发 {issued.round_year}年度第{issued.number}期通报 "
                                          f"Bulletin No. {issued.number} of the "
                                          f"{issued.round_year} round issued"
                                          + ("" if issued.pdf_note is None
                                             else f" ({issued.pdf_note})")}
        return RedirectResponse(back, status_code=303)

    @app.get("/bulletins/{city}/{round_year}/{number}/{name}")
    def bulletin_file(request: Request, city: str, round_year: int, number: str, name: str):
        """An issued bulletin's page or PDF: the city's office, and the departments it names."""
        from fastapi.responses import FileResponse

        from citycheck.serving.bulletin import list_bulletins

        user = need(request)
        department = None if user["role"] == "office" else user["department_code"]
        for b in list_bulletins(settings, user["city_code"], department):
            if (b["city"], b["round"], f'{b["number"]:02d}') == (city, round_year, number) \
                    and name in (b["html"], b["html"].replace(".html", ".pdf")) \
                    and (b["folder"] / name).is_file():
                return FileResponse(b["folder"] / name)
        raise HTTPException(404, "no such bulletin for you 无此通报")

    @app.post("/office/problem")
    def office_problem(request: Request, problem: str = Form(""), status: str = Form(""),
                       cause: str = Form(""), measure: str = Form(""),
                       deadline: str = Form(""), seen: str = Form(""), year: int = Form(0),
                       csrf: str = Form("")):
        """One step on a problem of the problem list: status, cause, measure, deadline."""
        from datetime import date

        from citycheck.serving.problems import update_problem
        from citycheck.warehouse.rounds import RoundRefused

        user = need(request, "office")
        check_csrf(request, csrf)

        def step() -> str:
            try:
                due = date.fromisoformat(deadline) if deadline else None
            except ValueError:
                raise RoundRefused(f"{deadline!r} is not a date like 2025-10-31 "
                                   "整改时限格式不对") from None
            return update_problem(settings, problem, user, status or None, cause, measure,
                                  due, seen or None)
        return act(request, user, step, "problem_update", problem,
                   f"/office?year={year}#problems", status)

    @app.get("/office/problems.xlsx")
    def export_problem_list(request: Request):
        import tempfile

        from citycheck.serving.problems import export_problems

        user = need(request, "office")
        with tempfile.TemporaryDirectory() as tmp:
            path = export_problems(settings, user["city_code"], Path(tmp) / "problems.xlsx")
            data = path.read_bytes()
        return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename='
                                 f'"problems_{user["city_code"]}.xlsx"'})

    @app.get("/office/export.xlsx")
    def export(request: Request, year: int):
        user = need(request, "office")
        view = dp.office_view(settings, user["city_code"], year)
        if view["year"] != year:
            raise HTTPException(404, f"no {year} round of city {user['city_code']}")
        data = dp.dispatch_xlsx(view["rows"], year, view["missing"])
        dp.audit(settings, user["username"], address(request), "export", str(year))
        return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet",
                        headers={"Content-Disposition":
                                 f'attachment; filename="dispatch_{user["city_code"]}_{year}.xlsx"'})

    def _with_review(rows: list[dict]) -> list[dict]:
        """Each receipt with its outcome and, from the publication, where the values it had
        held for review stand now (held, returned with the office's reason, answered)."""
        hashes = [r["file_hash"] for r in rows if r.get("file_hash")]
        items: dict[str, list[dict]] = {}
        if hashes:
            with dp.reading(settings) as read:
                for i in read("select * from mart_review_queue where file_hash in (select "
                              "unnest(?))", [hashes]):
                    items.setdefault(i["file_hash"], []).append(i)
        return [{**r, "outcome": outcome(r), "review": items.get(r.get("file_hash"), []),
                 **_receipt_page(r.get("receipt_text"))} for r in rows]

    def act(request: Request, user: dict, step: Callable[[], str], kind: str, subject: str,
            back: str, detail: str = "") -> RedirectResponse:
        """Take one round or review step in the warehouse (one writer: the uploads' lock),
        record it beside the portal's history, announce it to Airflow, and go back with a
        message; a refusal is shown as said."""
        from citycheck.warehouse.rounds import RoundRefused
        from common.engine import WarehouseBusy

        try:
            with dp._INGEST:
                step_id = step()
        except RoundRefused as exc:
            request.session["flash"] = {"error": str(exc)}
            dp.audit(settings, user["username"], address(request), f"{kind}_refused",
                     f"{subject}: {exc}")
            return RedirectResponse(back, status_code=303)
        except WarehouseBusy:
            request.session["flash"] = {"error": "仓库正忙（数据处理运行中），请一分钟后重试 The "
                                                 "warehouse is busy (a run is writing): try "
                                                 "again in a minute; nothing was recorded"}
            return RedirectResponse(back, status_code=303)
        dp.record_action(settings, user, step_id, kind, subject, detail)
        dp.audit(settings, user["username"], address(request), kind, f"{subject} {detail}")
        why_not = dp.announce(f"{user['username']}: {kind} {subject}", asset="rounds")
        request.session["flash"] = {"ok": "已记录，下次数据发布后在各表中显示 Recorded; the tables "
                                          "show it after the next publication"
                                          + ("" if why_not is None else f" ({why_not})")}
        return RedirectResponse(back, status_code=303)

    @app.post("/office/review")
    def office_review(request: Request, item: str = Form(""), action: str = Form(""),
                      reason: str = Form(""), seen: str = Form(""), year: int = Form(0),
                      csrf: str = Form("")):
        from citycheck.operations import rounds as rv

        user = need(request, "office")
        check_csrf(request, csrf)
        if action not in ("confirm", "return"):
            raise HTTPException(400, "unknown action")
        return act(request, user, lambda: rv.review(
            settings, item, action, user, reason, seen or None)["last_review_id"],
            action, item, f"/office?year={year}#queue", reason)

    @app.post("/answer")
    def clerk_answer(request: Request, item: str = Form(""), reason: str = Form(""),
                     seen: str = Form(""), csrf: str = Form("")):
        from citycheck.operations import rounds as rv

        user = need(request, "clerk")
        check_csrf(request, csrf)
        return act(request, user, lambda: rv.review(
            settings, item, "answer", user, reason, seen or None)["last_review_id"],
            "answer", item, "/#returned", reason)

    @app.post("/office/round")
    def office_round(request: Request, action: str = Form(""), year: int = Form(0),
                     reason: str = Form(""), override: str = Form(""),
                     deadline: str = Form(""), csrf: str = Form("")):
        from datetime import date

        from citycheck.operations import rounds as rv
        from citycheck.warehouse.rounds import RoundRefused

        user = need(request, "office")
        check_csrf(request, csrf)
        city = user["city_code"]
        if action == "close":
            def step() -> str:
                return rv.close_round(settings, city, year, user, reason,
                                      override or None).event_id
        elif action == "open":
            def step() -> str:
                try:
                    due = date.fromisoformat(deadline) if deadline else None
                except ValueError:
                    raise RoundRefused(f"{deadline!r} is not a date like 2025-03-31 "
                                       "截止日期格式不对") from None
                return rv.open_round(settings, city, year, user, due, reason).event_id
        else:
            raise HTTPException(400, "unknown action")
        return act(request, user, step, f"round_{action}", str(year), f"/office?year={year}",
                   override or reason)

    return app


def _retry_waiting(settings: Settings, stop: threading.Event) -> None:
    """Take in the uploads that waited for a busy warehouse, and those a stopped portal left."""
    while not stop.wait(RETRY_S):
        try:
            dp.take_in_pending(settings)
        except Exception:       # noqa: BLE001 - logged; the next round tries again
            log.exception("taking in waiting uploads failed")


def main() -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="the citycheck department portal")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("CITYCHECK_PORTAL_PORT", "8090")))
    args = parser.parse_args()
    # an upload waits only a moment for a warehouse a pipeline run holds, then is kept and
    # taken in later (the clerk is told), rather than holding the page for long
    os.environ.setdefault("CITYCHECK_WAREHOUSE_LOCK_WAIT", "3")
    settings = Settings.from_env()
    settings.ensure_dirs()
    dp.take_in_pending(settings)
    stop = threading.Event()
    threading.Thread(target=_retry_waiting, args=(settings, stop), daemon=True).start()
    print(f"department portal on http://{args.host}:{args.port}/ (accounts: "
          "`citycheck users add`)", flush=True)
    # the client's address is the socket's: X-Forwarded-For is believed only from the proxies
    # named in CITYCHECK_PORTAL_TRUSTED_PROXIES (uvicorn trusts 127.0.0.1 by default, which
    # let anyone on the machine pick the address the login throttle counts)
    proxies = os.environ.get("CITYCHECK_PORTAL_TRUSTED_PROXIES", "").strip()
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
    stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
