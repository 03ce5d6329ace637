"""Department submissions: read a file, give every row a verdict, land it, write a receipt.

One function per step, called the same way by `citycheck ingest FILE` and by the submissions
DAG. Every row read ends up in exactly one of three states, and the counts reconcile:

- accepted: resolved indicator, district, year and a number (or an explicit missing marker);
- rejected: with the sheet, row, column, value and the reason, so the department can fix it;
- ignored:  layout (title and header block, header row, blank rows, totals rows).

A file is loaded whole or not at all (one transaction). The same bytes sent twice are
recognised by their sha256 and load nothing the second time.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from citycheck.config import Settings
from citycheck.reference import Reference, load_reference, normalise
from citycheck.warehouse import connect
from extract.numbers import clean, parse_number, parse_year

SUPPORTED_SUFFIXES = {".csv", ".xlsx", ".xls"}

# Canonical column -> header texts departments use (normalised; units in brackets are dropped).
HEADER_ALIASES: dict[str, set[str]] = {
    "indicator_code": {"指标代码", "指标编码", "indicator_code", "indicatorcode"},
    "indicator_name": {"指标名称", "指标", "indicator_name", "indicator", "indicatorname"},
    "district_code": {"区县代码", "区划代码", "行政区划代码", "district_code", "districtcode"},
    "district_name": {"区县名称", "区县", "地区", "区市", "district_name", "district",
                      "districtname"},
    "year": {"年度", "年份", "year"},
    "value": {"数值", "指标值", "完成值", "数据", "value"},
    "unit": {"单位", "计量单位", "unit"},
    "quality_flag": {"质量标记", "数据标记", "quality_flag", "qualityflag", "flag"},
    "note": {"备注", "说明", "note", "notes", "remark"},
}
META_ALIASES: dict[str, set[str]] = {
    "department": {"填报部门", "部门", "填报单位", "department"},
    "city": {"城市", "city"},
    "year": {"年度", "年份", "year"},
    "template_version": {"模板版本", "templateversion", "template_version"},
}
TOTAL_MARKERS = {"合计", "总计", "小计", "全市合计", "total", "sum"}
QUALITY_FLAGS = {"估算": "estimated", "estimated": "estimated", "初步": "provisional",
                 "provisional": "provisional", "修订": "revised", "revised": "revised"}
FILENAME_PATTERN = re.compile(r"^(?P<city>\d{6})_(?P<department>[a-z_]+)_(?P<year>\d{4})$")
_BRACKETS = re.compile(r"[\(（\[【].*?[\)）\]】]")


class SubmissionError(Exception):
    """The file as a whole cannot be loaded. The message says what to do."""


@dataclass
class RowVerdict:
    sheet: str
    row_number: int
    status: str                      # accepted | rejected | ignored
    reason: str | None = None
    column: str | None = None
    cells: dict[str, str] = field(default_factory=dict)
    indicator_code: str | None = None
    district_code: str | None = None
    year: int | None = None
    value: float | None = None
    is_missing: bool = False
    quality_flag: str | None = None


@dataclass
class Receipt:
    file_name: str
    file_hash: str
    received_at: str
    status: str                      # loaded | rejected | duplicate
    message: str
    department_code: str | None = None
    city_code: str | None = None
    year: int | None = None
    archived_path: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_ignored: int = 0
    rejected: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        """The receipt a person reads, in Chinese and English."""
        status_zh = {"loaded": "已接收", "rejected": "已退回", "duplicate": "重复文件，未重复入库"}
        lines = [
            "数据报送回执 Submission receipt",
            f"文件 File: {self.file_name}",
            f"文件指纹 SHA-256: {self.file_hash}",
            f"接收时间 Received: {self.received_at}",
            f"部门 Department: {self.department_code or '-'}   城市 City: {self.city_code or '-'}"
            f"   年度 Year: {self.year or '-'}",
            f"结果 Result: {status_zh.get(self.status, self.status)} / {self.status}",
            f"说明 Message: {self.message}",
            f"读取行数 Rows read: {self.rows_read} = 接收 accepted {self.rows_accepted}"
            f" + 退回 rejected {self.rows_rejected} + 忽略 ignored {self.rows_ignored}",
        ]
        if self.rejected:
            lines.append("")
            lines.append("退回的行 Rejected rows (请修改后重新报送 / fix and send the file again):")
            for r in self.rejected:
                lines.append(f"  工作表 sheet {r['sheet']} 第 {r['row']} 行 row, 列 column "
                             f"{r['column'] or '-'}, 值 value '{r['value']}': {r['reason']}")
        if self.ignored:
            lines.append("")
            lines.append("忽略的版式行 Ignored layout rows:")
            for r in self.ignored:
                lines.append(f"  工作表 sheet {r['sheet']} 第 {r['row']} 行 row: {r['reason']}")
        return "\n".join(lines) + "\n"


# -- reading --------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sheets(path: Path) -> Iterator[tuple[str, list[list[object]]]]:
    """Yield (sheet name, rows of cell values) for every sheet of the file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield path.name, _read_csv(path)
    elif suffix == ".xlsx":
        yield from _read_xlsx(path)
    elif suffix == ".xls":
        yield from _read_xls(path)
    else:
        raise SubmissionError(
            f"unsupported file type '{suffix}': send .xlsx, .xls or .csv")


