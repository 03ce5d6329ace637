"""citycheck command line: every step of the pipeline, without Airflow.

    citycheck run                 ingest the inbox, fetch open data, build, validate, publish
    citycheck ingest FILE         ingest one department file and print its receipt
    citycheck fetch [SOURCE ...]  fetch registered open-data sources
    citycheck build               dbt build (seeds, models, tests)
    citycheck validate            Great Expectations on the latest build
    citycheck publish             publish the validated build
    citycheck published           what is published, and which publication each output holds
    citycheck recover             finish what a stopped run left (intake, publication)
    citycheck freshness           who is overdue (departments, open-data sources, raw tables)
    citycheck docs                the data dictionary (dbt docs) as one HTML file
    citycheck bench --scale S     the benchmark (S, M, L, XL) against pandas and DuckDB
    citycheck template            the .xlsx template a department fills in
    citycheck status [--year YYYY] the dispatch list: each round, who still owes which values
    citycheck round list|open|close   the reporting rounds (open early, close when complete)
    citycheck review list|confirm|return|answer   values held for the office's review
    citycheck survey FILE         load a resident survey (estimates with their intervals)
    citycheck sql ["select …"]    SQL on the published data, read-only (a prompt without a query)
    citycheck report --city C --year Y   the annual city health check report (HTML and PDF)
    citycheck problem list|update|export   the problem list of closed rounds (问题清单)
    citycheck bulletin --city C   issue the next numbered bulletin (通报) of the city's round
    citycheck site                the indicator pages (reporting status, one page per indicator)
    citycheck serve               serve the reports and pages on 127.0.0.1
    citycheck portal              the department portal on 127.0.0.1:8090 (make portal)
    citycheck users add|disable|enable|reset|list   the portal's accounts

Paths come from CITYCHECK_DATA_DIR (default ./var); see README.md.
"""
from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
import threading
from collections import Counter
from pathlib import Path

from citycheck.serving.summary import print_intake, print_published, print_rounds
from common.config import Settings, parse_years


