"""Resident surveys (城市人居环境满意度调查: seed 001's eighth dimension), one respondent per
row: `citycheck survey FILE`.

The file (CSV or .xlsx, docs/surveys.md):

    问卷 Survey,城市人居环境满意度调查
    城市 City,371000
    年度 Year,2023

    受访者编号 respondent_id,区县 district,权重 weight,城市安全性 safety,...
    R0001,环翠区,1.2,5,4,4,3,2

Each answer is 1 (非常不满意 very dissatisfied) to 5 (非常满意 very satisfied), or blank (not
answered). A row is accepted whole or rejected with the reason and the column at fault: an
unknown district, a weight that is not a positive number, an answer outside 1-5. The file is
archived by its sha256 and landed in one transaction (raw.survey_files, survey_rows,
survey_answers); the same bytes again change nothing. A later file for the same city and year
replaces the earlier one in the estimates (mart_survey_estimates), which stays on record.
"""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from common.config import Settings
from common.engine import engine_for
from common.messages import say
from common.reference import load_reference
from extract.reading import FileRefused, read_sheets
from extract.submissions.archive import archive_key, file_sha256, safe_name

# The five aspects seed 001 asks residents about, as the file's columns name them.
ITEMS = {"safety": "城市安全性", "convenience": "生活方便性",
         "natural_environment": "自然环境宜人性", "cultural_environment": "人文环境舒适性",
         "mobility": "出行便捷性"}
HEADINGS = {"respondent_id": ("受访者编号", "respondent_id"), "district": ("区县", "district"),
            "weight": ("权重", "weight"), **{k: (v, k) for k, v in ITEMS.items()}}


class SurveyError(Exception):
    """The file as a whole cannot be loaded; the message says why and what to do."""


@dataclass
class SurveyReceipt:
    file_name: str
    file_hash: str
    status: str                  # loaded | duplicate
    city_code: str
    year: int
    rows_read: int = 0
    rows_accepted: int = 0
    rejected: list[dict] = field(default_factory=list)

    def to_text(self) -> str:
        lines = [
            "问卷导入回执 Survey receipt",
            f"文件 File: {self.file_name}",
            f"文件指纹 SHA-256: {self.file_hash}",
            f"城市 City: {self.city_code}   年度 Year: {self.year}",
        ]
        if self.status == "duplicate":
            lines.append("结果 Result: 此文件已导入，未重复导入 / already loaded: nothing changed")
            return "\n".join(lines) + "\n"
        lines.append(f"受访者 Respondents: 读取 read {self.rows_read} = 接收 accepted "
                     f"{self.rows_accepted} + 退回 rejected {len(self.rejected)}")
        if self.rejected:
            lines += ["", "退回的行 Rejected rows (请修改后重新导入 / fix and load the file again):"]
            lines += [f"  第 {r['row']} 行 row, 列 column {r['column']}: {r['reason']}"
                      for r in self.rejected]
        return "\n".join(lines) + "\n"


def _key(text: object) -> str | None:
    """Which column a heading names: its Chinese or English words, either or both."""
    words = str(text or "").strip().lower()
    for key, (zh, en) in HEADINGS.items():
        if words in (zh, en, f"{zh} {en}") or (zh in words and en in words):
            return key
    return None


def _header(rows: list[list[object]]) -> tuple[dict[str, str], int]:
    """The block above the table (问卷 / 城市 / 年度) and where the table's heading row is."""
    meta: dict[str, str] = {}
    for i, row in enumerate(rows):
        cells = [str(c).strip() if c is not None else "" for c in row]
        if sum(1 for c in cells if _key(c)) >= 3:
            return meta, i
        if len(cells) >= 2 and cells[0]:
            label = cells[0].lower()
            for key, words in (("survey", ("问卷", "survey")), ("city", ("城市", "city")),
                               ("year", ("年度", "year"))):
                if any(w in label for w in words):
                    meta[key] = cells[1]
    raise SurveyError(say("survey_no_table", columns=", ".join(
        f"{zh} {en}" for zh, en in HEADINGS.values())))


