"""Department submissions: read a file, give every record a verdict, land it, write a receipt.

One function per step, called the same way by `citycheck ingest FILE` and by the submissions
DAG. Every record read ends up in exactly one of three states, and the counts reconcile:

- accepted: resolved indicator, district, year and a number (or an explicit missing marker);
- rejected: with the sheet, row, cell, column, value and the reason, so the department can fix it;
- ignored:  layout (title and header block, header rows, blank rows, totals rows and columns,
            footer rows), or a value cell left blank (not reported; a marker such as — is).

A record is a row of the long layout, or one district cell of a wide row (extract/layout.py).
A file is loaded whole or not at all (one transaction), and no file is lost to a crash: the
archive and a journal per batch are written before the transaction, the inbox file removed
after it (docs/reliability.md). The same bytes sent twice are recognised by their sha256 and
load nothing the second time.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from citycheck.config import Settings
from citycheck.faults import crash_point
from citycheck.reference import Reference, load_reference, normalise
from citycheck.warehouse import connect
from extract.layout import (
    Layout,
    Record,
    Table,
    cut,
    find_table,
    meta_pairs,
)
from extract.numbers import parse_number, parse_year
from extract.reading import SUPPORTED_SUFFIXES, FileRefused, read_sheets
from extract.verdicts import Batch, RowVerdict
from extract.xlsx import Sheet, column_index, column_letters

__all__ = ["SUPPORTED_SUFFIXES", "Receipt", "Submission", "SubmissionError", "ingest_file",
           "ingest_files", "ingest_inbox", "ingest_inbox_file", "interpret", "list_inbox",
           "recover_intake", "safe_name"]

FILENAME_PATTERN = re.compile(r"^(?P<city>\d{6})_(?P<department>[a-z_]+)_(?P<year>\d{4})$")
# Text a spreadsheet would run as a formula when the value is shown or exported again.
FORMULA_TRIGGERS = ("=", "+", "@", "\t", "\r")
_TRIGGER_CHARS = frozenset("=+@\t\r-")


class SubmissionError(Exception):
    """The file as a whole cannot be loaded. The message says what to do."""


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
    layout: str | None = None        # long | wide
    template_version: str | None = None
    archived_path: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_ignored: int = 0
    rejected: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)
    superseded: list[dict] = field(default_factory=list)
    restated_unchanged: int = 0
    totals: list[dict] = field(default_factory=list)
    neutralised: list[dict] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)   # who filled it in, contact, date, notes
    conflicts: list[str] = field(default_factory=list)  # file name vs header vs command line
    warnings: list[dict] = field(default_factory=list)  # accepted, but implausible by a rule
    # how each sheet was read: its layout, header rows and what each column is (see read_map)
    sheets: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The receipt's fields as they are (its lists hold plain dicts of JSON values):
        not dataclasses.asdict, whose deep copy of every warning and rejection line cost
        a third of intake at bench scale M."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_text(self) -> str:
        """The receipt a person reads, in Chinese and English."""
        status_zh = {"loaded": "已接收", "rejected": "已退回", "duplicate": "重复文件，未重复入库"}
        lines = [
            "数据报送回执 Submission receipt",
            f"文件 File: {self.file_name}",
            f"文件指纹 SHA-256: {self.file_hash}",
            f"接收时间 Received: {self.received_at}",
            f"部门 Department: {self.department_code or '-'}   城市 City: {self.city_code or '-'}"
            f"   年度 Year: {self.year or '-'}   版式 Layout: {self.layout or '-'}",
            f"结果 Result: {status_zh.get(self.status, self.status)} / {self.status}",
            f"说明 Message: {self.message}",
            f"读取记录 Records read: {self.rows_read} = 接收 accepted {self.rows_accepted}"
            f" + 退回 rejected {self.rows_rejected} + 忽略 ignored {self.rows_ignored}",
        ]
        if self.layout == "wide":
            lines.append("  (横表 wide layout: 每个区县单元格为一条记录 / one record per district cell)")
        for m in self.sheets:
            lines += ["", f"读取方式 How sheet '{m['sheet']}' was read: {m['layout']}, "
                          f"表头 header row {m['header']}"]
            lines += [f"  {letter}: {what}" for letter, what in m["columns"].items()]
        if self.rejected:
            lines += ["", "退回的记录 Rejected records (请修改后重新报送 / fix and send the file again):"]
            for r in self.rejected:
                at = r.get("fault_cell") or r["cell"]
                of = (f"（数值单元格 value cell {r['cell']}）"
                      if r["cell"] and at != r["cell"] else "")
                lines.append(f"  工作表 sheet {r['sheet']} 第 {r['row']} 行 row, 单元格 cell "
                             f"{at or '-'}{of}, 列 column {r['column'] or '-'}, 内容 text "
                             f"'{r['value']}': {r['reason']}")
        if self.superseded:
            lines += ["", "更正的数值 Values this file corrects (the earlier version stays on record):"]
            for r in self.superseded:
                lines.append(f"  {r['indicator_code']} {r['district_code']} {r['year']}: "
                             f"{_fmt(r['earlier_value'])} → {_fmt(r['value'])} "
                             f"(原文件 earlier file {r['earlier_file']}, {r['earlier_received_at']})")
        if self.restated_unchanged:
            lines.append(f"与此前相同的数值 Values identical to the earlier version: "
                         f"{self.restated_unchanged}")
        if self.totals:
            lines += ["", "合计核对 Totals checked against the sum of the districts:"]
            for t in self.totals:
                lines.append(f"  工作表 sheet {t['sheet']} 单元格 cell {t['cell']}: {t['verdict']}")
        if self.neutralised:
            lines += ["", "已中和的公式 Formulas neutralised (stored as text, never run):"]
            for n in self.neutralised:
                lines.append(f"  工作表 sheet {n['sheet']} 单元格 cell {n['cell']} ({n['column']}):"
                             f" {n['text']}")
        if self.warnings:
            lines += ["", "合理性提示 Plausibility warnings (accepted; please check these values):"]
            for w in self.warnings:
                lines.append(f"  工作表 sheet {w['sheet']} 单元格 cell {w['cell']} "
                             f"{w['indicator_code']} {w['district_code']} {w['year']}: "
                             f"{w['message']}")
        if self.conflicts:
            lines += ["", "来源不一致 Where the file name and the file disagree:"]
            lines += [f"  {text}" for text in self.conflicts]
        if self.footer:
            lines += ["", "表尾信息 Footer (kept as written):"]
            lines += [f"  {text}" for text in self.footer]
        if self.ignored:
            lines += ["", "忽略的版式行 Ignored layout rows:"]
            for r in self.ignored:
                where = f"单元格 cell {r['cell']}" if r.get("cell") else f"第 {r['row']} 行 row"
                lines.append(f"  工作表 sheet {r['sheet']} {where}: {r['reason']}")
        return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "—" if value is None else f"{value:g}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- judging --------------------------------------------------------------------------------

@dataclass
class FileContext:
    city_code: str
    department_code: str
    year: int
    template_version: str | None = None


def neutralise(text: str) -> str | None:
    """Text a spreadsheet would run as a formula, made inert with Excel's own text prefix;
    None if the text is harmless."""
    if not text or text[0] not in _TRIGGER_CHARS:
        return None
    if text.startswith(FORMULA_TRIGGERS) or (
            text.startswith("-") and len(text) > 1 and parse_number(text).error):
        return "'" + text
    return None


@dataclass
class Reading:
    """A file read and cut, before its records are judged: its context, its entries in file
    order (records to judge, totals to check, and verdicts already given to layout rows,
    sheets without a table and records the clerk could not see), and notes for the receipt."""
    ctx: FileContext
    layout: str
    entries: list
    value_units: dict[str, str | None]      # sheet -> the unit in its value column's heading
    notes: dict[str, list]


def read_file(path: Path, ref: Reference, department: str | None = None,
              city: str | None = None, year: int | None = None,
              max_unpacked_bytes: int = 256 * 1024 * 1024) -> Reading:
    """Read the file, find its tables and cut them into records. Raises SubmissionError for
    the file as a whole."""
    try:
        sheets = read_sheets(path, max_unpacked_bytes)
    except FileRefused as exc:
        raise SubmissionError(str(exc)) from None
    m = FILENAME_PATTERN.match(path.stem)
    hint_city = city or (m and m["city"]) or _early_city(sheets, ref)
    tables: list[tuple[Sheet, Table | None]] = [
        (s, find_table(s, ref, _city_code(hint_city, ref))) for s in sheets]
    found = [(s, t) for s, t in tables if t]
    if not found:
        raise SubmissionError(
            "no data table found: no row has the columns 指标代码/指标名称 (indicator) with "
            "区县代码/区县名称 (district) and 数值 (value), nor an indicator column with district "
            "names as column headings (wide layout); see docs/submission-format.md, or start "
            "from `citycheck template`")
    meta: dict[str, str] = {}
    for s, t in found:
        for k, v in meta_pairs(s.rows[:t.header_rows[0]]).items():
            meta.setdefault(k, v)
    conflicts = _disagreements(
        ref, {"department": department, "city": city, "year": year}, meta,
        {k: m[k] for k in ("department", "city", "year")} if m else {})
    department = department or meta.get("department") or (m and m["department"])
    city = city or meta.get("city") or (m and m["city"])
    year_text = year or meta.get("year") or (m and m["year"])
    if not department:
        raise SubmissionError("the department is not stated: add a row '填报部门 Department' "
                              "above the table, or name the file CITY_DEPARTMENT_YEAR.xlsx")
    department_code = _department_code(department, ref)
    if department_code not in ref.departments:
        raise SubmissionError(f"unknown department '{department}'; known codes: "
                              f"{', '.join(sorted(ref.departments))}")
    city_code = _city_code(city, ref)
    if city_code not in ref.cities:
        raise SubmissionError(f"unknown or missing city '{city or ''}': add a row '城市 City' "
                              f"with one of {', '.join(sorted(ref.cities))}")
    file_year = parse_year(year_text) if year_text else None
    if file_year is None:
        raise SubmissionError(f"the reporting year is missing or unreadable ('{year_text or ''}'):"
                              " add a row '年度 Year' such as 2023")
    ctx = FileContext(city_code, department_code, file_year, meta.get("template_version"))
    entries: list = []
    notes: dict[str, list] = {"totals": [], "neutralised": [], "footer": [],
                              "conflicts": conflicts, "sheets": []}
    layouts, units = set(), {}
    records = filled = 0
    for sheet, table in tables:
        if table is None:
            why = "hidden sheet with no data table" if sheet.hidden else "sheet has no data table"
            entries += [RowVerdict(sheet.name, i + 1, "ignored", why)
                        for i in range(len(sheet.rows))]
            continue
        layouts.add(table.kind)
        notes["sheets"].append(read_map(table))
        units[sheet.name] = table.header_units.get("value")
        unseen_possible = bool(sheet.hidden or sheet.hidden_rows or sheet.hidden_columns
                               or sheet.percent_cells)
        for piece in cut(sheet, table):
            kind = type(piece)
            if kind is Record:
                records += 1
                filled += bool(piece.cells.get("value")) or piece.value_is_formula
                _neutralise_cells(piece, table, notes["neutralised"])
                unseen = _unseen(sheet, table, piece) if unseen_possible else None
                entries.append(piece if unseen is None else RowVerdict(
                    piece.sheet, piece.row_number, "rejected", unseen[1], unseen[0],
                    piece.cells, piece.cell, piece.fault_cell(unseen[0])))
            elif kind is Layout:
                if piece.reason.startswith("footer: "):
                    notes["footer"].append(piece.cells["note"])
                entries.append(RowVerdict(
                    piece.sheet, piece.row_number, piece.status, piece.reason,
                    "value" if piece.status == "rejected" else None, piece.cells, piece.cell,
                    piece.cell))
            else:
                entries.append(piece)    # a total: checked once its districts are judged
    if records and not filled:
        raise SubmissionError(
            f"no value was filled in: all {records} value cells are empty — did you send the "
            "blank template? Fill in the 数值 (value) column, writing — where there is no "
            "figure, and send the file again. 未填写任何数值：是否误报了空白模板？")
    return Reading(ctx, "+".join(sorted(layouts)), entries, units, notes)


def interpret(path: Path, ref: Reference, department: str | None = None,
              city: str | None = None, year: int | None = None,
              max_unpacked_bytes: int = 256 * 1024 * 1024,
              ) -> tuple[FileContext, list[RowVerdict], str, dict]:
    """Read the file and give every record a verdict, without a warehouse (the checks a
    file would get at intake, in an in-memory DuckDB). Raises SubmissionError for the file as
    a whole. Returns (context, verdicts, layout, notes) where notes holds the totals checks
    and neutralised formulas for the receipt."""
    import duckdb

    reading = read_file(path, ref, department, city, year, max_unpacked_bytes)
    batch = Batch()
    batch.add("-", reading.ctx, reading.entries, reading.value_units, datetime(2000, 1, 1))
    with duckdb.connect() as con:
        batch.judge(con, ref)
        reading.notes["totals"] = batch.totals.get("-", [])
        rows = con.execute(
            "select record_number, status, reason, error_column, indicator_code, "
            "district_code, year, value, is_missing, quality_flag from incoming_rows "
            "order by record_number").fetchall()
    return reading.ctx, [_verdict(reading.entries[r[0] - 1], *r[1:]) for r in rows], \
        reading.layout, reading.notes


def _verdict(entry, status, reason, column, indicator, district, year, value, missing,
             flag) -> RowVerdict:
    """A row of incoming_rows as a verdict, with the cells of the entry it was given to."""
    if type(entry) is RowVerdict:
        return entry
    return RowVerdict(entry.sheet, entry.row_number, status, reason, column, entry.cells,
                      entry.cell, _fault_cell(entry, column, reason), indicator,
                      district, year, value, bool(missing), flag)


def _fault_cell(entry, column: str | None, reason: str | None) -> str | None:
    """The cell a rejection points at: the one holding the text it is about; a duplicate
    is about the whole record, and points at its value cell."""
    if type(entry) is RowVerdict:
        return entry.fault_cell
    if not column or (reason or "").startswith("duplicate: "):
        return None
    return entry.fault_cell(column)


COLUMN_ROLES = {"indicator_code": "指标代码 indicator code", "indicator_name": "指标名称 indicator",
                "district_code": "区县代码 district code", "district_name": "区县名称 district",
                "year": "年度 year", "value": "数值 value", "unit": "单位 unit",
                "quality_flag": "质量标记 quality flag", "note": "备注 note"}


def read_map(table: Table) -> dict:
    """What intake took each column of a table to be, by column letter, for the receipt: the
    clerk sees how the file was read, and every filled cell of a data row falls under one of
    these columns or is rejected on its own ("a filled cell in a column without a heading")."""
    first, last = table.header_rows
    roles: dict[int, str] = {pos: COLUMN_ROLES[c] for c, pos in table.columns.items()}
    for pos, text in table.district_columns.items():
        roles[pos] = (f"区县 district '{text}'" if pos not in table.unplaced_columns else
                      f"'{text}': no district in this city — filled cells rejected")
    for pos in table.total_columns:
        roles[pos] = "合计 totals (checked, not loaded)"
    for pos, text in table.unread_columns.items():
        roles[pos] = f"'{text}': not read (layout)"
    return {"sheet": table.sheet, "layout": table.kind,
            "header": f"{first + 1}" if first == last else f"{first + 1}–{last + 1}",
            "columns": {column_letters(p): roles[p] for p in sorted(roles)},
            # wide: each of these columns' cells is a record of its own
            "record_columns": sorted(column_letters(p) for p in (
                [*table.district_columns, *table.total_columns] if table.kind == "wide" else
                [table.columns["value"]]))}


def _unseen(sheet: Sheet, table: Table, rec: Record) -> tuple[str, str] | None:
    """(column, reason) when the record's figure is not what the clerk saw in Excel — read
    from a hidden sheet, row or column (often a stale copy kept out of sight), or from a cell
    formatted as a percentage (it shows 98.5 % and holds 0.985): rejected, never stored as a
    guess of what was meant."""
    if not (sheet.hidden or sheet.hidden_rows or sheet.hidden_columns or sheet.percent_cells):
        return None
    if sheet.hidden:
        return "value", (f"sheet '{sheet.name}' is hidden in Excel: the figures in it cannot be "
                         "seen; unhide the sheet if they are to be reported, or delete it. "
                         "工作表被隐藏")
    if rec.row_number - 1 in sheet.hidden_rows:
        return "value", (f"row {rec.row_number} is hidden in Excel: its figures cannot be seen; "
                         "unhide the row if they are to be reported, or delete it. 该行被隐藏")
    value_column = column_index(re.match(r"[A-Z]+", rec.cell)[0])
    if (rec.row_number - 1, value_column) in sheet.percent_cells and rec.cells.get("value"):
        held = rec.cells["value"]
        shown = (f"{float(held) * 100:g}%" if isinstance(rec.raw_value, (int, float))
                 else f"{held}%")
        return "value", (f"cell {rec.cell} is formatted as a percentage: it holds {held}, which "
                         f"Excel shows as {shown}; type the figure as you mean it (98.5 for "
                         "98.5 %) in a cell formatted as a number. 该单元格为百分比格式，请以数值"
                         "格式填写")
    used = [("value", value_column)]
    used += [(c, table.columns[c]) for c in ("indicator_code", "indicator_name",
                                              "district_code", "district_name", "year", "unit")
             if rec.cells.get(c) and c in table.columns]
    for column, pos in used:
        if pos in sheet.hidden_columns:
            return column, (f"column {column_letters(pos)} is hidden in Excel: what it holds "
                            "cannot be seen; unhide the column if it is to be reported, or "
                            "delete it. 该列被隐藏")
    return None


def _neutralise_cells(rec: Record, table: Table, out: list[dict]) -> None:
    for column, text in rec.cells.items():
        if not text or text[0] not in _TRIGGER_CHARS or column == "value":
            continue
        safe = neutralise(text)
        if safe is not None:
            rec.cells[column] = safe
            pos = table.columns.get(column)
            cell = f"{column_letters(pos)}{rec.row_number}" if pos is not None else rec.cell
            out.append({"sheet": rec.sheet, "cell": cell, "column": column, "text": safe,
                        "reason": "text that a spreadsheet would run as a formula is stored "
                                  "with a leading ' and never evaluated"})


FIELD_ZH = {"department": "部门", "city": "城市", "year": "年度"}


SENDER = "the sender (command line or portal account)"


def _disagreements(ref: Reference, stated: dict, header: dict, name: dict) -> list[str]:
    """Where the caller (command-line flags, or the portal account that sent it), the file's
    own header block and its name
    disagree about department, city or year. The rule (docs/submission-format.md): the
    caller and the header must agree, or the file is refused — which of two statements about
    the same file is right is not citycheck's to guess; the file name is the weakest: where
    it differs, the header (else the caller) decides, and the receipt says so."""
    def code(what: str, text: object) -> object:
        if what == "year":
            return parse_year(text)
        if what == "city":
            return _city_code(text, ref)
        return _department_code(text, ref)

    notes = []
    for what in ("department", "city", "year"):
        given = {source: (text, code(what, text)) for source, text in (
            (SENDER, stated.get(what)), ("the file's header", header.get(what)),
            ("the file name", name.get(what))) if text}
        flag, head = given.get(SENDER), given.get("the file's header")
        if flag and head and flag[1] != head[1]:
            raise SubmissionError(
                f"the {what} is stated twice and differently: the file's header says "
                f"'{head[0]}', {SENDER} says '{flag[0]}'; correct the one that is "
                f"wrong and send the file again. {FIELD_ZH[what]}不一致：文件表头为“{head[0]}”，"
                f"报送方（命令行或门户账号）为“{flag[0]}”")
        named, winner = given.get("the file name"), flag or head
        if named and winner and named[1] != winner[1]:
            source = SENDER if flag else "the file's header"
            notes.append(f"{FIELD_ZH[what]} {what}: the file name says '{named[0]}', {source} "
                         f"says '{winner[0]}'; {source} decides (file names are often copied "
                         "from last year's file)")
    return notes


def _department_code(department: object, ref: Reference) -> str:
    """A department's code from its code or Chinese name (as written if neither)."""
    code = normalise(str(department))
    if code not in ref.departments:
        by_name = {normalise(d["name_zh"]): c for c, d in ref.departments.items()}
        code = by_name.get(code, code)
    return code


