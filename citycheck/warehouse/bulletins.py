"""Bulletins (通报) as data: the record each issued bulletin keeps beside its page
(`bulletin.json` in reports/bulletins/<city>/<round>/<NN>/, written by
citycheck/serving/bulletin.py) is landed in raw.bulletins and raw.bulletin_lines by every build
(land_bulletins), so the published marts (mart_bulletins, mart_bulletin_lines) hold every
bulletin issued before it, as it was printed: a bulletin's figures are those of the
publication it was made from, never recomputed.

Landed here rather than when a bulletin is issued: issuing never waits for the warehouse's
one writer (a build may hold it for minutes), and a bulletin issued while the warehouse was
busy or down is not lost to the marts.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

# where issued bulletins live, under the reports folder
BULLETINS_FOLDER = "bulletins"
RECORD = "bulletin.json"
# the figures of a line, as bulletin.json and raw.bulletin_lines name them
LINE_FIGURES = ("rank_in_city", "score", "listed", "listed_because_zh", "listed_because_en",
                "days_late", "days_overdue", "values_missing", "values_returned",
                "values_corrected", "index_score", "index_change", "attainment_pct")
LINE_PLACES = ", ".join(["?"] * (3 + len(LINE_FIGURES)))


def bulletin_id(city: str, round_year: int, number: int) -> str:
    return f"{city}|{round_year}|{number:02d}"


def issued_records(reports_dir: Path) -> list[tuple[Path, dict]]:
    """(folder, record) of every issued bulletin: those whose record was written (a folder
    without one is a bulletin that was never finished)."""
    root = reports_dir / BULLETINS_FOLDER
    if not root.exists():
        return []
    return [(meta.parent, json.loads(meta.read_text(encoding="utf-8")))
            for meta in sorted(root.glob(f"*/*/*/{RECORD}"))]


def land_bulletins(con, reports_dir: Path) -> int:
    """Append to raw.bulletins and raw.bulletin_lines every issued bulletin not yet there;
    returns how many. Idempotent (a bulletin's id is its city, round and number)."""
    known = {r[0] for r in con.execute("select bulletin_id from raw.bulletins").fetchall()}
    landed_at = datetime.now(UTC).replace(tzinfo=None)
    new = 0
    for folder, record in issued_records(reports_dir):
        bid = bulletin_id(record["city"], record["round"], record["number"])
        if bid in known:
            continue
        page = (folder / record["html"]).relative_to(reports_dir).as_posix()
        lines = record.get("lines") or []
        con.execute("begin")            # a bulletin and its lines, or nothing
        try:
            con.execute("insert into raw.bulletins values (?,?,?,?,?,?,?,?,?,?)",
                        [bid, record["city"], record["round"], record["number"],
                         record["as_of"], datetime.fromisoformat(record["issued_at"])
                         .astimezone(UTC).replace(tzinfo=None), record["issued_by"],
                         record["publication_id"], page, landed_at])
            if lines:
                con.executemany(f"insert into raw.bulletin_lines values ({LINE_PLACES})",
                                [[bid, line["subject_kind"], line["subject_code"]]
                                 + [line.get(k) for k in LINE_FIGURES] for line in lines])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        new += 1
    return new