def _read_csv(path: Path) -> list[list[object]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte sequence
        raise SubmissionError("the CSV file is neither UTF-8 nor GBK/GB18030 text")
    return [list(row) for row in csv.reader(io.StringIO(text))]


def _read_xlsx(path: Path) -> Iterator[tuple[str, list[list[object]]]]:
    import zipfile

    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SubmissionError(
            f"the workbook cannot be opened ({exc.__class__.__name__}): it is corrupt, "
            "password-protected or not really .xlsx; save it again from Excel as .xlsx") from exc
    try:
        for ws in wb.worksheets:
            yield ws.title, [list(row) for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _read_xls(path: Path) -> Iterator[tuple[str, list[list[object]]]]:
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
    except xlrd.XLRDError as exc:
        raise SubmissionError(
            f"the legacy .xls workbook cannot be opened ({exc}); save it again as .xlsx") from exc
    for sheet in book.sheets():
        yield sheet.name, [sheet.row_values(i) for i in range(sheet.nrows)]


# -- interpreting ---------------------------------------------------------------------------

def _header_keys(cell: object) -> set[str]:
    """A header cell like '指标代码 indicator_code' or '面积（万平方米）' -> normalised keys."""
    text = clean(cell)
    if not text:
        return set()
    text = _BRACKETS.sub("", text)
    parts = {normalise(p) for p in text.split()} | {normalise(text)}
    return {p for p in parts if p}


def match_header(row: list[object]) -> dict[str, int] | None:
    """Map canonical columns to positions if `row` is a header row, else None."""
    columns: dict[str, int] = {}
    for i, cell in enumerate(row):
        keys = _header_keys(cell)
        for canonical, aliases in HEADER_ALIASES.items():
            if canonical not in columns and keys & aliases:
                columns[canonical] = i
                break
    has_indicator = "indicator_code" in columns or "indicator_name" in columns
    has_district = "district_code" in columns or "district_name" in columns
    return columns if has_indicator and has_district and "value" in columns else None


def _meta_pair(row: list[object]) -> tuple[str, str] | None:
    cells = [clean(c) for c in row if clean(c)]
    if len(cells) != 2:
        return None
    keys = _header_keys(cells[0])
    for name, aliases in META_ALIASES.items():
        if keys & aliases:
            return name, cells[1]
    return None


@dataclass
class FileContext:
    city_code: str
    department_code: str
    year: int


class RowJudge:
    """Gives one data row its verdict. Holds what it has accepted to catch duplicates."""

    def __init__(self, ref: Reference, ctx: FileContext):
        self.ref, self.ctx = ref, ctx
        self.seen: dict[tuple[str, str, int], str] = {}

    def judge(self, sheet: str, row_number: int, cells: dict[str, str],
              raw_value: object) -> RowVerdict:
        v = RowVerdict(sheet, row_number, "rejected", cells=cells)

        def reject(column: str, reason: str) -> RowVerdict:
            v.column, v.reason = column, reason
            return v

        ref, ctx = self.ref, self.ctx
        ind_col = "indicator_code" if cells.get("indicator_code") else "indicator_name"
        res = ref.resolve_indicator(cells.get(ind_col, ""))
        if res.code is None:
            return reject(ind_col, res.reason)
        indicator = ref.indicators[res.code]
        if indicator.department_code != ctx.department_code:
            owner = ref.departments[indicator.department_code]["name_zh"]
            return reject(ind_col, f"department '{ctx.department_code}' does not answer for "
                                   f"indicator {indicator.code}; it is reported by "
                                   f"{indicator.department_code} ({owner})")
        year = ctx.year
        if cells.get("year"):
            year = parse_year(cells["year"])
            if year is None:
                return reject("year", f"'{cells['year']}' is not a year (write 2023 or 2023年)")
        dist_col = "district_code" if cells.get("district_code") else "district_name"
        dres = ref.resolve_district(cells.get(dist_col, ""), ctx.city_code, year)
        if dres.code is None:
            return reject(dist_col, dres.reason)
        district = ref.districts[dres.code]
        if indicator.reporting_level == "city" and district.unit_level != "city":
            return reject(dist_col, f"indicator {indicator.code} is reported for the whole city "
                                    f"only, not for {district.name_zh}")
        unit = cells.get("unit", "")
        if unit and normalise(unit) != normalise(indicator.unit):
            return reject("unit", f"unit '{unit}' differs from the catalogue unit "
                                  f"'{indicator.unit}' of {indicator.code}; convert the value "
                                  f"to {indicator.unit}")
        num = parse_number(raw_value)
        if num.error:
            return reject("value", f"{num.error}; write a number such as 12.5, or — if "
                                   "there is no figure")
        if num.value is not None and not indicator.in_range(num.value):
            return reject("value", f"{num.value:g} is outside the valid range "
                                   f"{indicator.range_text()} of {indicator.code}")
        flag_text = cells.get("quality_flag", "")
        flag = QUALITY_FLAGS.get(normalise(flag_text)) if flag_text else None
        if flag_text and flag is None:
            return reject("quality_flag", f"unknown quality flag '{flag_text}'; use 估算 "
                                          "(estimated), 初步 (provisional) or leave it blank")
        key = (indicator.code, district.code, year)
        if key in self.seen:  # checked last: only an accepted row claims its key
            return reject(ind_col, f"duplicate: {indicator.code} for {district.name_zh} {year} "
                                   f"is already given in row {self.seen[key]}")
        self.seen[key] = f"{sheet}!{row_number}"
        if num.is_estimate and flag is None:
            flag = "estimated"
        v.status, v.indicator_code, v.district_code, v.year = "accepted", *key
        v.value, v.is_missing, v.quality_flag = num.value, num.is_missing, flag
        return v


def interpret(path: Path, ref: Reference, department: str | None = None,
              city: str | None = None, year: int | None = None,
              ) -> tuple[FileContext, list[RowVerdict], str]:
    """Read the file and give every row a verdict. Raises SubmissionError for the whole file."""
    sheets = list(read_sheets(path))
    verdicts: list[RowVerdict] = []
    meta: dict[str, str] = {}
    m = FILENAME_PATTERN.match(path.stem)
    tables: list[tuple[str, list[list[object]], int, dict[str, int]]] = []
    for sheet, rows in sheets:
        header_at, columns = None, None
        for i, row in enumerate(rows):
            columns = match_header(row)
            if columns:
                header_at = i
                break
            pair = _meta_pair(row)
            if pair:
                meta.setdefault(*pair)
        tables.append((sheet, rows, header_at, columns))
    if not any(t[2] is not None for t in tables):
        raise SubmissionError(
            "no data table found: no row has the columns 指标代码/指标名称 (indicator), "
            "区县代码/区县名称 (district) and 数值 (value); see docs/submission-format.md "
            "for the layout")
    department = department or meta.get("department") or (m and m["department"])
    city = city or meta.get("city") or (m and m["city"])
    year_text = year or meta.get("year") or (m and m["year"])
    if not department:
        raise SubmissionError("the department is not stated: add a row '填报部门 Department' "
                              "above the table, or name the file CITY_DEPARTMENT_YEAR.xlsx")
    department = normalise(department)
    if department not in ref.departments:
        by_name = {normalise(d["name_zh"]): c for c, d in ref.departments.items()}
        department = by_name.get(department, department)
    if department not in ref.departments:
        raise SubmissionError(f"unknown department '{department}'; known codes: "
                              f"{', '.join(sorted(ref.departments))}")
    city_code = normalise(str(city)) if city else ""
    if city_code not in ref.cities:
        by_name = {normalise(c["name_zh"]): k for k, c in ref.cities.items()}
        city_code = by_name.get(city_code, city_code)
    if city_code not in ref.cities:
        raise SubmissionError(f"unknown or missing city '{city or ''}': add a row '城市 City' "
                              f"with one of {', '.join(sorted(ref.cities))}")
    file_year = parse_year(year_text) if year_text else None
    if file_year is None:
        raise SubmissionError(f"the reporting year is missing or unreadable ('{year_text or ''}'):"
                              " add a row '年度 Year' such as 2023")
    ctx = FileContext(city_code, department, file_year)
    judge = RowJudge(ref, ctx)
    for sheet, rows, header_at, columns in tables:
        if header_at is None:
            verdicts += [RowVerdict(sheet, i + 1, "ignored", "sheet has no data table")
                         for i, _ in enumerate(rows)]
            continue
        for i, row in enumerate(rows[:header_at]):
            verdicts.append(RowVerdict(sheet, i + 1, "ignored",
                                       "blank row" if not any(clean(c) for c in row)
                                       else "title or header block"))
        verdicts.append(RowVerdict(sheet, header_at + 1, "ignored", "column header"))
        for i, row in enumerate(rows[header_at + 1:], start=header_at + 2):
            cells = {c: clean(row[pos]) if pos < len(row) else ""
                     for c, pos in columns.items()}
            raw_value = row[columns["value"]] if columns["value"] < len(row) else None
            if not any(clean(c) for c in row):
                verdicts.append(RowVerdict(sheet, i, "ignored", "blank row", cells=cells))
            elif normalise(cells.get("district_name", "") or cells.get("district_code", "")) \
                    in TOTAL_MARKERS:
                verdicts.append(RowVerdict(sheet, i, "ignored", "totals row", cells=cells))
            else:
                verdicts.append(judge.judge(sheet, i, cells, raw_value))
    return ctx, verdicts, "long"


# -- landing --------------------------------------------------------------------------------

def safe_name(name: str) -> str:
    """A file name that cannot climb out of its folder."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base).lstrip(".")
    return base[:120] or "submission"


def ingest_file(path: Path, settings: Settings, *, department: str | None = None,
                city: str | None = None, year: int | None = None,
                ref: Reference | None = None) -> Receipt:
    """Ingest one submission file into raw.*; archive it; write and return its receipt."""
    ref = ref or load_reference()
    settings.ensure_dirs()
    path = Path(path)
    received = datetime.now(UTC).replace(tzinfo=None)
    digest = file_sha256(path)
    receipt = Receipt(file_name=path.name, file_hash=digest,
                      received_at=received.isoformat(timespec="seconds") + "Z",
                      status="rejected", message="")
    with connect(settings.warehouse_path) as con:
        earlier = con.execute(
            "select original_name, received_at, status, archived_path, city_code, "
            "department_code, year from raw.submission_files where file_hash = ?",
            [digest]).fetchone()
        if earlier:
            receipt.status = "duplicate"
            receipt.message = (f"identical to '{earlier[0]}' received {earlier[1]:%Y-%m-%d %H:%M}"
                               f" (status {earlier[2]}); nothing was loaded again")
            receipt.archived_path = earlier[3]
            receipt.city_code, receipt.department_code, receipt.year = earlier[4:7]
            # The first receipt stays as it was; this one goes beside it.
            write_receipt(receipt, settings.archive_dir / digest[:2] / digest,
                          stem=f"duplicate-{received:%Y%m%dT%H%M%S}")
            return receipt

        archive = settings.archive_dir / digest[:2] / digest
        archive.mkdir(parents=True, exist_ok=True)
        archived = archive / safe_name(path.name)
        shutil.copyfile(path, archived)
        receipt.archived_path = str(archived)

        verdicts: list[RowVerdict] = []
        ctx = None
        layout = None
        try:
            if path.stat().st_size > settings.max_file_bytes:
                raise SubmissionError(
                    f"the file is {path.stat().st_size:,} bytes, over the limit of "
                    f"{settings.max_file_bytes:,}; split it by year or district")
            if path.stat().st_size == 0:
                raise SubmissionError("the file is empty")
            ctx, verdicts, layout = interpret(path, ref, department, city, year)
        except SubmissionError as exc:
            receipt.message = str(exc)
        if ctx:
            receipt.department_code, receipt.city_code, receipt.year = (
                ctx.department_code, ctx.city_code, ctx.year)
        for v in verdicts:
            receipt.rows_read += 1
            if v.status == "accepted":
                receipt.rows_accepted += 1
            elif v.status == "rejected":
                receipt.rows_rejected += 1
                value = v.cells.get(v.column, "") if v.column else ""
                receipt.rejected.append({"sheet": v.sheet, "row": v.row_number,
                                         "column": v.column, "value": value,
                                         "reason": v.reason})
            else:
                receipt.rows_ignored += 1
                receipt.ignored.append({"sheet": v.sheet, "row": v.row_number,
                                        "reason": v.reason})
        if ctx is not None:
            receipt.status = "loaded"
            receipt.message = (f"{receipt.rows_accepted} rows accepted, "
                               f"{receipt.rows_rejected} rejected, "
                               f"{receipt.rows_ignored} layout rows ignored")
        con.execute("begin transaction")
        try:
            con.execute(
                "insert into raw.submission_files values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [digest, path.name, str(archived), path.stat().st_size, received,
                 receipt.city_code, receipt.department_code, receipt.year, layout,
                 receipt.status, receipt.rows_read, receipt.rows_accepted,
                 receipt.rows_rejected, receipt.rows_ignored, receipt.message])
            if verdicts:
                frame = _rows_frame(digest, verdicts, received)
                con.register("incoming_rows", frame)
                con.execute("insert into raw.submission_rows by name select * from incoming_rows")
                con.unregister("incoming_rows")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    write_receipt(receipt, archive)
    return receipt


def _rows_frame(digest: str, verdicts: list[RowVerdict], loaded_at: datetime) -> pd.DataFrame:
    return pd.DataFrame({
        "file_hash": digest,
        "sheet_name": [v.sheet for v in verdicts],
        "row_number": [v.row_number for v in verdicts],
        "status": [v.status for v in verdicts],
        "reason": [v.reason for v in verdicts],
        "error_column": [v.column for v in verdicts],
        "indicator_text": [v.cells.get("indicator_code") or v.cells.get("indicator_name")
                           for v in verdicts],
        "district_text": [v.cells.get("district_code") or v.cells.get("district_name")
                          for v in verdicts],
        "year_text": [v.cells.get("year") for v in verdicts],
        "value_text": [v.cells.get("value") for v in verdicts],
        "unit_text": [v.cells.get("unit") for v in verdicts],
        "flag_text": [v.cells.get("quality_flag") for v in verdicts],
        "note_text": [v.cells.get("note") for v in verdicts],
        "indicator_code": [v.indicator_code for v in verdicts],
        "district_code": [v.district_code for v in verdicts],
        "year": pd.array([v.year for v in verdicts], dtype="Int32"),
        "value": pd.array([v.value for v in verdicts], dtype="Float64"),
        "is_missing": [v.is_missing for v in verdicts],
        "quality_flag": [v.quality_flag for v in verdicts],
        "loaded_at": loaded_at,
    })


def write_receipt(receipt: Receipt, folder: Path, stem: str = "receipt") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(
        json.dumps(receipt.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / f"{stem}.txt").write_text(receipt.to_text(), encoding="utf-8")


def list_inbox(settings: Settings) -> list[Path]:
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    files = [p for p in settings.inbox_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def ingest_inbox_file(path: Path, settings: Settings, ref: Reference | None = None) -> Receipt:
    """Ingest one file from the inbox and remove it from there once it is archived."""
    receipt = ingest_file(path, settings, ref=ref)
    Path(path).unlink(missing_ok=True)
    return receipt


def ingest_inbox(settings: Settings) -> list[Receipt]:
    """Ingest every file waiting in the inbox, oldest first."""
    ref = load_reference()
    return [ingest_inbox_file(path, settings, ref) for path in list_inbox(settings)]
