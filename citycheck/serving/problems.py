"""The problem list (问题清单) as the office reads, edits and exports it.

    citycheck problem list --city 370300 [--year 2021] [--status open]
    citycheck problem update ID --as OFFICE --status in_progress --cause … --measure … --deadline …
    citycheck problem export --city 370300 [--output problems.xlsx]

The list is the published mart_problems; a step is appended to raw.problem_updates
(citycheck/warehouse/problems.py) and shows in the list after the next publication, like a
review step. Overdue — a deadline passed and not rectified — is counted here, on the day the
list is read.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from common.calendar import today
from common.config import Settings

COLUMNS = [  # (mart column, Chinese heading, English heading)
    ("problem_id", "问题编号", "Problem"),
    ("year", "年度", "Round"),
    ("dimension_name_zh", "维度", "Dimension"),
    ("district_name_zh", "区县", "District"),
    ("indicator_name_zh", "指标", "Indicator"),
    ("problem_kind_text", "问题类型", "Kind"),
    ("value", "数值", "Value"),
    ("previous_year_value", "上年数值", "Year before"),
    ("target_text", "目标", "Target"),
    ("unit", "单位", "Unit"),
    ("department_name_zh", "责任部门", "Department"),
    ("cause", "原因", "Cause"),
    ("measure", "整改措施", "Measure"),
    ("deadline", "整改时限", "Deadline"),
    ("status_text", "整改状态", "Status"),
    ("proposal_text", "建议", "Proposal"),
    ("last_update_by", "更新人", "Updated by"),
    ("updates", "更新次数", "Updates"),
]
KIND_TEXT = {"target_missed": "目标未达成 target missed",
             "bottom_line_breached": "底线未守住 bottom line breached",
             "deteriorated": "较上年退步 worse than the year before"}
STATUS_NAMES = {"open": ("未整改", "open"), "in_progress": ("整改中", "in progress"),
                "rectified": ("已整改", "rectified"), "overdue": ("已逾期", "overdue")}
STATUS_TEXT = {k: f"{zh} {en}" for k, (zh, en) in STATUS_NAMES.items()}


def shown_status(problem: dict, on: date | None = None) -> str:
    """open / in_progress / rectified, or overdue: a deadline passed and not rectified."""
    if problem["status"] != "rectified" and problem.get("deadline") is not None \
            and problem["deadline"] < (on or today()):
        return "overdue"
    return problem["status"]


def list_problems(settings: Settings, city: str, year: int | None = None,
                  status: str | None = None, on: date | None = None) -> list[dict]:
    """The published problems of a city (of one round, in one shown status), oldest round
    first, with what a reader is shown beside the mart's columns, and each problem's steps
    (mart_problem_updates, newest first) as `history`."""
    from citycheck.serving.sql import NothingPublished, open_publication, query_rows

    try:
        con = open_publication(settings)
    except NothingPublished:
        return []
    try:
        rows = query_rows(con, "select * from mart_problems where city_code = ?"
                          + (" and year = ?" if year else "")
                          + " order by year, dimension_code, district_code, indicator_code",
                          [city] + ([year] if year else []))
        steps = query_rows(con, "select * from mart_problem_updates where city_code = ?"
                           + (" and year = ?" if year else "") + " order by problem_id, step desc",
                           [city] + ([year] if year else []))
    finally:
        con.close()
    history: dict[str, list[dict]] = {}
    for step in steps:                  # newest first
        step["status_zh"], step["status_en"] = STATUS_NAMES[step["status"]]
        history.setdefault(step["problem_id"], []).append(step)
    for r in rows:
        r["history"] = history.get(r["problem_id"], [])
        r["shown_status"] = shown_status(r, on)
        r["status_text"] = STATUS_TEXT[r["shown_status"]]
        r["status_zh"], r["status_en"] = STATUS_NAMES[r["shown_status"]]
        r["problem_kind_text"] = KIND_TEXT[r["problem_kind"]]
        r["target_text"] = ("" if r["target_value"] is None else
                            f"{'新增 increase ' if r['target_basis'] == 'increase' else ''}"
                            f"{r['comparator']} {r['target_value']:g}")
        r["proposal_text"] = (f"建议销号：{r['evidence_year']}年数值 {r['evidence_value']:g} "
                              f"已达标 proposed rectified: {r['evidence_year']} value "
                              f"{r['evidence_value']:g}" if r["proposed_rectified"] else "")
    return [r for r in rows if status is None or r["shown_status"] == status]


def update_problem(settings: Settings, problem_id: str, actor: dict, status: str | None,
                   cause: str | None, measure: str | None, deadline: date | None,
                   seen: str | None = "") -> str:
    """One step on a problem (citycheck/warehouse/problems.py); returns its id."""
    from citycheck.warehouse.problems import record_problem_update
    from common.engine import engine_for

    with engine_for(settings).connect() as con:
        return record_problem_update(con, problem_id, actor, status, cause, measure,
                                     deadline, seen)


def export_problems(settings: Settings, city: str, path: Path,
                    year: int | None = None) -> Path:
    """The city's problem list as an .xlsx the office can send on: headings in Chinese and
    English, one row per problem, frozen header, filters."""
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill

    rows = list_problems(settings, city, year)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "问题清单 problems"
    sheet.append([f"{zh}\n{en}" for _, zh, en in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r in rows:
        sheet.append([r[c] for c, _, _ in COLUMNS])
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for column, width in zip("ABCDEFGHIJKLMNOPQR",
                             (40, 6, 10, 12, 28, 18, 10, 10, 12, 8, 18, 30, 30, 12, 14, 30, 12, 8),
                             strict=True):
        sheet.column_dimensions[column].width = width
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".xlsx.tmp")
    book.save(tmp)
    tmp.replace(path)
    return path