def _city_code(city: object, ref: Reference) -> str:
    code = normalise(str(city)) if city else ""
    if code not in ref.cities:
        by_name = {normalise(c["name_zh"]): k for k, c in ref.cities.items()}
        code = by_name.get(code, code)
    return code


def _early_city(sheets: list[Sheet], ref: Reference) -> str | None:
    """The city named in a header block, looked for before the table is found (a wide table's
    district headings are resolved within the city)."""
    for sheet in sheets:
        city = meta_pairs(sheet.rows[:10]).get("city")
        if city and _city_code(city, ref) in ref.cities:
            return city
    return None


# -- landing --------------------------------------------------------------------------------

def safe_name(name: str) -> str:
    """A file name that cannot climb out of its folder."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base).lstrip(".")
    return base[:120] or "submission"


def _archive_dir(settings: Settings, digest: str) -> Path:
    return settings.archive_dir / digest[:2] / digest


@dataclass
class Submission:
    """One file to ingest: where it is, when it arrived (UTC; it decides which version of a
    value is the newest, whatever order files are ingested in), whether it leaves its folder
    for the archive, and what the caller states about it (else read from the file)."""
    path: Path
    received_at: datetime
    move: bool = False
    department: str | None = None
    city: str | None = None
    year: int | None = None
    original_name: str | None = None   # when `path` is not the name it was sent under

    @property
    def name(self) -> str:
        return self.original_name or self.path.name


@dataclass
class _Landing:
    """A file on its way in: what was read from it, before the batch's transaction."""
    item: Submission
    digest: str
    size: int
    receipt: Receipt
    earlier: tuple | None = None     # the file's first arrival, when these bytes came before
    archived: Path | None = None
    stored: bool = False             # the archive copy was made by this attempt
    reading: Reading | None = None   # what was read, when the file could be read
    receipt_json: str | None = None  # the receipt as landed, written to the archive as is

    @property
    def ctx(self) -> FileContext | None:
        return self.reading.ctx if self.reading else None