def _date_arg(text: str):
    """A YYYY-MM-DD argument (argparse says which argument and what was given)."""
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-04-15") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="citycheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="all steps, without Airflow")
    p.add_argument("--year", help="reporting year(s) to validate: 2023, 2019-2023 or 2020,2021")
    p.add_argument("--no-fetch", action="store_true", help="skip open-data fetches")
    p = sub.add_parser("ingest", help="ingest one department file (or the inbox)")
    p.add_argument("file", nargs="?", type=Path, help="the file; omit to ingest the inbox")
    p.add_argument("--department"), p.add_argument("--city"), p.add_argument("--year", type=int)
    p.add_argument("--json", action="store_true", help="print the receipt as JSON")
    p = sub.add_parser("fetch", help="fetch open-data sources from extract/sources.yml")
    p.add_argument("sources", nargs="*")
    p = sub.add_parser("build", help="dbt build (incremental: only what new files touch)")
    p.add_argument("--full-refresh", action="store_true",
                   help="rebuild every model from raw and reload the seeds")
    p = sub.add_parser("validate", help="validate the latest build")
    p.add_argument("--year")
    p = sub.add_parser("publish", help="publish the validated build")
    p.add_argument("--target", choices=["duckdb", "postgres"], default="duckdb",
                   help="postgres: copy the current publication into PostgreSQL "
                        "(CITYCHECK_PG_DSN) for BI tools")
    sub.add_parser("published", help="list what is published, and which publication each "
                                      "output holds (exit 4 if they disagree)")
    sub.add_parser("recover", help="finish what a stopped run left: land archived files, write "
                                   "missing receipts, finish or undo a half-done publication")
    p = sub.add_parser("freshness", help="who is overdue: raw tables, departments, open-data "
                                         "sources (exit 3 if anything is)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-alert", action="store_true", help="report only, post no alert")
    sub.add_parser("docs", help="generate the data dictionary (dbt docs, one HTML file)")
    sub.add_parser("pool-slots", help="how many processes may write the warehouse at once: "
                                      "the Airflow pool's slots (1 for DuckDB)")
    p = sub.add_parser("bench", help="benchmark the pipeline on synthetic data (docs/performance.md)")
    p.add_argument("--scale", nargs="+", default=["S"], choices=["S", "M", "L", "XL"])
    p.add_argument("--engine", choices=["duckdb", "postgres"], default="duckdb",
                   help="postgres: intake with --workers processes and the build on "
                        "PostgreSQL (CITYCHECK_BENCH_PG_ADMIN_DSN), instead of the whole "
                        "pipeline against pandas and DuckDB")
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2],
                   help="intake processes to measure (--engine postgres)")
    p.add_argument("--resume", action="store_true",
                   help="go on from the first unfinished stage of the last run of the scale")
    p = sub.add_parser("template", help="write the .xlsx template a department fills in")
    p.add_argument("--department", required=True, help="department code, e.g. housing")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--city", default="371000", help="city code (default 371000 威海市)")
    p.add_argument("--output", type=Path, help="file to write (default CITY_DEPARTMENT_YEAR.xlsx "
                                                "in the current folder)")
    p = sub.add_parser("sql", help="SQL on the published data, read-only: a query, a file, "
                                   "or a prompt")
    p.add_argument("query", nargs="?", help='e.g. "select * from mart_indicator_scorecard '
                                            'limit 5"; omit for a prompt')
    p.add_argument("-f", "--file", type=Path, help="run the statements of this .sql file")
    p = sub.add_parser("report", help="the annual city health check report of a city and year "
                                      "(HTML and PDF, from the published marts)")
    p.add_argument("--city", default="371000", help="city code (default 371000 威海市)")
    p.add_argument("--year", type=int, help="omit to write every city-year whose published "
                                            "data changed since its report")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML page only")
    p = sub.add_parser("bulletin", help="issue the next numbered bulletin (通报) of a city's "
                                        "round: departments, districts, commended and interviewed")
    p.add_argument("--city", default="371000", help="city code (default 371000 威海市)")
    p.add_argument("--round", type=int, help="the round's reporting year (default: the latest)")
    p.add_argument("--as-of", type=_date_arg, help="the bulletin's date, YYYY-MM-DD (default: "
                                                    "today); days overdue are counted to it")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML page only")
    p.add_argument("--list", action="store_true", help="list the bulletins issued instead")
    sub.add_parser("site", help="the indicator pages: reporting status and one page per "
                                "indicator, from the published marts")
    p = sub.add_parser("serve", help="serve the reports, the indicator pages and the validation "
                                     "reports on 127.0.0.1")
    p.add_argument("--port", type=int, default=8780,
                   help="default 8780 (8765 is the demo open-data portal's)")
    p = sub.add_parser("portal", help="the department portal (upload, receipts, dispatch list)")
    p.add_argument("--port", type=int, default=8090)
    p = sub.add_parser("users", help="the department portal's accounts")
    p.add_argument("action", choices=["add", "disable", "enable", "reset", "list"])
    p.add_argument("username", nargs="?")
    p.add_argument("--role", choices=["clerk", "office"], default="clerk")
    p.add_argument("--department", help="a clerk's department code, e.g. water")
    p.add_argument("--city", default="371000")
    p = sub.add_parser("status", help="the dispatch list: each round's values expected, "
                                      "received, owed, held, returned")
    p.add_argument("--year", type=int, help="the round's reporting year (default: the year in "
                                            "collection of each city)")
    p.add_argument("--city", help="city code (default: every city)")
    p.add_argument("--missing", action="store_true", help="also list every missing value")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("round", help="the reporting rounds: list them, open one early, close one "
                                     "(docs/operations.md, Running a round)")
    p.add_argument("action", choices=["list", "open", "close"])
    p.add_argument("--city", help="city code (list: default every city; open, close: required)")
    p.add_argument("--year", type=int, help="the round's reporting year (open, close)")
    p.add_argument("--as", dest="actor", metavar="USER",
                   help="the office account acting (a portal account: citycheck users add NAME "
                        "--role office); open and close need it")
    p.add_argument("--deadline", help="open: the round's due date, YYYY-MM-DD (default the "
                                      "programme's)")
    p.add_argument("--reason", default="", help="why (reopening a closed round needs one)")
    p.add_argument("--override", metavar="REASON",
                   help="close although values are still owed, held or returned; they are "
                        "recorded as left missing, with this reason")
    p.add_argument("--no-publish", action="store_true",
                   help="record the step only; the next run publishes it (default: build, "
                        "validate and publish at once)")
    p = sub.add_parser("review", help="values held for review: list them; confirm or return one "
                                      "(the office), answer one (the department)")
    p.add_argument("action", choices=["list", "confirm", "return", "answer"])
    p.add_argument("item", nargs="?", help="the review item, as `citycheck review list` shows it")
    p.add_argument("--city"), p.add_argument("--year", type=int)
    p.add_argument("--as", dest="actor", metavar="USER",
                   help="the account acting: an office account (confirm, return) or the "
                        "department's clerk (answer)")
    p.add_argument("--reason", default="", help="why: the department and the record read it")
    p = sub.add_parser("problem", help="the problem list (问题清单) of the closed rounds: list "
                                       "it, update a problem (cause, measure, deadline, status), "
                                       "export it to Excel")
    p.add_argument("action", choices=["list", "update", "export"])
    p.add_argument("problem", nargs="?", help="update: the problem id, as `list` shows it")
    p.add_argument("--city", default="371000", help="city code (default 371000 威海市)")
    p.add_argument("--year", type=int, help="list, export: one round only")
    p.add_argument("--status", help="list: only problems in this status (open, in_progress, "
                                    "rectified, overdue); update: the new status (open, "
                                    "in_progress, rectified)")
    p.add_argument("--as", dest="actor", metavar="USER",
                   help="update: the office account that acts (a portal account)")
    p.add_argument("--cause"), p.add_argument("--measure")
    p.add_argument("--deadline", type=_date_arg, help="update: YYYY-MM-DD")
    p.add_argument("--output", type=Path, help="export: the .xlsx to write")
    p = sub.add_parser("survey", help="load a resident survey (one respondent per row: "
                                      "docs/surveys.md); the next build estimates from it")
    p.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    from common import progress

    progress.to_terminal(sys.stderr)    # long steps say where they are, on a terminal only
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    _TERMINATED.clear()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        code = _command(args)
    except KeyboardInterrupt as exc:
        return _stopped(args, isinstance(exc, Terminated) or _TERMINATED.is_set())
    except Exception as exc:  # noqa: BLE001 - the one place a traceback stops
        if _TERMINATED.is_set():        # a step that caught the stop (dbt does) and failed
            return _stopped(args, True)
        return _failed(args, exc)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    return _stopped(args, True) if _TERMINATED.is_set() else code