def _text(row: list[object], i: int) -> str:
    """A cell as text: 4.0 from a workbook is '4'."""
    value = row[i] if i < len(row) else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def read_survey(path: Path, name: str, ref, settings: Settings
                ) -> tuple[dict, list[dict], list[dict]]:
    """(the file's city, year and name; its respondent rows; their answers), each row accepted
    or rejected with its reason: nothing stored yet. The limits of department files hold
    (CITYCHECK_MAX_FILE_BYTES, CITYCHECK_MAX_UNPACKED_BYTES, CITYCHECK_MAX_FILE_ROWS)."""
    size = path.stat().st_size
    if size > settings.max_file_bytes:
        raise SurveyError(say("file_too_large", size=f"{size:,}",
                              limit=f"{settings.max_file_bytes:,}"))
    try:
        sheets = read_sheets(path, settings.max_unpacked_bytes, name=name)
    except FileRefused as exc:
        raise SurveyError(str(exc)) from None
    rows = sheets[0].rows if sheets else []
    if len(rows) > settings.max_file_rows:
        raise SurveyError(say("too_many_rows", rows=f"{len(rows):,}",
                              limit=f"{settings.max_file_rows:,}"))
    meta, at = _header(rows)
    city = (meta.get("city") or "").strip()
    if city not in ref.cities:
        raise SurveyError(say("survey_city", city=city or "(none)",
                              known=", ".join(sorted(ref.cities))))
    try:
        year = int(float(meta.get("year") or ""))
    except ValueError:
        raise SurveyError(say("survey_year", year=meta.get("year") or "(none)")) from None
    columns = {_key(c): i for i, c in enumerate(rows[at]) if _key(c)}
    missing = [f"{HEADINGS[k][0]} {k}" for k in ("respondent_id", "district", "weight", *ITEMS)
               if k not in columns]
    if missing:
        raise SurveyError(say("survey_columns", columns=", ".join(missing)))
    people, answers = [], []
    for number, row in enumerate(rows[at + 1:], start=at + 2):
        cell = {key: _text(row, i) for key, i in columns.items()}
        if not any(cell.values()):
            continue                                    # a blank line: layout
        person = {"row_number": number, "respondent_id": cell["respondent_id"],
                  "district_text": cell["district"], "district_code": None,
                  "weight_text": cell["weight"], "weight": None, "status": "accepted",
                  "reason": None, "error_column": None}
        given = {item: cell[item] for item in ITEMS}
        fault = None
        resolved = ref.resolve_district(person["district_text"], city, year)
        if not person["respondent_id"]:
            fault = ("respondent_id", say("survey_no_respondent"))
        elif not resolved.code:
            fault = ("district", resolved.reason)
        else:
            try:
                weight = float(person["weight_text"])
            except ValueError:
                weight = None
            if weight is None or not 0 < weight < math.inf:       # NaN fails both
                fault = ("weight", say("survey_weight", text=person["weight_text"]))
            else:
                person["weight"] = weight
        if fault is None:
            for item, text in given.items():
                if text and text not in ("1", "2", "3", "4", "5"):
                    fault = (item, say("survey_answer", text=text, item=ITEMS[item]))
                    break
        if fault is None and not any(given.values()):
            fault = ("safety", say("survey_no_answer"))
        if fault:
            person.update(status="rejected", reason=fault[1], error_column=fault[0],
                          weight=None)
        else:
            person["district_code"] = resolved.code
            answers += [{"row_number": number, "item": item, "answer_text": text,
                         "answer": int(text) if text else None} for item, text in given.items()]
        people.append(person)
    if not people:
        raise SurveyError(say("survey_empty"))
    return {"city_code": city, "year": year, "survey_name": meta.get("survey")}, people, answers


def load_survey(path: Path, settings: Settings, received_at: datetime | None = None
                ) -> SurveyReceipt:
    """Read, archive and land one survey file (the same bytes twice: a duplicate)."""
    path = Path(path)
    if not path.is_file():
        raise SurveyError(say("survey_not_found", path=path))
    digest = file_sha256(path)
    ref = load_reference(settings.seeds_dir)
    meta, people, answers = read_survey(path, path.name, ref, settings)
    receipt = SurveyReceipt(path.name, digest, "loaded", meta["city_code"], meta["year"],
                            rows_read=len(people),
                            rows_accepted=sum(1 for p in people if p["status"] == "accepted"),
                            rejected=[{"row": p["row_number"], "column": p["error_column"],
                                       "reason": p["reason"]}
                                      for p in people if p["status"] == "rejected"])
    engine = engine_for(settings)
    with engine.connect() as con:
        if con.execute("select count(*) from raw.survey_files where file_hash = ?",
                       [digest]).fetchone()[0]:
            receipt.status = "duplicate"
            return receipt
    archived = settings.archive_dir / archive_key(digest) / safe_name(path.name)
    archived.parent.mkdir(parents=True, exist_ok=True)
    if not archived.exists():
        shutil.copyfile(path, archived)
    received = received_at or datetime.now(UTC).replace(tzinfo=None)
    engine.land({
        "survey_files": pd.DataFrame([{
            "file_hash": digest, "original_name": path.name, "archived_path": str(archived),
            "received_at": received, **meta, "rows_read": receipt.rows_read,
            "rows_accepted": receipt.rows_accepted, "rows_rejected": len(receipt.rejected),
            "message": f"{receipt.rows_accepted} respondents accepted, "
                       f"{len(receipt.rejected)} rejected"}]),
        # nullable types: a rejected row has no weight, a question not answered no answer
        "survey_rows": pd.DataFrame([{"file_hash": digest, **p} for p in people]).astype(
            {"weight": "Float64"}),
        "survey_answers": pd.DataFrame([{"file_hash": digest, **a} for a in answers],
                                       columns=["file_hash", "row_number", "item",
                                                "answer_text", "answer"]).astype(
            {"answer": "Int64"}),
    })
    (archived.parent / "survey-receipt.txt").write_text(receipt.to_text(), encoding="utf-8")
    return receipt