def ingest_file(path: Path, settings: Settings, *, department: str | None = None,
                city: str | None = None, year: int | None = None,
                ref: Reference | None = None, move: bool = False,
                received_at: datetime | None = None, con=None) -> Receipt:
    """Ingest one submission file into raw.*; archive it (moved when `move`, else copied);
    write and return its receipt. `received_at` (UTC) is when the file arrived; default now.
    `con`: an open warehouse connection to use, else its own."""
    received = received_at or datetime.now(UTC).replace(tzinfo=None)
    item = Submission(Path(path), received, move, department, city, year)
    return ingest_files([item], settings, ref=ref, con=con)[0]


def ingest_files(items: list[Submission], settings: Settings, ref: Reference | None = None,
                 con=None) -> list[Receipt]:
    """Ingest files in batches of settings.ingest_batch_files (CITYCHECK_INGEST_BATCH_FILES):
    the files of a batch are read, each to its own verdicts, then landed in one transaction
    with one lookup of earlier copies and earlier versions, so a file costs its reading, not
    a round of queries. Receipts come back in the order of `items`.

    Give `items` oldest first: a file is a duplicate of the first copy of its bytes.
    (Reading in several processes was measured and is slower: sending the verdicts back
    costs more than reading them; docs/performance.md.)"""
    if con is None:
        with connect(settings.warehouse_path) as own:
            return ingest_files(items, settings, ref, own)
    ref = ref or load_reference(settings.seeds_dir)
    settings.ensure_dirs()
    size = max(1, settings.ingest_batch_files)
    receipts: list[Receipt] = []
    for start in range(0, len(items), size):
        receipts += _ingest_batch(items[start:start + size], settings, ref, con)
    return receipts