def _stopped(args, terminated: bool) -> int:
    """One line for the person at the terminal; where it stopped goes to the log."""
    import traceback

    stopped = "stopped (SIGTERM)" if terminated else "interrupted"
    where = (traceback.format_exc() if sys.exc_info()[0] is not None
             else "after its last step\n")
    log_path = _log_traceback(f"{args.command} {stopped}, at:\n{where}")
    print(f"citycheck {args.command}: {stopped}; what it finished is kept — run "
          f"`citycheck recover` (or the next run) to finish what it left (recorded in "
          f"{log_path})", file=sys.stderr)
    return 143 if terminated else 130


class Terminated(KeyboardInterrupt):
    """SIGTERM (Airflow's task timeout, `kill`, a container stopping): the command stops as
    Ctrl-C stops it — every step is written to survive being stopped anywhere (SIGKILL
    included, docs/reliability.md) — and exits 143."""


_TERMINATED = threading.Event()


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)     # a second SIGTERM ends it at once
    _TERMINATED.set()
    raise Terminated()


# Errors whose message already says what was wrong and what to do: shown as they are.
EXPECTED = ("BuildError", "BuildIncomplete", "ValidationFailed", "PublishRefused",
            "FetchError", "SubmissionError", "TemplateError", "WarehouseUnavailable",
            "ConfigError", "WarehouseBusy", "FileNotFoundError", "NothingPublished",
            "ReportError", "PortalError", "LandingConflict", "RoundRefused", "SurveyError",
            "BulletinError")


