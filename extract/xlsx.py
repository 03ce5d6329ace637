"""Read an .xlsx workbook safely: values through calamine, formulas and limits here.

Intake needs more than a workbook's values:
- decompression with a hard byte budget, so a zip bomb named .xlsx is refused after reading at
  most the budget, whatever sizes its directory claims: every sheet part is streamed through
  the budget here before the value reader (python-calamine, Rust) opens the file;
- which cells are formulas, so a formula in a text column can be neutralised and reported
  (calamine gives saved results only): parts that contain a formula element are parsed here,
  the rest are only scanned;
- the merged ranges of each sheet, for headers with merged cells (from calamine).

A part with a document type declaration (the vehicle of entity-expansion attacks) is refused:
no real workbook part carries one. calamine reads the values about 7x faster than
read-only openpyxl (bench/intake.py); openpyxl still writes the templates.
"""
from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError, XMLPullParser

from common.messages import say

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OFFICE_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_REF = re.compile(r"([A-Z]+)(\d+)")
_CHUNK = 1 << 16
# The value reader holds every shared string in memory, several times the part's size (a 250
# MB part took the portal to 909 MiB): that part may take this share of the unpack budget
SHARED_STRINGS_SHARE = 8


class WorkbookError(Exception):
    """The workbook cannot be read. The message says why and what to do."""


@dataclass
class Sheet:
    name: str
    rows: list[list[object]]                                     # row i (0-based) -> cell values
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) -> "=..."
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # r0, c0, r1, c1
    # what the clerk could not see in Excel: a hidden sheet, hidden rows and columns (0-based)
    hidden: bool = False
    hidden_rows: set[int] = field(default_factory=set)
    hidden_columns: set[int] = field(default_factory=set)
    # (row, column) of cells formatted as a percentage: they show 98.5% and hold 0.985
    percent_cells: set[tuple[int, int]] = field(default_factory=set)
    # marks that change what a cell means: struck through (deleted?), a comment on it
    struck: set[tuple[int, int]] = field(default_factory=set)
    comments: dict[tuple[int, int], str] = field(default_factory=dict)


def column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def column_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: how a spreadsheet names the column."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