def _ingest_batch(items: list[Submission], settings: Settings, ref: Reference,
                  con) -> list[Receipt]:
    """Put each file into the archive (a hard link or a copy) and give its records their
    verdicts; write the batch's journal; land the batch in one transaction with every
    receipt; then write the receipt files, and only then take the files out of the inbox.
    A process killed at any point loses nothing: before the commit the inbox still holds
    every file (and `recover_intake` lands what the journal lists); after it, the warehouse
    holds every record and receipt (docs/reliability.md)."""
    landings = []
    for item in items:
        digest = file_sha256(item.path)
        landings.append(_Landing(item, digest, item.path.stat().st_size, Receipt(
            file_name=item.name, file_hash=digest,
            received_at=item.received_at.isoformat(timespec="seconds") + "Z",
            status="rejected", message="")))
    known = {row[0]: row[1:] for row in con.execute(
        "select file_hash, original_name, received_at, status, archived_path, city_code, "
        "department_code, year from raw.submission_files where file_hash in "
        "(select unnest(?))", [[x.digest for x in landings]]).fetchall()}
    first: dict[str, int] = {}
    for i, x in enumerate(landings):
        if x.digest not in known:
            first.setdefault(x.digest, i)
    reading = [landings[i] for i in first.values()]
    journal = None
    try:
        for x in reading:
            _read(x, settings, ref)
        has_rows = _judge(con, reading, ref)
        for i, x in enumerate(landings):
            if x.digest in known:
                x.earlier = known[x.digest]
            elif first[x.digest] != i:
                y = landings[first[x.digest]]   # the same bytes twice in one batch
                x.earlier = (y.item.name, y.item.received_at, y.receipt.status,
                             y.receipt.archived_path, y.receipt.city_code,
                             y.receipt.department_code, y.receipt.year)
        journal = _write_journal(settings, reading)
        _sync(settings.archive_dir)  # archive and journal on disk before the warehouse commits
        _land(con, reading, ref, has_rows)
    except Exception:
        _forget(reading, journal)
        raise
    crash_point("ingest.after_commit")
    for x in landings:
        if x.earlier is None:
            write_receipt(x.receipt, _archive_dir(settings, x.digest), as_json=x.receipt_json)
        elif not _same_submission(x, settings):
            _duplicate(x, settings)
    crash_point("ingest.before_remove")
    for x in landings:
        if x.item.move:
            x.item.path.unlink(missing_ok=True)
    if journal is not None:
        journal.unlink(missing_ok=True)   # everything it lists is in the warehouse
    return [x.receipt for x in landings]


