"""Reading a department's file and cutting it into records: its context (city, department,
year, from the sender, the header block and the file name, which must agree), its table,
and each record with the verdict layout already gives it (extract/layout.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from common.messages import say
from common.reference import Reference, normalise
from extract.layout import (
    Block,
    Entries,
    Layout,
    Record,
    RecordRun,
    Table,
    cut,
    find_blocks,
    meta_pairs,
    outside,
    reference_marker,
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
    sheets without a table and records the clerk could not see), and notes for the receipt.
    `blocks` says, for each table (records carry its number), the year its records are for
    when they do not say (None: not stated, they are rejected), where it is, and the unit in
    its value column's heading."""
    ctx: FileContext
    layout: str
    entries: Entries
    value_units: dict[str, str | None]      # sheet -> the unit in its value column's heading
    notes: dict[str, list]
    blocks: list[dict] = field(default_factory=list)


def read_file(path: Path, ref: Reference, department: str | None = None,
              city: str | None = None, year: int | None = None,
              max_unpacked_bytes: int = 256 * 1024 * 1024, name: str | None = None,
              max_rows: int | None = None) -> Reading:
    """Read the file, find its tables (blocks) and cut them into records. Raises
    SubmissionError for the file as a whole.

    Department and city are the file's: one file is one department's figures for one city
    (the sender's, the first table's header block, the file name; they must agree). The year
    belongs to each table: its own header block or year column; the first table also takes
    the file's (sender, header block, file name), and every table the sender's when it states
    none. A table whose year is stated nowhere has its records rejected, never given another
    table's year. A sheet or table titled as reference (上年, 参考 …) is not read, and the
    receipt says so (docs/submission-format.md, "Blocks")."""
    name = name or path.name        # as it was sent: its type, the file-name convention
    try:
        sheets = read_sheets(path, max_unpacked_bytes, name)
    except FileRefused as exc:
        raise SubmissionError(str(exc)) from None
    rows = sum(len(s.rows) for s in sheets)
    if max_rows is not None and rows > max_rows:
        raise SubmissionError(say("too_many_rows", rows=f"{rows:,}", limit=f"{max_rows:,}"))
    m = FILENAME_PATTERN.match(Path(name).stem)
    hint_city = city or (m and m["city"]) or _early_city(sheets, ref)
    by_sheet: list[tuple[Sheet, list[Block]]] = [
        (s, find_blocks(s, ref, _city_code(hint_city, ref))) for s in sheets]
    found = [b for _, blocks in by_sheet for b in blocks]
    submitted = [b for b in found if not b.reference]
    if not submitted:
        raise SubmissionError(say("no_table"))
    head = submitted[0]
    conflicts = _disagreements(
        ref, {"department": department, "city": city, "year": year}, head.meta,
        {k: m[k] for k in ("department", "city", "year")} if m else {})
    department = department or head.meta.get("department") or (m and m["department"])
    city = city or head.meta.get("city") or (m and m["city"])
    year_text = year or head.meta.get("year") or (m and m["year"])
    if not department:
        raise SubmissionError(say("no_department"))
    department_code = _department_code(department, ref)
    if department_code not in ref.departments:
        raise SubmissionError(say("unknown_department", department=department,
                                  known=", ".join(sorted(ref.departments))))
    city_code = _city_code(city, ref)
    if city_code not in ref.cities:
        raise SubmissionError(say("unknown_city", city=city or "",
                                  known=", ".join(sorted(ref.cities))))
    file_year = parse_year(year_text) if year_text else None
    if file_year is None:
        raise SubmissionError(say("no_year", year=year_text or ""))
    ctx = FileContext(city_code, department_code, file_year, head.meta.get("template_version"))
    entries = Entries()
    notes: dict[str, list] = {"totals": [], "neutralised": [], "footer": [],
                              "conflicts": conflicts, "sheets": []}
    blocks: list[dict] = []
    layouts, units = set(), {}
    records = filled = 0
    for sheet, sheet_blocks in by_sheet:
        covered = 0
        unseen_possible = bool(sheet.hidden or sheet.hidden_rows or sheet.hidden_columns
                               or sheet.percent_cells or sheet.struck or sheet.comments)
        for block in sheet_blocks:
            if block.start > covered:          # rows between tables that start none
                entries += _no_table(sheet, covered, block.start)
            covered = block.end
            if block.reference and not sheet.hidden:
                why = (say("reference_sheet", sheet=sheet.name, marker=block.reference)
                       if reference_marker(sheet.name) else
                       say("reference_block", title=block.title or "", row=block.start + 1,
                           marker=block.reference))
                entries += [_verdict_of(piece) for piece in outside(
                    sheet.name, sheet.rows[block.start:block.end], block.start, why,
                    figures="ignore")]
                continue
            table = block.table
            number = len(blocks)
            refused = _block_refusal(block, ref, ctx, year, head is block)
            block_year = (file_year if block is head else
                          parse_year(block.meta["year"]) if block.meta.get("year") else year)
            blocks.append({"sheet": sheet.name, "year": block_year, "where": block.where,
                           "unit": table.header_units.get("value")})
            layouts.add(table.kind)
            notes["sheets"].append(read_map(table, block))
            units[sheet.name] = table.header_units.get("value")
            keep_runs = refused is None and not unseen_possible
            for piece in _runs_kept(cut(sheet, table, block.start, block.end,
                                        block.meta_cells), keep_runs):
                kind = type(piece)
                if kind is RecordRun:   # plain records, nothing to say of any one yet
                    records += len(piece)
                    filled += len(piece) - piece.cells["value"].count("")
                    piece.block = number
                    entries.append(piece)
                elif kind is Record:
                    records += 1
                    filled += bool(piece.cells.get("value")) or piece.value_is_formula
                    piece.block = number
                    _neutralise_cells(piece, table, notes["neutralised"])
                    unseen = _unseen(sheet, table, piece) if unseen_possible else None
                    if unseen is None and refused is not None:
                        unseen = refused
                    entries.append(piece if unseen is None else RowVerdict(
                        piece.sheet, piece.row_number, "rejected", unseen[1], unseen[0],
                        piece.cells, piece.cell, piece.fault_cell(unseen[0])))
                elif kind is Layout:
                    if piece.reason.startswith("footer: "):
                        notes["footer"].append(piece.cells["note"])
                    entries.append(_verdict_of(piece))
                else:
                    piece.block = number
                    entries.append(piece)    # a total: checked once its districts are judged
        if covered < len(sheet.rows):
            entries += _no_table(sheet, covered, len(sheet.rows))
    if records and not filled:
        raise SubmissionError(say("nothing_filled", records=records))
    return Reading(ctx, "+".join(sorted(layouts)), entries, units, notes, blocks)