_SAID = {
    errno.EADDRINUSE: lambda exc, args: (
        f"port {getattr(args, 'port', '?')} is in use by another program: choose another "
        "with --port"),
    errno.ENOSPC: lambda exc, args: (
        f"{exc.strerror or 'No space left on device'} ({exc.filename or 'the data folder'}): "
        "free space there (or point CITYCHECK_DATA_DIR at a larger disk) and run it again"),
    errno.EDQUOT: lambda exc, args: (
        f"the disk quota is used up ({exc.filename or 'the data folder'}): free space and "
        "run it again"),
    errno.EACCES: lambda exc, args: (
        f"not allowed to open {exc.filename or 'a file'}: run citycheck as the account that "
        "owns the data folder, or fix its permissions"),
}


def _failed(args, exc: Exception) -> int:
    """One or two lines for the person at the terminal; the traceback goes to the log."""
    import traceback

    name = exc.__class__.__name__
    if name in EXPECTED:
        print(f"citycheck {args.command}: {exc}", file=sys.stderr)
        return 1
    log_path = _log_traceback(traceback.format_exc())
    first = (str(exc).strip().splitlines() or [""])[0]
    from citycheck.warehouse.pg_connection import postgres_went_away

    if postgres_went_away(exc):
        print(f"citycheck {args.command}: PostgreSQL went away during {args.command} "
              f"({first or name}); what it had not committed was rolled back by the server: "
              f"run it again once PostgreSQL is back (`citycheck recover` first after a "
              f"publish).\n  details: {log_path}", file=sys.stderr)
        return 1
    if name == "CatalogException":
        hint = "the warehouse lacks a table this needs: run `citycheck build` (or `citycheck run`)"
    elif isinstance(exc, OSError) and exc.errno in _SAID:
        # the machine's doing, said plainly: not a bug to report
        print(f"citycheck {args.command}: {_SAID[exc.errno](exc, args)}\n"
              f"  details: {log_path}", file=sys.stderr)
        return 1
    elif isinstance(exc, OSError):
        hint = (f"{exc.strerror or first}: check that the disk has space and the path "
                f"{exc.filename or ''} can be written")
        first = ""
    else:
        hint = ("unless the cause is on this machine (disk, permissions, a damaged file), "
                "please report it with the log")
    print(f"citycheck {args.command} failed: {first + '; ' if first else ''}{hint}.\n"
          f"  details: {log_path}", file=sys.stderr)
    return 2


def _log_traceback(text: str) -> str:
    import os
    import tempfile
    from datetime import datetime

    from common.config import PROJECT_ROOT

    for folder in (Path(os.environ.get("CITYCHECK_DATA_DIR", PROJECT_ROOT / "var")) / "logs",
                   Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "citycheck-cli.log"
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"--- {datetime.now():%Y-%m-%d %H:%M:%S} {' '.join(sys.argv)}\n{text}\n")
            return str(path)
        except OSError:
            continue
    return "(no log could be written)"


def _ingest_inbox(settings: Settings, as_json: bool) -> int:
    """Every file of the inbox, one line each as its batch lands (a national backlog's whole
    receipts were 270 MB of text, printed at the end); --json: each whole receipt as one line
    of JSON. The whole receipts are in the archive."""
    from common import progress
    from extract.submissions import ingest_inbox

    def each(r) -> None:
        progress.finish()
        print(json.dumps(r.to_dict(), ensure_ascii=False) if as_json else r.line(), flush=True)

    receipts = ingest_inbox(settings, each=each)
    if not as_json:
        counts = Counter(r.status for r in receipts)
        print(f"{len(receipts)} 个文件 files: " + ", ".join(
            f"{n} {status}" for status, n in counts.most_common()) + "; "
            f"回执在归档文件夹中 each receipt is beside its archived file under "
            f"{settings.storage('archive').shown('')} (receipt.txt)" if receipts else
            "收件箱为空 the inbox is empty: nothing to ingest")
    return 1 if any(r.status == "rejected" for r in receipts) else 0


