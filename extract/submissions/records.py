"""Reading a department's file and cutting it into records: its context (city, department,
year, from the sender, the header block and the file name, which must agree), its table,
and each record with the verdict layout already gives it (extract/layout.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from common.reference import Reference, normalise
from extract.layout import (
    Layout,
    Record,
    Table,
    cut,
    find_table,
    meta_pairs,
)
from extract.numbers import parse_number, parse_year
from extract.reading import FileRefused, read_sheets
from extract.verdicts import Batch, RowVerdict
from extract.xlsx import Sheet, column_index, column_letters

FILENAME_PATTERN = re.compile(r"^(?P<city>\d{6})_(?P<department>[a-z_]+)_(?P<year>\d{4})$")


# Text a spreadsheet would run as a formula when the value is shown or exported again.
FORMULA_TRIGGERS = ("=", "+", "@", "\t", "\r")


_TRIGGER_CHARS = frozenset("=+@\t\r-")


class SubmissionError(Exception):
    """The file as a whole cannot be loaded. The message says what to do."""


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
                      entry.cell, fault_cell(entry, column, reason), indicator,
                      district, year, value, bool(missing), flag)


def fault_cell(entry, column: str | None, reason: str | None) -> str | None:
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
