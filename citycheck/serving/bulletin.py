"""Bulletins (通报): the coordinating office's numbered, dated notice of a round — each
department's timeliness, completeness, returned and corrected values and its assessment; each
district's assessment (index, targets, progress); and the districts commended (通报表扬) and
listed for interview (约谈) by the rules of seeds/bulletin_rules.csv.

    citycheck bulletin --city 371000 [--round 2024] [--as-of 2025-04-15] [--no-pdf]

Made from the published marts only (mart_rounds, mart_department_assessment,
mart_district_assessment), like the annual report: every number carries the mart row and
column it shows (`data-mart`, `data-id`, `data-column`), and tests/test_bulletins.py compares
them. An issued bulletin is kept and never rewritten: it is numbered per city and round
(第N期), in its own folder `reports/bulletins/<city>/<round>/<NN>/`, made with an exclusive
mkdir under a lock on the round's folder — two offices issuing at once get two numbers, never
one file written twice. The folder holds the page, its PDF (A4) and, written last,
`bulletin.json`: what it said of each department and district, for the listing, the
departments it names and the published marts (the build lands it: mart_bulletins,
mart_bulletin_lines; citycheck/warehouse/bulletins.py). A folder without it is a bulletin that
was never finished (the process died): the next bulletin of the round takes its number, so
the numbers run without a gap.
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from citycheck.warehouse.bulletins import BULLETINS_FOLDER, RECORD, issued_records
from common.config import SEEDS_DIR, Settings
from common.faults import crash_point

# what a rule's measure (a column of mart_district_assessment) is called on the page
MEASURES = {"score": ("区县考评得分", "district assessment score"),
            "index_score": ("综合指数得分", "composite index score"),
            "index_change": ("综合指数较上年变化", "change of the composite index on the year before"),
            "attainment_pct": ("目标达成率", "share of targets met"),
            "progress_score": ("进步得分", "progress score")}


class BulletinError(Exception):
    """A bulletin cannot be issued; the message says why and what exists."""


@dataclass
class Rule:
    list_kind: str          # commend | interview
    measure: str            # a column of mart_district_assessment
    pick: str               # top | bottom
    count: int
    threshold: float | None
    why_zh: str
    why_en: str


@dataclass
class BulletinResult:
    city: str
    round_year: int
    number: int
    folder: Path
    html_path: Path
    pdf_path: Path | None
    pdf_note: str | None


def load_rules(seeds_dir: Path = SEEDS_DIR) -> list[Rule]:
    with open(seeds_dir / "bulletin_rules.csv", encoding="utf-8") as fh:
        return [Rule(r["list_kind"], r["measure"], r["pick"], int(r["count"]),
                     float(r["threshold"]) if r["threshold"].strip() else None,
                     r["why_zh"], r["why_en"]) for r in csv.DictReader(fh)]


def choose(districts: list[dict], rules: list[Rule]) -> dict[str, list[dict]]:
    """The commendation and interview lists: each rule picks the `count` districts at the top
    (or bottom) of its measure, ties at the boundary included, and only those above (below)
    its threshold when it has one. A district picked for interview is not commended. Each
    picked district says which rules picked it."""
    picked: dict[str, dict[str, list[Rule]]] = {"commend": {}, "interview": {}}
    for rule in rules:
        have = [d for d in districts if d.get(rule.measure) is not None]
        if rule.threshold is not None:
            have = [d for d in have if (d[rule.measure] > rule.threshold if rule.pick == "top"
                                        else d[rule.measure] < rule.threshold)]
        have.sort(key=lambda d: d[rule.measure], reverse=rule.pick == "top")
        if not have or rule.count <= 0:
            continue
        edge = have[min(rule.count, len(have)) - 1][rule.measure]
        for d in have:
            if (d[rule.measure] >= edge) if rule.pick == "top" else (d[rule.measure] <= edge):
                picked[rule.list_kind].setdefault(d["district_code"], []).append(rule)
    for code in picked["interview"]:
        picked["commend"].pop(code, None)
    by_code = {d["district_code"]: d for d in districts}
    return {kind: [{**by_code[code], "rules": rules_}
                   for code, rules_ in sorted(found.items(),
                                              key=lambda kv: by_code[kv[0]]["rank_in_city"] or 0)]
            for kind, found in picked.items()}


def bulletin_data(con, city: str, round_year: int | None, as_of: date) -> dict:
    """What the bulletin says, from the published marts (read-only connection)."""
    from citycheck.operations.rounds import days_overdue
    from citycheck.serving.sql import query_rows

    rounds = query_rows(con, "select * from mart_rounds where city_code = ? order by year",
                        [city])
    if not rounds:
        raise BulletinError(f"no reporting round of city {city} is published; cities with "
                            f"rounds: {_cities(con)}")
    if round_year is None:
        round_year = rounds[-1]["year"]
    found = [r for r in rounds if r["year"] == round_year]
    if not found:
        raise BulletinError(f"city {city} has no {round_year} round; its rounds: "
                            f"{', '.join(str(r['year']) for r in rounds)}")
    departments = query_rows(con, """
        select * from mart_department_assessment where city_code = ? and year = ?
        order by rank_in_city nulls last, department_code""", [city, round_year])
    for d in departments:     # still owed on the bulletin's date, counted as every reader does
        d["days_overdue"] = days_overdue(d["due_on"], as_of) if d["values_missing"] else 0
    districts = query_rows(con, """
        select * from mart_district_assessment where city_code = ? and year = ?
        order by rank_in_city nulls last, district_code""", [city, round_year])
    rules = load_rules()
    return {
        "city": city, "city_name_zh": found[0]["city_name_zh"],
        "city_name_en": found[0]["city_name_en"], "round_year": round_year,
        "round": found[0], "as_of": as_of, "departments": departments,
        "districts": districts, "lists": choose(districts, rules), "rules": rules,
        "measures": MEASURES,
        "publication": (publication := query_rows(con, "select * from publication", [])[0]),
        "published_text": str(publication["published_at"])[:16],
    }


def _cities(con) -> str:
    return ", ".join(r[0] for r in con.execute(
        "select distinct city_code from mart_rounds order by 1").fetchall()) or "none"


def bulletins_dir(settings: Settings, city: str, round_year: int) -> Path:
    return settings.reports_dir / BULLETINS_FOLDER / city / str(round_year)


@contextmanager
def _round_locked(folder: Path) -> Iterator[None]:
    """One bulletin of the round at a time (an flock on its folder, released by the kernel
    when the process dies: a killed issue never blocks the next)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _claim_number(folder: Path) -> tuple[int, Path]:
    """The next number of the city's round (called under _round_locked): one more than the
    last bulletin finished; a folder left unfinished by a process that died is removed and
    its number taken again. The folder is made exclusively: never one written twice."""
    finished = []
    for p in folder.iterdir():
        if p.is_dir() and p.name.isdigit():
            if (p / RECORD).exists():
                finished.append(int(p.name))
            else:
                shutil.rmtree(p)
    number = max(finished, default=0) + 1
    (folder / f"{number:02d}").mkdir()
    return number, folder / f"{number:02d}"