def _command(args) -> int:
    settings = Settings.from_env()
    if args.command == "run":
        from citycheck.pipeline import run_all
        from common import progress

        def landed(r) -> None:      # each file as its batch lands, not all at the end
            progress.finish()
            print(f"ingested {r.file_name}: {r.status} — {r.message}", flush=True)

        s = run_all(settings, years=parse_years(args.year), fetch=not args.no_fetch,
                    each=landed)
        for f in s.fetches:
            print(f"fetched {f.source}: {f.status} — {f.message}")
        print(f"built {s.build.nodes} dbt nodes in {s.build.seconds:.1f} s; "
              f"validation passed {s.validation.checks} checks "
              f"(report: {s.validation.html_path})")
        print("\nFreshness:\n  " + "\n  ".join(s.freshness.lines()))
        print_intake(settings)
        print_published(settings)
        print_rounds(settings)
    elif args.command == "sql":
        from citycheck.serving.sql import main as sql_main

        return sql_main(settings, args.query, args.file)
    elif args.command == "ingest":
        from extract.submissions import SubmissionError, ingest_file

        if args.file and not args.file.is_file():
            raise SubmissionError(f"no such file: {args.file}")
        if args.file:
            r = ingest_file(args.file, settings, department=args.department, city=args.city,
                            year=args.year)
            print(json.dumps(r.to_dict(), ensure_ascii=False, indent=2) if args.json
                  else r.to_text())
            return 1 if r.status == "rejected" else 0
        return _ingest_inbox(settings, args.json)
    elif args.command == "fetch":
        from extract.open_data import fetch_all

        for f in fetch_all(settings, args.sources or None):
            print(f"{f.source}: {f.status} — {f.message}")
    elif args.command == "build":
        from citycheck.warehouse.build import build

        b = build(settings, full_refresh=args.full_refresh)
        kind = f"full refresh: {b.why}" if b.full_refresh else b.why
        print(f"build {b.build_id} ({kind}): {b.nodes} dbt nodes in {b.seconds:.1f} s")
    elif args.command == "validate":
        from citycheck.checks.validate import validate

        v = validate(settings, years=parse_years(args.year))
        kept = (f"; {len(v.reused)} unchanged partitions kept their earlier verdict"
                if v.reused else "")
        print(f"build {v.build_id}: all {v.checks - len(v.notices)} blocking checks passed"
              f"{kept}")
        for n in v.notices:
            print(f"  reported, not blocking: {n['suite']} [{n['partition'] or 'all'}] "
                  f"{n['unexpected_count'] or ''} rows ({n['why']})")
        print(f"  report: {v.html_path}\n  machine-readable: {v.report_path}")
        from citycheck.warehouse.audit import arrived_since
        from common.engine import engine_for

        with engine_for(settings).connect() as con:
            if arrived_since(con, v.build_id):
                print(f"  note: files, fetches or review steps landed after build {v.build_id} "
                      "began; they are not in what was checked: run `citycheck build` and "
                      "validate again (or `citycheck run`) 构建之后又有新数据，本次校验不含这些数据")
    elif args.command == "publish" and args.target == "postgres":
        from citycheck.publication.publish_postgres import publish_postgres

        pg = publish_postgres(settings)
        print(f"publication {pg.publication_id} copied to PostgreSQL ({pg.dsn_shown}), "
              f"schema published, readable by role {pg.reader_role}:")
        for name, n in pg.tables.items():
            print(f"  {name:<32} {n:>7} rows")
    elif args.command == "publish":
        from citycheck.publication.publish_postgres import publish_everywhere

        p, pg = publish_everywhere(settings)
        print(f"published build {p.build_id} as {p.publication_id}")
        if pg is not None:
            print(f"copied to PostgreSQL ({pg.dsn_shown}), schema published")
        from common.engine import engine_for

        engine = engine_for(settings)
        if not engine.publishes_files:
            print(f"schema published in {engine.describe()}:")
            for name, n in p.tables.items():
                print(f"  {name:<32} {n:>7} rows")
        else:
            print_published(settings)
    elif args.command == "pool-slots":
        from common.engine import engine_for

        print(engine_for(settings).writer_slots())
    elif args.command == "published":
        from citycheck.publication.recovery import publication_state

        state = publication_state(settings)
        print_published(settings)
        print("\n" + "\n".join(state.lines()))
        return 0 if state.agree else 4
    elif args.command == "freshness":
        from citycheck.operations.freshness import check_freshness

        report = check_freshness(settings, alert=not args.no_alert)
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json
              else "\n".join(report.lines()))
        return 0 if report.ok else 3
    elif args.command == "bench" and args.engine == "postgres":
        from citycheck.devtools.bench_postgres import print_postgres_result, run_postgres_bench

        for scale in args.scale:
            print_postgres_result(run_postgres_bench(scale, args.workers))
    elif args.command == "bench":
        from citycheck.devtools.bench import new_run_id, print_result, run_bench, write_results

        run_id = new_run_id()     # the scales of one command are one run (write_summary)
        for scale in args.scale:
            result = run_bench(scale, resume=args.resume, run_id=run_id)
            print_result(result)
            print(f"  results: {write_results(result)}")
            if not result.agree:
                return 1
    elif args.command == "docs":
        from citycheck.warehouse.build import generate_docs

        print(f"data dictionary: {generate_docs(settings)}")
    elif args.command == "template":
        from extract.template import write_template

        out = args.output or Path(f"{args.city}_{args.department}_{args.year}.xlsx")
        path = write_template(out, args.department, args.year, args.city)
        print(f"template for {args.department} {args.year} (city {args.city}): {path}")
    elif args.command == "report":
        from citycheck.serving.report import write_report, write_reports

        written = ([write_report(settings, args.city, args.year, pdf=not args.no_pdf)]
                   if args.year else write_reports(settings, pdf=not args.no_pdf))
        for r in written:
            print(f"report: {r.html_path}")
            print(f"  PDF: {r.pdf_path}" if r.pdf_path else f"  {r.pdf_note or 'no PDF (--no-pdf)'}")
        if not written:
            print(f"every report is up to date ({settings.reports_dir / 'annual'})")
    elif args.command == "problem":
        return _problem(settings, args)
    elif args.command == "bulletin":
        from citycheck.serving.bulletin import issue_bulletin, list_bulletins

        if args.list:
            issued = list_bulletins(settings, args.city)
            for b in issued:
                print(f"{b['city']} {b['round']} 第{b['number']}期 No. {b['number']}  as of "
                      f"{b['as_of']}  {b['folder'] / b['html']}")
            if not issued:
                print(f"no bulletin of city {args.city} has been issued")
            return 0
        b = issue_bulletin(settings, args.city, args.round, args.as_of, pdf=not args.no_pdf)
        print(f"bulletin {b.city} {b.round_year} 第{b.number}期 No. {b.number}: {b.html_path}")
        print(f"  PDF: {b.pdf_path}" if b.pdf_path else f"  {b.pdf_note or 'no PDF (--no-pdf)'}")
    elif args.command == "site":
        from citycheck.serving.site import write_site

        site = write_site(settings)
        print(f"indicator pages ({site.pages} indicators; {len(site.written)} pages written, "
              f"{len(site.removed)} removed, the rest unchanged): {site.index_path}")
    elif args.command == "serve":
        from citycheck.serving.site import serve

        return serve(settings, args.port)
    elif args.command == "portal":
        sys.argv = ["citycheck-portal", "--port", str(args.port)]
        from citycheck.serving.portal_app import main as portal_main

        return portal_main()
    elif args.command == "users":
        from citycheck.serving import department_portal as dp

        if args.action == "list":
            for u in dp.list_users(settings):
                print(f"{u['username']:<24} {u['role']:<7} {u['department_code'] or '-':<22} "
                      f"{u['city_code']} {'disabled' if u['disabled'] else 'active'}")
            return 0
        if not args.username:
            raise dp.PortalError(f"`citycheck users {args.action}` needs a user name")
        if args.action == "add":
            password = dp.add_user(settings, args.username, args.role, args.city,
                                   args.department)
            print(f"user {args.username} added; password (shown once): {password}")
        elif args.action == "reset":
            print(f"new password for {args.username} (shown once): "
                  f"{dp.reset_password(settings, args.username)}")
        else:
            dp.set_disabled(settings, args.username, args.action == "disable")
            print(f"user {args.username} {args.action}d")
    elif args.command == "status":
        from citycheck.serving.status import print_status

        return print_status(settings, args.year, args.city, args.missing, args.json)
    elif args.command == "round":
        return _round(settings, args)
    elif args.command == "review":
        return _review(settings, args)
    elif args.command == "survey":
        from extract.surveys import load_survey

        receipt = load_survey(args.file, settings)
        print(receipt.to_text(), end="")
        if receipt.status == "loaded":
            print("the next build (`citycheck run`, or the warehouse DAG) publishes its "
                  "estimates: mart_survey_estimates")
        return 1 if receipt.rejected else 0
    elif args.command == "recover":
        from citycheck.publication.recovery import recover

        for line in recover(settings):
            print(line)
    return 0