def _runs_kept(pieces: list, keep: bool):
    """cut's pieces, each RecordRun kept whole when `keep` and no text of it is to be made
    inert (a leading =, +, @ …), else cut into its records, each looked at on its own (a
    hidden or marked cell, a table the file contradicts, a text neutralised)."""
    def inert_needed(run: RecordRun) -> bool:
        return any(text[:1] in _TRIGGER_CHARS for column, texts in run.cells.items()
                   if column != "value" for text in set(texts))

    for piece in pieces:
        if type(piece) is RecordRun and (not keep or inert_needed(piece)):
            yield from piece.records()
        else:
            yield piece


def _verdict_of(piece: Layout) -> RowVerdict:
    return RowVerdict(piece.sheet, piece.row_number, piece.status, piece.reason,
                      "value" if piece.status == "rejected" else None, piece.cells, piece.cell,
                      piece.cell)


def _no_table(sheet: Sheet, first: int, stop: int) -> list[RowVerdict]:
    """Rows no table claims: layout, each figure among them rejected as not read."""
    why = say("layout_hidden_no_table" if sheet.hidden else "layout_no_table")
    return [_verdict_of(p) for p in outside(sheet.name, sheet.rows[first:stop], first, why)]


def _block_refusal(block: Block, ref: Reference, ctx: FileContext, sender_year: int | None,
                   is_head: bool) -> tuple[str, str] | None:
    """(column, reason) when a table's own header block contradicts the file: another
    department or city (one file is one department's figures for one city), or a year the
    sender did not state for the file."""
    if is_head:
        return None
    for what, code in (("department", _department_code), ("city", _city_code)):
        stated = block.meta.get(what)
        file_value = ctx.department_code if what == "department" else ctx.city_code
        if stated and code(stated, ref) != file_value:
            return "value", say("block_meta_disagrees", sheet=block.sheet,
                                cell=block.where.split("!")[-1], what=what,
                                what_zh=FIELD_ZH[what], stated=stated, file_value=file_value)
    stated_year = parse_year(block.meta["year"]) if block.meta.get("year") else None
    if stated_year is not None and sender_year is not None and stated_year != sender_year:
        return "year", say("block_year_disagrees", sheet=block.sheet,
                           cell=block.where.split("!")[-1], block_year=stated_year,
                           sender_year=sender_year)
    return None


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
    batch.add("-", reading.ctx, reading.entries, reading.blocks, datetime(2000, 1, 1))
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