def _forget(reading: list[_Landing], journal: Path | None) -> None:
    """The batch failed with an error its caller is told about, and nothing of it was
    recorded: its journal goes, so that no later recovery lands what the caller was told was
    not landed, and so do the archive copies it made. The originals are where they were (a
    kill never gets here: then the journal is what recovery lands)."""
    if journal is not None:
        journal.unlink(missing_ok=True)
    for x in reading:
        if x.archived is not None and x.stored:
            x.archived.unlink(missing_ok=True)


def _same_submission(x: _Landing, settings: Settings) -> bool:
    """These bytes were landed from this very file (same name, same arrival): a run that was
    stopped after its commit left it in the inbox. It has its receipt; it is no duplicate."""
    name, received = x.earlier[0], x.earlier[1]
    if name == x.item.name and received == x.item.received_at:
        stored = _archive_dir(settings, x.digest) / "receipt.json"
        if stored.exists():
            x.receipt = Receipt(**json.loads(stored.read_text(encoding="utf-8")))
        return True
    return False


def _duplicate(x: _Landing, settings: Settings) -> None:
    name, received, status, archived_path, city, department, year = x.earlier
    r = x.receipt
    r.status = "duplicate"
    r.message = (f"identical to '{name}' received {received:%Y-%m-%d %H:%M} (status {status}); "
                 "nothing was loaded again")
    r.archived_path = archived_path
    r.city_code, r.department_code, r.year = city, department, year
    # The first receipt stays as it was; this one goes beside it.
    write_receipt(r, _archive_dir(settings, x.digest),
                  stem=f"duplicate-{x.item.received_at:%Y%m%dT%H%M%S}")


def _read(x: _Landing, settings: Settings, ref: Reference) -> None:
    """Copy the file into the archive, read it and cut it into records (no warehouse
    access; the records are judged with the batch's, in _judge)."""
    item, receipt = x.item, x.receipt
    archive = _archive_dir(settings, x.digest)
    archive.mkdir(parents=True, exist_ok=True)
    if x.size > settings.max_file_bytes:
        # Not read and not copied: a far too large file is refused on its size alone.
        receipt.message = (f"the file is {x.size:,} bytes, over the limit of "
                           f"{settings.max_file_bytes:,}; it was not read. Split it by year "
                           "or district")
    else:
        crash_point("ingest.before_copy")
        x.archived, x.stored = _store(item, archive)
        crash_point("ingest.after_copy")
        try:
            if x.size == 0:
                raise SubmissionError("the file is empty: nothing to read. Send the "
                                      "filled-in template")
            x.reading = read_file(x.archived, ref, item.department, item.city, item.year,
                                  max_unpacked_bytes=settings.max_unpacked_bytes)
        except SubmissionError as exc:
            receipt.message = str(exc)
    receipt.archived_path = str(x.archived) if x.archived else None
    if x.reading:
        ctx, notes = x.reading.ctx, x.reading.notes
        receipt.status = "loaded"
        receipt.department_code, receipt.city_code, receipt.year = (
            ctx.department_code, ctx.city_code, ctx.year)
        receipt.template_version, receipt.layout = ctx.template_version, x.reading.layout
        receipt.neutralised = notes["neutralised"]
        receipt.footer, receipt.conflicts = notes["footer"], notes["conflicts"]
        receipt.sheets = notes["sheets"]