def _actor(settings: Settings, name: str | None, needed: str) -> dict:
    """The portal account `--as` names: who acts, with which role, for which city."""
    from citycheck.serving import department_portal as dp
    from citycheck.warehouse.rounds import RoundRefused

    if not name:
        raise RoundRefused(f"say who acts: --as USER, {needed} (an account of the department "
                           "portal: `citycheck users add NAME --role office --city CODE`)")
    user = dp.find_user(settings, name)
    if user is None or user["disabled"]:
        raise RoundRefused(f"no active portal account {name}: `citycheck users list` shows them")
    return user


def _problem(settings: Settings, args) -> int:
    from citycheck.serving import problems as pb

    if args.action == "list":
        found = pb.list_problems(settings, args.city, args.year, args.status)
        for r in found:
            print(f"{r['problem_id']}  {r['status_text']}  {r['district_name_zh']} "
                  f"{r['indicator_name_zh']}: {r['problem_kind_text']}, {r['value']:g}"
                  f"{' ' + r['target_text'] if r['target_text'] else ''}"
                  f"{'  ' + r['proposal_text'] if r['proposal_text'] else ''}")
        if not found:
            print(f"no problem of city {args.city}"
                  + (f" in {args.year}" if args.year else "") + " (a round has problems once "
                  "it is closed and published)")
        return 0
    if args.action == "export":
        out = args.output or Path(f"problems_{args.city}.xlsx")
        print(f"problem list: {pb.export_problems(settings, args.city, out, args.year)}")
        return 0
    from citycheck.warehouse.rounds import RoundRefused

    if not args.problem:
        raise RoundRefused("say which problem: citycheck problem update ID (`citycheck problem "
                           "list` shows the ids)")
    actor = _actor(settings, args.actor, "an office account of the city")
    update_id = pb.update_problem(settings, args.problem, actor, args.status, args.cause,
                                 args.measure, args.deadline)
    print(f"recorded {update_id} on {args.problem}; the list shows it after the next "
          "publication (citycheck run, or the warehouse DAG)")
    return 0