def read_map(table: Table, block: Block | None = None) -> dict:
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
            # the rows this table's columns hold for (1-based, inclusive)
            "rows": [block.start + 1 if block else 1, block.end if block else None],
            "columns": {column_letters(p): roles[p] for p in sorted(roles)},
            # wide: each of these columns' cells is a record of its own
            "record_columns": sorted(column_letters(p) for p in (
                [*table.district_columns, *table.total_columns] if table.kind == "wide" else
                [table.columns["value"]]))}


def _unseen(sheet: Sheet, table: Table, rec: Record) -> tuple[str, str] | None:
    """(column, reason) when the record's figure is not what the clerk saw in Excel, or not
    all the clerk said about it — read from a hidden sheet, row or column (often a stale copy
    kept out of sight), from a cell formatted as a percentage (it shows 98.5 % and holds
    0.985), from a struck-through cell (deleted?), or from a cell with a comment (which may
    change what the figure means): rejected, never stored as a guess of what was meant."""
    if sheet.hidden:
        return "value", say("hidden_sheet", sheet=sheet.name)
    if rec.row_number - 1 in sheet.hidden_rows:
        return "value", say("hidden_row", row=rec.row_number)
    value_column = column_index(re.match(r"[A-Z]+", rec.cell)[0])
    here = (rec.row_number - 1, value_column)
    if here in sheet.percent_cells and rec.cells.get("value"):
        held = rec.cells["value"]
        shown = (f"{float(held) * 100:g}%" if isinstance(rec.raw_value, (int, float))
                 else f"{held}%")
        return "value", say("percent_cell", cell=rec.cell, held=held, shown=shown)
    used = [("value", value_column)]
    used += [(c, table.columns[c]) for c in ("indicator_code", "indicator_name",
                                              "district_code", "district_name", "year", "unit")
             if rec.cells.get(c) and c in table.columns]
    for column, pos in used:
        if pos in sheet.hidden_columns:
            return column, say("hidden_column", column=column_letters(pos))
    if sheet.struck:
        for column, pos in used:
            if (rec.row_number - 1, pos) in sheet.struck:
                cell = f"{column_letters(pos)}{rec.row_number}"
                return column, say("struck_cell", cell=cell, text=rec.cells.get(column, ""))
    if here in sheet.comments and rec.cells.get("value"):
        return "value", say("commented_cell", cell=rec.cell, comment=sheet.comments[here],
                            text=rec.cells["value"])
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
            raise SubmissionError(say("stated_twice", what=what, what_zh=FIELD_ZH[what],
                                      header=head[0], sender=flag[0]))
        named, winner = given.get("the file name"), flag or head
        if named and winner and named[1] != winner[1]:
            source = SENDER if flag else "the file's header"
            notes.append(say("name_disagrees", what=what, what_zh=FIELD_ZH[what],
                             named=named[0], source=source, winner=winner[0],
                             source_zh="报送方" if flag else "文件表头"))
    return notes


def _department_code(department: object, ref: Reference) -> str:
    """A department's code from its code, its name, or a name it goes by
    (seeds/department_aliases.csv; a city's name in front, as on a letterhead, is read as
    市: 淄博市城市管理局 is 市城市管理局). As written if none of these."""
    return ref.department_code(str(department))


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
        city = meta_pairs(sheet.rows[:10])[0].get("city")
        if city and _city_code(city, ref) in ref.cities:
            return city
    return None