def _judge(con, landings: list[_Landing], ref: Reference) -> bool:
    """Give every record of the batch its verdict at once (extract/verdicts.py), into the
    temp table incoming_rows; count each file's verdicts on its receipt. False when the
    batch has no rows."""
    batch = Batch()
    for x in landings:
        if x.reading is not None and x.reading.entries:
            batch.add(x.digest, x.reading.ctx, x.reading.entries, x.reading.value_units,
                      x.item.received_at)
    if not batch.files:
        return False
    batch.judge(con, ref)
    by_hash = {x.digest: x for x in landings}
    for digest, totals in batch.totals.items():
        by_hash[digest].receipt.totals = totals
    for digest, status, n in con.execute(
            "select file_hash, status, count(*) from incoming_rows group by all").fetchall():
        r = by_hash[digest].receipt
        r.rows_read += n
        setattr(r, f"rows_{status}", getattr(r, f"rows_{status}") + n)
    for digest, number, sheet, row, cell, status, reason, column in con.execute(
            "select file_hash, record_number, sheet_name, row_number, cell, status, reason, "
            "error_column from incoming_rows where status <> 'accepted' "
            "order by file_hash, record_number").fetchall():
        x = by_hash[digest]
        if status == "ignored":
            x.receipt.ignored.append({"sheet": sheet, "row": row, "cell": cell,
                                      "reason": reason})
            continue
        entry = x.reading.entries[number - 1]
        fault = _fault_cell(entry, column, reason) or cell
        x.receipt.rejected.append({"sheet": sheet, "row": row, "cell": cell,
                                   "fault_cell": fault, "column": column, "reason": reason,
                                   "value": entry.cells.get(column, "") if column else ""})
    return True


def _land(con, landings: list[_Landing], ref: Reference, has_rows: bool) -> None:
    """One transaction for the batch: which values each file corrects, its file row, its
    records (the temp table incoming_rows, from _judge) and its receipt. A file is loaded
    whole or not at all, and so is the batch."""
    if not landings:
        return
    con.execute("begin transaction")
    try:
        if has_rows:
            con.register("incoming_files", pd.DataFrame({
                "file_hash": [x.digest for x in landings],
                "original_name": [x.item.name for x in landings],
                "city_code": [x.receipt.city_code for x in landings],
                "received_at": [x.item.received_at for x in landings]}))
            withdrawn = _superseded(con, {x.digest: x.receipt for x in landings})
            if withdrawn:
                _reject_withdrawals(con, {x.digest: x.receipt for x in landings}, withdrawn)
            _warn(con, ref, {x.digest: x.receipt for x in landings})
        for x in landings:
            if x.ctx is not None:
                x.receipt.message = _summary(x.receipt)
        con.executemany(
            "insert into raw.submission_files values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [[x.digest, x.item.name, r.archived_path, x.size, x.item.received_at,
              r.city_code, r.department_code, r.year, r.layout, r.status, r.rows_read,
              r.rows_accepted, r.rows_rejected, r.rows_ignored, r.message]
             for x in landings for r in [x.receipt]])
        if has_rows:
            con.execute("insert into raw.submission_rows by name select * from incoming_rows")
        for x in landings:
            x.receipt_json = json.dumps(x.receipt.to_dict(), ensure_ascii=False)
        con.register("incoming_receipts", pd.DataFrame({
            "file_hash": [x.digest for x in landings],
            "receipt_json": [x.receipt_json for x in landings]}))
        con.execute("insert into raw.submission_receipts select file_hash, 'receipt', "
                    "receipt_json from incoming_receipts")
        con.unregister("incoming_receipts")
        crash_point("ingest.in_transaction")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        if has_rows:
            con.execute("drop table if exists incoming_rows")
            con.unregister("incoming_files")


def _store(item: Submission, archive: Path) -> tuple[Path, bool]:
    """Put the file into its archive folder under its own name: a hard link where the archive
    shares the inbox's file system (no bytes copied), else a copy. Never a move: until the
    batch is committed the inbox keeps the file. Returns (archived path, whether this call
    made it). A kill half-way through a copy leaves bytes whose sha256 is not the folder's
    name: recovery never lands them, and the next attempt writes them again."""
    archived = archive / safe_name(item.name)
    if archived.exists() and (item.path.resolve() == archived.resolve()
                              or archived.stat().st_size == item.path.stat().st_size):
        return archived, False          # an earlier attempt, or recovery from the archive
    archived.unlink(missing_ok=True)
    try:
        os.link(item.path, archived)
    except OSError:
        shutil.copyfile(item.path, archived)
    return archived, True


def _journal_dir(settings: Settings) -> Path:
    return settings.archive_dir / ".journal"


def _write_journal(settings: Settings, reading: list[_Landing]) -> Path | None:
    """One journal per batch, written once its files are in the archive and before the
    warehouse commits: for each file, where it is archived, the name it was sent under, when
    it arrived and what the caller stated. `recover_intake` lands from it whatever a killed
    batch left unrecorded."""
    entries = [{"digest": x.digest, "archived": str(x.archived.relative_to(settings.archive_dir)),
                "original_name": x.item.name,
                "received_at": x.item.received_at.isoformat(),
                "department": x.item.department, "city": x.item.city, "year": x.item.year}
               for x in reading if x.archived is not None]
    if not entries:
        return None
    folder = _journal_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{entries[0]['digest'][:12]}.json"
    _write_atomic(path, json.dumps(entries, ensure_ascii=False))
    return path