def _publish_now(settings: Settings) -> None:
    from citycheck.checks.validate import validate
    from citycheck.publication.publish_postgres import publish_everywhere
    from citycheck.warehouse.build import build

    build(settings)
    validate(settings)
    p, _ = publish_everywhere(settings)
    print(f"published as {p.publication_id}")


def _round(settings: Settings, args) -> int:
    from citycheck.operations import rounds as rv
    from citycheck.warehouse.rounds import RoundRefused

    if args.action == "list":
        con, prefix, origin = _latest(settings)
        try:
            from citycheck.serving.status import _reader

            found = rv.rounds(_reader(con), prefix, args.city)
        finally:
            con.close()
        print(f"报送轮次 Reporting rounds — from the {origin}")
        print(f"  {'city':<8}{'year':<6}{'state':<12}{'due':<12}{'complete':>9}{'owed':>6}"
              f"{'held':>6}{'returned':>9}  closed")
        for r in found:
            closed = f"{r['closed_at']:%Y-%m-%d} by {r['closed_by']}" if r["closed_at"] else ""
            print(f"  {r['city_code']:<8}{r['year']:<6}{r['round_state']:<12}"
                  f"{str(r['due_on']):<12}{r['completeness_pct'] or 0:>8g}%"
                  f"{r['values_missing']:>6}{r['values_held']:>6}{r['values_returned']:>9}  "
                  f"{closed}")
        return 0
    if not args.city or args.year is None:
        raise RoundRefused(f"`citycheck round {args.action}` needs --city and --year")
    actor = _actor(settings, args.actor, "an office account of the city")
    if args.action == "open":
        from datetime import date

        deadline = None
        if args.deadline:
            try:
                deadline = date.fromisoformat(args.deadline)
            except ValueError:
                raise RoundRefused(f"--deadline {args.deadline!r} is not a date like "
                                   "2025-03-31") from None
        done = rv.open_round(settings, args.city, args.year, actor, deadline, args.reason)
    else:
        done = rv.close_round(settings, args.city, args.year, actor, args.reason, args.override)
    print(done.message)
    for m in done.left_missing[:50]:
        print(f"  left {m['value_state']}: {m['department_code']} {m['indicator_code']} "
              f"{m['district_code']}")
    if not args.no_publish:
        _publish_now(settings)
    return 0