def _lines(data: dict) -> list[dict]:
    """What the bulletin says of each department and district, as its record keeps it."""
    listed = {d["district_code"]: (kind, d["rules"])
              for kind in ("commend", "interview") for d in data["lists"][kind]}
    lines = [{"subject_kind": "department", "subject_code": d["department_code"],
              **{k: d[k] for k in ("rank_in_city", "score", "days_late", "days_overdue",
                                   "values_missing", "values_returned", "values_corrected")}}
             for d in data["departments"]]
    for d in data["districts"]:
        kind, rules = listed.get(d["district_code"], (None, []))
        lines.append({"subject_kind": "district", "subject_code": d["district_code"],
                      **{k: d[k] for k in ("rank_in_city", "score", "index_score",
                                           "index_change", "attainment_pct")},
                      "listed": kind,
                      "listed_because_zh": "；".join(r.why_zh for r in rules) or None,
                      "listed_because_en": "; ".join(r.why_en for r in rules) or None})
    return lines


def issue_bulletin(settings: Settings, city: str, round_year: int | None = None,
                   as_of: date | None = None, pdf: bool = True,
                   issued_by: str = "cli") -> BulletinResult:
    """Issue the next bulletin of the city's round from the current publication."""
    from citycheck.serving.report import environment, print_pdf
    from citycheck.serving.sql import open_publication
    from common.calendar import today

    as_of = as_of or today()
    con = open_publication(settings)
    try:
        data = bulletin_data(con, city, round_year, as_of)
    finally:
        con.close()
    round_dir = bulletins_dir(settings, city, data["round_year"])
    with _round_locked(round_dir):
        number, folder = _claim_number(round_dir)
        issued_at = datetime.now(UTC)
        stamp = issued_at.strftime("%Y-%m-%d %H:%M UTC")
        html = folder / f"{city}_{data['round_year']}_{number:02d}.html"
        try:
            page = environment().get_template("bulletin.html").render(
                **data, number=number, issued_at=stamp, generated_at=stamp)
        except Exception:
            folder.rmdir()      # nothing was written: the number is free again
            raise
        _write_new(html, page)
        result = BulletinResult(city, data["round_year"], number, folder, html, None, None)
        if pdf:
            result.pdf_note = print_pdf(html, html.with_suffix(".pdf"))
            if result.pdf_note is None:
                result.pdf_path = html.with_suffix(".pdf")
        crash_point("bulletin.before_record")
        # the record last: with it the bulletin is issued (listed, shown, landed)
        _write_new(folder / RECORD, json.dumps({
            "city": city, "round": data["round_year"], "number": number,
            "as_of": as_of.isoformat(), "issued_at": issued_at.isoformat(),
            "issued_by": issued_by,
            "publication_id": data["publication"]["publication_id"],
            "departments": sorted({d["department_code"] for d in data["departments"]}),
            "commended": [d["district_code"] for d in data["lists"]["commend"]],
            "interviewed": [d["district_code"] for d in data["lists"]["interview"]],
            "html": html.name, "pdf": result.pdf_path.name if result.pdf_path else None,
            "lines": _lines(data)}, ensure_ascii=False, indent=1, default=str))
    return result