def _write_atomic(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def _sync(folder: Path) -> None:
    """Flush what was written to the file system that holds `folder` (one syncfs for the
    batch, not one fsync per file: at national scale a batch is 500 files)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _summary(receipt: Receipt) -> str:
    parts = [f"{receipt.rows_accepted} records accepted, {receipt.rows_rejected} rejected, "
             f"{receipt.rows_ignored} layout rows ignored"]
    if receipt.superseded:
        parts.append(f"{len(receipt.superseded)} earlier values corrected")
    mismatches = sum(t["mismatch"] for t in receipt.totals)
    if mismatches:
        parts.append(f"{mismatches} totals differ from the sum of the districts")
    if receipt.neutralised:
        parts.append(f"{len(receipt.neutralised)} formula-like cells neutralised")
    if receipt.warnings:
        parts.append(f"{len(receipt.warnings)} values accepted with a plausibility warning")
    return "; ".join(parts)


def _superseded(con, receipts: dict[str, Receipt]) -> list[tuple[str, int, str]]:
    """Which accepted values of the batch replace a different value that arrived earlier:
    from any source already in the warehouse, or from a file of the same batch received
    before. Fills each receipt's `superseded` and `restated_unchanged`, and returns the
    records that would replace a figure with a missing marker and give no reason (file hash,
    record number, the reason they are rejected)."""
    rows = con.execute("""
        with incoming as (
            select r.file_hash, r.record_number, r.indicator_code, r.district_code, r.year,
                   r.value, r.sheet_name, r.cell, r.is_missing, r.note_text, f.received_at
            from incoming_rows as r join incoming_files as f using (file_hash)
            where r.status = 'accepted'
        ),
        keys as (select distinct indicator_code, district_code, year from incoming),
        earlier as (
            select r.indicator_code, r.district_code, r.year, r.value,
                   f.original_name as origin, f.received_at
            from raw.submission_rows as r
            -- a semi join, not (a, b, c) in (select ...): 5x faster on a national warehouse
            semi join keys using (indicator_code, district_code, year)
            join raw.submission_files as f using (file_hash)
            where r.status = 'accepted' and f.status = 'loaded'
            union all
            select i.indicator_code, i.district_code, i.year, i.value, f.original_name,
                   i.received_at
            from incoming as i join incoming_files as f using (file_hash)
            union all
            select o.indicator_code, o.district_code, o.year, o.value,
                   'open data: ' || o.source_name, f.fetched_at
            from raw.open_data_observations as o
            semi join keys using (indicator_code, district_code, year)
            join raw.open_data_fetches as f using (fetch_id)
            where o.status = 'accepted' and f.status = 'loaded'
        ),
        latest as (
            select i.file_hash, i.record_number,
                   arg_max(e.value, e.received_at) as value,
                   arg_max(e.origin, e.received_at) as origin,
                   max(e.received_at) as received_at
            from incoming as i
            join earlier as e using (indicator_code, district_code, year)
            where e.received_at < i.received_at
            group by i.file_hash, i.record_number
        )
        select i.file_hash, i.indicator_code, i.district_code, i.year, i.value, l.value,
               l.origin, strftime(l.received_at, '%Y-%m-%d %H:%M'),
               i.value is not distinct from l.value, i.sheet_name, i.cell, i.record_number,
               i.is_missing and coalesce(trim(i.note_text), '') = ''
        from incoming as i
        join latest as l using (file_hash, record_number)
        order by i.file_hash, i.sheet_name, i.indicator_code, i.district_code, i.year
    """).fetchall()
    withdrawn = []
    for (digest, ind, dist, year, value, old, origin, when, same, sheet, cell, record,
         unexplained) in rows:
        receipt = receipts[digest]
        if same:
            receipt.restated_unchanged += 1
        elif unexplained and old is not None:
            withdrawn.append((digest, record, (
                f"reported missing, but {old:g} was reported earlier ({origin}, {when}); a "
                "missing marker does not replace a figure unless the 备注 (note) column says "
                "why. 已报数值不能以“无”覆盖，除非在备注栏说明原因")))
        else:
            receipt.superseded.append({
                "indicator_code": ind, "district_code": dist, "year": year, "value": value,
                "earlier_value": old, "earlier_file": origin, "earlier_received_at": when,
                "sheet": sheet, "cell": cell})
    return withdrawn


def _warn(con, ref: Reference, receipts: dict[str, Receipt]) -> None:
    """Accepted values that break a plausibility rule (seeds/plausibility_rules.csv) stay
    accepted and are flagged: one row each in raw.submission_warnings, in the batch's
    transaction, and a line on the file's receipt. Compared with the latest value of the year
    before (from any source, this batch included) and with the city's value that year."""
    if not ref.plausibility_rules:
        return
    con.register("plausibility_rules", pd.DataFrame(ref.plausibility_rules))
    try:
        con.execute("""
            insert into raw.submission_warnings
            with incoming as (
                select r.file_hash, r.record_number, r.sheet_name, r.cell, r.indicator_code,
                       r.district_code, r.year, r.value, f.city_code, f.received_at
                from incoming_rows as r join incoming_files as f using (file_hash)
                semi join plausibility_rules as p using (indicator_code)
                where r.status = 'accepted' and r.value is not null
            ),
            wanted as (  -- the figures compared with: the year before's, the city's
                select distinct indicator_code, district_code, year - 1 as year from incoming
                union
                select distinct indicator_code, city_code, year from incoming
            ),
            known as (   -- those figures from every source, latest wins
                select r.indicator_code, r.district_code, r.year, r.value, f.received_at
                from raw.submission_rows as r
                semi join wanted using (indicator_code, district_code, year)
                join raw.submission_files as f using (file_hash)
                where r.status = 'accepted' and f.status = 'loaded' and r.value is not null
                union all
                select o.indicator_code, o.district_code, o.year, o.value, f.fetched_at
                from raw.open_data_observations as o
                semi join wanted using (indicator_code, district_code, year)
                join raw.open_data_fetches as f using (fetch_id)
                where o.status = 'accepted' and f.status = 'loaded' and o.value is not null
                union all
                select indicator_code, district_code, year, value, received_at from incoming
            ),
            latest as (
                select indicator_code, district_code, year,
                       arg_max(value, received_at) as value
                from known group by all
            ),
            compared as (
                select i.*, p.rule, p.threshold,
                       case when p.rule = 'above_city_total' then c.value else b.value end
                           as other
                from incoming as i
                join plausibility_rules as p using (indicator_code)
                left join latest as b on b.indicator_code = i.indicator_code
                    and b.district_code = i.district_code and b.year = i.year - 1
                left join latest as c on c.indicator_code = i.indicator_code
                    and c.district_code = i.city_code and c.year = i.year
                    and i.district_code <> i.city_code
            )
            select file_hash, record_number, sheet_name, cell, indicator_code, district_code,
                   year, rule, other,
                   case rule
                   when 'decrease' then format(
                       '累计值下降：{} 年为 {:g}，{} 年为 {:g} / a cumulative total went down: '
                       '{:g} in {}, {:g} in {}', year - 1, other, year, value, other,
                       year - 1, value, year)
                   when 'yoy_factor' then format(
                       '与上年相比变化超过 {:g} 倍：{} 年为 {:g}，{} 年为 {:g} / changed more than '
                       '{:g}-fold on the year before: {:g} in {}, {:g} in {}', threshold,
                       year - 1, other, year, value, threshold, other, year - 1, value, year)
                   else format('区县值 {:g} 高于全市值 {:g} / the district''s {:g} is above the '
                               'city''s {:g}', value, other, value, other)
                   end
            from compared
            where other is not null and case rule
                when 'decrease' then value < other
                when 'yoy_factor' then value > 0 and other > 0
                    and greatest(value / other, other / value) > threshold
                else value > other end
        """)
        for digest, sheet, cell, ind, dist, year, rule, message in con.execute(
                "select w.file_hash, w.sheet_name, w.cell, w.indicator_code, w.district_code, "
                "w.year, w.rule, w.message from raw.submission_warnings as w "
                "semi join incoming_files using (file_hash) "
                "order by w.file_hash, w.record_number, w.rule").fetchall():
            receipts[digest].warnings.append({
                "sheet": sheet, "cell": cell, "indicator_code": ind, "district_code": dist,
                "year": year, "rule": rule, "message": message})
    finally:
        con.unregister("plausibility_rules")


def _reject_withdrawals(con, receipts: dict[str, Receipt],
                        withdrawn: list[tuple[str, int, str]]) -> None:
    """A missing marker with no reason where a figure was reported before is rejected, not
    landed over it: in the rows about to be inserted and on the file's receipt."""
    for digest, record, reason in withdrawn:
        sheet, row, cell, value = con.execute(
            "update incoming_rows set status = 'rejected', reason = $reason, "
            "error_column = 'value', indicator_code = null, district_code = null, "
            "quality_flag = null, year = null, value = null, is_missing = false "
            "where file_hash = $digest and record_number = $record "
            "returning sheet_name, row_number, cell, value_text",
            {"reason": reason, "digest": digest, "record": record}).fetchone()
        receipt = receipts[digest]
        receipt.rows_accepted -= 1
        receipt.rows_rejected += 1
        receipt.rejected.append({"sheet": sheet, "row": row, "cell": cell, "fault_cell": cell,
                                 "column": "value", "reason": reason, "value": value})


def write_receipt(receipt: Receipt, folder: Path, stem: str = "receipt",
                  as_json: str | None = None) -> None:
    """The receipt's .json (`as_json` when it was encoded already, as landed) and .txt."""
    folder.mkdir(parents=True, exist_ok=True)
    # one line: json's C encoder (indent= falls back to the pure-Python one, 3 s of intake at
    # bench scale M); the receipt people read is the .txt beside it
    _write_atomic(folder / f"{stem}.json",
                  as_json or json.dumps(receipt.to_dict(), ensure_ascii=False))
    _write_atomic(folder / f"{stem}.txt", receipt.to_text())


def recover_intake(settings: Settings, con=None, ref: Reference | None = None
                   ) -> list[Receipt]:
    """Finish what a stopped intake left: every receipt the warehouse holds is written to the
    archive if its file is missing, and every file archived with its journal entry but never
    landed (the process died before its batch committed) is landed now from the archive.
    Returns the receipts of the files it landed. Run before each inbox ingest; idempotent."""
    if con is None:
        with connect(settings.warehouse_path) as own:
            return recover_intake(settings, own, ref)
    if not settings.archive_dir.exists():
        return []
    unwritten = [digest for (digest,) in con.execute(
        "select file_hash from raw.submission_receipts").fetchall()
        if not (_archive_dir(settings, digest) / "receipt.json").exists()]
    if unwritten:
        for digest, text in con.execute(
                "select file_hash, receipt_json from raw.submission_receipts "
                "where file_hash in (select unnest(?))", [unwritten]).fetchall():
            write_receipt(Receipt(**json.loads(text)), _archive_dir(settings, digest),
                          as_json=text)
    journals = sorted(_journal_dir(settings).glob("*.json"))
    if not journals:
        return []
    landed = {r[0] for r in con.execute("select file_hash from raw.submission_files").fetchall()}
    orphans: dict[str, Submission] = {}
    for journal in journals:
        for entry in json.loads(journal.read_text(encoding="utf-8")):
            archived = settings.archive_dir / entry["archived"]
            if (entry["digest"] in landed or entry["digest"] in orphans
                    or not archived.exists() or file_sha256(archived) != entry["digest"]):
                continue
            orphans[entry["digest"]] = Submission(
                archived, datetime.fromisoformat(entry["received_at"]),
                department=entry["department"], city=entry["city"], year=entry["year"],
                original_name=entry["original_name"])
    receipts = ingest_files(sorted(orphans.values(), key=lambda s: s.received_at), settings,
                            ref=ref, con=con) if orphans else []
    for journal in journals:   # every file they list is in the warehouse now
        journal.unlink(missing_ok=True)
    return receipts


# -- the inbox ------------------------------------------------------------------------------

def list_inbox(settings: Settings) -> list[Path]:
    """Files waiting in the inbox, oldest first. Hidden and partly written files (.part,
    .tmp, ~$ lock files of an open Excel) are left until they are complete."""
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    files = [p for p in settings.inbox_dir.iterdir()
             if p.is_file() and not p.name.startswith((".", "~$"))
             and p.suffix.lower() not in {".part", ".tmp", ".crdownload"}]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def ingest_inbox_file(path: Path, settings: Settings, ref: Reference | None = None,
                      con=None) -> Receipt:
    """Ingest one file from the inbox; it leaves the inbox for the archive. It was received
    when it landed in the inbox (its modification time there), not when a task got to it:
    mapped ingest tasks may run in any order."""
    return ingest_files([_inbox_item(Path(path))], settings, ref=ref, con=con)[0]


def _inbox_item(path: Path) -> Submission:
    arrived = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return Submission(path, arrived, move=True)


def ingest_inbox(settings: Settings) -> list[Receipt]:
    """Finish what a stopped run left (recover_intake), then ingest every file waiting in the
    inbox, oldest first, in batches (ingest_files)."""
    with connect(settings.warehouse_path) as con:
        recovered = recover_intake(settings, con)
        return recovered + ingest_files([_inbox_item(p) for p in list_inbox(settings)],
                                        settings, con=con)