def _latest(settings: Settings):
    from common.engine import engine_for

    return engine_for(settings).read_latest()


def _review(settings: Settings, args) -> int:
    from citycheck.operations import rounds as rv
    from citycheck.serving.status import _reader
    from citycheck.warehouse.rounds import STATE_ZH, RoundRefused

    if args.action == "list":
        con, prefix, origin = _latest(settings)
        try:
            rows = _reader(con)
            cities = [args.city] if args.city else sorted(
                {r["city_code"] for r in rv.rounds(rows, prefix)})
            items = [i for c in cities for i in rv.review_queue(rows, prefix, c, args.year)]
        finally:
            con.close()
        print(f"审核队列 Review queue — from the {origin}: {len(items)} open")
        for i in items:
            value = "—" if i["value"] is None else f"{i['value']:g}"
            shown = "" if i["published_value"] is None else \
                f" (published meanwhile: {i['published_value']:g})"
            print(f"  {i['file_hash'][:12]}:{i['record_number']:<5} {i['review_state']:<9}"
                  f"{STATE_ZH[i['review_state']]:<6} {i['city_code']} {i['year']} "
                  f"{i['department_code']:<18} {i['indicator_code']} {i['district_code']} "
                  f"= {value}{shown}")
            print(f"      {i['last_review_reason'] or i['held_because']}")
        return 0
    if not args.item:
        raise RoundRefused(f"`citycheck review {args.action}` needs the item, as `citycheck "
                           "review list` shows it")
    actor = _actor(settings, args.actor, "an office account (confirm, return) or the "
                                         "department's clerk (answer)")
    item = rv.review(settings, args.item, args.action, actor, args.reason)
    print(f"{args.item}: now {item['state']} ({STATE_ZH[item['state']]}); published after the "
          "next run (`citycheck run`, or the warehouse DAG)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