class _Budget:
    """Counts decompressed bytes across every part read; refuses past the limit."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self.read: set[str] = set()      # the parts streamed through it

    def drain(self, zf: zipfile.ZipFile, name: str) -> None:
        """Stream a part the value reader will open and nothing here reads (the shared
        strings, the theme …) through the budget: every byte calamine unpacks is counted
        first, and a part that holds more than its directory entry says fails its check
        here (zipfile stops at the declared size and the CRC no longer matches)."""
        self.read.add(name)
        try:
            with zf.open(name) as fh:
                while chunk := fh.read(_CHUNK):
                    self.take(len(chunk))
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise WorkbookError(say("part_damaged", part=name, error=exc)) from None

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise WorkbookError(say("unpacked_too_large", limit=f"{self.limit:,}"))


def _events(zf: zipfile.ZipFile, name: str, budget: _Budget, tags: tuple[str, ...]):
    """Yield (event, element) for the end of elements whose tag ends with one of `tags`,
    streaming the part through the budget. The caller clears what it has used."""
    parser = XMLPullParser(events=("end",))
    head = True
    budget.read.add(name)
    try:
        with zf.open(name) as fh:
            while chunk := fh.read(_CHUNK):
                budget.take(len(chunk))
                if head:
                    if b"<!DOCTYPE" in chunk[:4096] or b"<!ENTITY" in chunk[:4096]:
                        raise WorkbookError(say("part_doctype", part=name))
                    head = False
                parser.feed(chunk)
                for _, elem in parser.read_events():
                    if elem.tag.endswith(tags):
                        yield elem
            parser.close()
            for _, elem in parser.read_events():
                if elem.tag.endswith(tags):
                    yield elem
    except ParseError as exc:
        raise WorkbookError(say("part_invalid_xml", part=name, error=exc)) from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:  # truncated or corrupt member
        raise WorkbookError(say("part_damaged", part=name, error=exc)) from None


def _sheet_parts(zf: zipfile.ZipFile, budget: _Budget) -> list[tuple[str, str]]:
    """(sheet name, part path) in workbook order."""
    try:
        rels = {}
        for rel in _events(zf, "xl/_rels/workbook.xml.rels", budget, ("Relationship",)):
            target = rel.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join("xl", target))
            rels[rel.get("Id")] = path
        sheets = [(s.get("name"), rels.get(s.get(OFFICE_REL)))
                  for s in _events(zf, "xl/workbook.xml", budget, ("}sheet",))]
    except KeyError as exc:
        raise WorkbookError(say("zip_not_workbook", missing=exc)) from None
    return [(n, p) for n, p in sheets if p and p in zf.NameToInfo]


_HIDDEN = (b'hidden="1"', b"hidden='1'", b'hidden="true"', b"hidden='true'")


def _cell_styles(zf: zipfile.ZipFile, budget: _Budget) -> tuple[set[int], set[int]]:
    """Indices of the cell formats (styles.xml cellXfs) that show a number as a percentage
    (Excel's built-in 0% and 0.00%, ids 9 and 10, and any custom format with a % sign), and of
    those whose font is struck through."""
    if "xl/styles.xml" not in zf.NameToInfo:
        return set(), set()
    percent_ids = {9, 10}
    struck_fonts: set[int] = set()
    percent: set[int] = set()
    struck: set[int] = set()
    for elem in _events(zf, "xl/styles.xml", budget, ("}numFmt", "}fonts", "}cellXfs")):
        if elem.tag.endswith("}numFmt"):
            if "%" in (elem.get("formatCode") or "") and (elem.get("numFmtId") or "").isdigit():
                percent_ids.add(int(elem.get("numFmtId")))
        elif elem.tag.endswith("}fonts"):
            for i, font in enumerate(elem):
                mark = font.find(f"{MAIN}strike")
                if mark is not None and mark.get("val", "1") not in ("0", "false"):
                    struck_fonts.add(i)
            elem.clear()
        else:
            for i, xf in enumerate(elem):
                if int(xf.get("numFmtId") or 0) in percent_ids:
                    percent.add(i)
                if int(xf.get("fontId") or 0) in struck_fonts:
                    struck.add(i)
            elem.clear()
    return percent, struck


def _comments(zf: zipfile.ZipFile, part: str, budget: _Budget) -> dict[tuple[int, int], str]:
    """(row, column) -> text of every comment (note) on the sheet part's cells."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in zf.NameToInfo:
        return {}
    targets = []
    for rel in _events(zf, rels, budget, ("Relationship",)):
        if (rel.get("Type") or "").endswith("/comments"):
            target = rel.get("Target", "")
            targets.append(target.lstrip("/") if target.startswith("/") else
                           posixpath.normpath(posixpath.join(folder, target)))
    found: dict[tuple[int, int], str] = {}
    for target in targets:
        if target not in zf.NameToInfo:
            continue
        for comment in _events(zf, target, budget, ("}comment",)):
            ref = _REF.match(comment.get("ref") or "")
            if ref:
                text = "".join(t.text or "" for t in comment.iter(f"{MAIN}t")).strip()
                found[(int(ref.group(2)) - 1, column_index(ref.group(1)))] = text
            comment.clear()
    return found


@dataclass
class _Scanned:
    """What a sheet part holds beyond its values (see _scan)."""
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)
    hidden_rows: set[int] = field(default_factory=set)
    hidden_columns: set[int] = field(default_factory=set)
    percent: set[tuple[int, int]] = field(default_factory=set)
    struck: set[tuple[int, int]] = field(default_factory=set)
    errors: dict[tuple[int, int], str] = field(default_factory=dict)