def _write_new(path: Path, text: str) -> None:
    """Write a file that must not exist yet (an issued bulletin is never rewritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def list_bulletins(settings: Settings, city: str | None = None,
                   department: str | None = None) -> list[dict]:
    """Issued bulletins, newest first (each its bulletin.json): of one city, and those naming
    one department when asked."""
    found = []
    for folder, entry in issued_records(settings.reports_dir):
        if city and entry["city"] != city:
            continue
        if department and department not in entry["departments"]:
            continue
        found.append({**entry, "folder": folder})
    return sorted(found, key=lambda e: (e["issued_at"], e["number"]), reverse=True)


WEEKLY_ENV = "CITYCHECK_WEEKLY_BULLETIN"


def issue_weekly_bulletins(settings: Settings, pdf: bool = True) -> list[str]:
    """The weekly bulletin of each city's round in collection (its latest round not closed),
    when CITYCHECK_WEEKLY_BULLETIN=1; returns what was issued ("city round No. N")."""
    import logging

    from citycheck.serving.sql import open_publication

    if os.environ.get(WEEKLY_ENV, "").strip() != "1":
        logging.getLogger("citycheck.bulletin").info(
            "weekly bulletins are off (set %s=1 to issue them)", WEEKLY_ENV)
        return []
    con = open_publication(settings)
    try:
        collecting = con.execute("select city_code, max(year) from mart_rounds where "
                                 "is_provisional group by city_code order by city_code"
                                 ).fetchall()
    finally:
        con.close()
    issued = []
    for city, year in collecting:
        b = issue_bulletin(settings, city, year, pdf=pdf, issued_by="weekly")
        issued.append(f"{city} {year} No. {b.number}")
    return issued