def _scan(zf: zipfile.ZipFile, part: str, budget: _Budget, percent_styles: set[int] = frozenset(),
          struck_styles: set[int] = frozenset()) -> _Scanned:
    """A sheet part's formulas ((row, column) -> formula text), the 0-based rows and columns
    hidden in Excel, the cells in `percent_styles` (they show 98.5% and hold 0.985) and in
    `struck_styles` (struck through), and the cells holding an Excel error (#DIV/0! …: the
    value reader gives them as empty). The part is streamed through the budget either way;
    it is parsed cell by cell only when it has a formula, an error, or one of those styles
    is in use."""
    has_formula, has_hidden, has_error, tail = False, False, False, b""
    budget.read.add(part)
    try:
        with zf.open(part) as fh:
            while chunk := fh.read(_CHUNK):
                budget.take(len(chunk))
                window = tail + chunk
                if not has_formula and (b"<f>" in window or b"<f " in window
                                        or b"<f/>" in window):
                    has_formula = True
                if not has_hidden and any(h in window for h in _HIDDEN):
                    has_hidden = True
                if not has_error and (b't="e"' in window or b"t='e'" in window):
                    has_error = True
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    raise WorkbookError(say("part_doctype", part=part))
                tail = chunk[-16:]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise WorkbookError(say("part_damaged", part=part, error=exc)) from None
    rows: set[int] = set()
    columns: set[int] = set()
    if has_hidden:
        for elem in _events(zf, part, _Budget(budget.limit), ("}row", "}col")):
            if elem.get("hidden") in ("1", "true"):
                if elem.tag.endswith("}row") and (elem.get("r") or "").isdigit():
                    rows.add(int(elem.get("r")) - 1)
                elif elem.tag.endswith("}col"):
                    columns.update(range(int(elem.get("min", 1)) - 1, int(elem.get("max", 1))))
            elem.clear()
    out = _Scanned(hidden_rows=rows, hidden_columns=columns)
    if not (has_formula or has_error or percent_styles or struck_styles):
        return out
    parse_budget = _Budget(budget.limit)  # the same bytes again, under the same limit
    f_tag, v_tag = f"{MAIN}f", f"{MAIN}v"
    for c in _events(zf, part, parse_budget, ("}c",)):
        ref = _REF.match(c.get("r") or "")
        if ref:
            where = (int(ref.group(2)) - 1, column_index(ref.group(1)))
            f = c.find(f_tag) if has_formula else None
            if f is not None:
                text = f.text or ("(shared formula)" if f.get("t") == "shared" else "")
                out.formulas[where] = "=" + text
            if has_error and c.get("t") == "e":
                v = c.find(v_tag)
                out.errors[where] = (v.text or "#ERROR") if v is not None else "#ERROR"
            style = c.get("s")
            if style and style.isdigit():
                if int(style) in percent_styles:
                    out.percent.add(where)
                if int(style) in struck_styles:
                    out.struck.add(where)
        c.clear()
    return out


def _value(cell: object) -> object:
    """calamine's cell as intake wants it: '' is empty, a whole number is an int (so a code
    typed as a number, 371002, reads as 371002 and not 371002.0)."""
    if cell == "":
        return None
    if type(cell) is float and cell.is_integer() and abs(cell) < 2**53:
        return int(cell)
    return cell


def read_xlsx(path, max_unpacked_bytes: int) -> list[Sheet]:
    """Every worksheet of the workbook: saved values, formulas and merged ranges."""
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise WorkbookError(say("not_a_zip")) from None
    with zf:
        declared = sum(i.file_size for i in zf.infolist())
        if declared > max_unpacked_bytes:
            raise WorkbookError(say("declared_too_large", declared=f"{declared:,}",
                                    limit=f"{max_unpacked_bytes:,}"))
        budget = _Budget(max_unpacked_bytes)
        percent_styles, struck_styles = _cell_styles(zf, budget)
        parts = _sheet_parts(zf, budget)
        scanned = {name: _scan(zf, part, budget, percent_styles, struck_styles)
                   for name, part in parts}
        comments = {name: _comments(zf, part, budget) for name, part in parts}
        for info in zf.infolist():      # the rest: shared strings, theme, properties …
            if info.filename not in budget.read and not info.is_dir():
                budget.drain(zf, info.filename)
            if info.filename.lower().endswith("sharedstrings.xml") and \
                    info.file_size > max_unpacked_bytes // SHARED_STRINGS_SHARE:
                raise WorkbookError(say(
                    "shared_strings_too_large",
                    limit=f"{max_unpacked_bytes // SHARED_STRINGS_SHARE:,}"))
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine's errors are one class per failure, all plain text
        raise WorkbookError(say("workbook_unreadable", error=exc)) from None
    sheets = []
    try:
        hidden = {m.name for m in book.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
        for name in book.sheet_names:
            if name not in scanned:
                continue  # a chart sheet or macro sheet: no cells
            ws = book.get_sheet_by_name(name)
            rows = [[_value(c) for c in row] for row in ws.to_python(skip_empty_area=False)]
            merged = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in (ws.merged_cell_ranges or [])]
            scan = scanned[name]
            for (r, c), error in scan.errors.items():   # given as empty by the value reader
                while len(rows) <= r:
                    rows.append([])
                if len(rows[r]) <= c:
                    rows[r].extend([None] * (c + 1 - len(rows[r])))
                rows[r][c] = error
            sheets.append(Sheet(name, rows, scan.formulas, merged, name in hidden,
                                scan.hidden_rows, scan.hidden_columns, scan.percent,
                                scan.struck, comments[name]))
    except Exception as exc:
        raise WorkbookError(say("sheet_unreadable", sheet=name, error=exc)) from None
    finally:
        book.close()
    return sheets
