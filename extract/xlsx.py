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

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OFFICE_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_REF = re.compile(r"([A-Z]+)(\d+)")
_CHUNK = 1 << 16


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

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise WorkbookError(
                f"the workbook expands to more than {self.limit:,} bytes when unpacked (a "
                "'zip bomb', or a far too large sheet); it was not read. Send a normal "
                "workbook with only the table")


def _events(zf: zipfile.ZipFile, name: str, budget: _Budget, tags: tuple[str, ...]):
    """Yield (event, element) for the end of elements whose tag ends with one of `tags`,
    streaming the part through the budget. The caller clears what it has used."""
    parser = XMLPullParser(events=("end",))
    head = True
    try:
        with zf.open(name) as fh:
            while chunk := fh.read(_CHUNK):
                budget.take(len(chunk))
                if head:
                    if b"<!DOCTYPE" in chunk[:4096] or b"<!ENTITY" in chunk[:4096]:
                        raise WorkbookError(f"part {name} declares a document type or "
                                            "entities, which no real workbook does; refused")
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
        raise WorkbookError(f"part {name} of the workbook is not valid XML ({exc}); save the "
                            "file again from Excel as .xlsx") from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:  # truncated or corrupt member
        raise WorkbookError(f"part {name} of the workbook is damaged ({exc}); save the file "
                            "again from Excel as .xlsx") from None


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
        raise WorkbookError(f"the file is a zip archive but not an Excel workbook (no {exc}); "
                            "save it from Excel as .xlsx") from None
    return [(n, p) for n, p in sheets if p and p in zf.NameToInfo]


_HIDDEN = (b'hidden="1"', b"hidden='1'", b'hidden="true"', b"hidden='true'")


def _percent_styles(zf: zipfile.ZipFile, budget: _Budget) -> set[int]:
    """Indices of the cell formats (styles.xml cellXfs) that show a number as a percentage:
    Excel's built-in 0% and 0.00% (ids 9, 10) and any custom format with a % sign."""
    if "xl/styles.xml" not in zf.NameToInfo:
        return set()
    percent_ids = {9, 10}
    found: set[int] = set()
    for elem in _events(zf, "xl/styles.xml", budget, ("}numFmt", "}cellXfs")):
        if elem.tag.endswith("}numFmt"):
            if "%" in (elem.get("formatCode") or "") and (elem.get("numFmtId") or "").isdigit():
                percent_ids.add(int(elem.get("numFmtId")))
        else:
            found = {i for i, xf in enumerate(elem)
                     if int(xf.get("numFmtId") or 0) in percent_ids}
            elem.clear()
    return found


def _scan(zf: zipfile.ZipFile, part: str, budget: _Budget, percent_styles: set[int] = frozenset()
          ) -> tuple[dict[tuple[int, int], str], set[int], set[int], set[tuple[int, int]]]:
    """(formulas, hidden rows, hidden columns) of a sheet part: (row, column) -> formula text
    of every formula cell, and the 0-based rows and columns hidden in Excel. The part is
    streamed through the budget either way; only a part with a formula element or a hidden
    flag is parsed. With `percent_styles`, also the cells formatted as a percentage (they
    show 98.5% and hold 0.985)."""
    has_formula, has_hidden, tail = False, False, b""
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
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    raise WorkbookError(f"part {part} declares a document type or entities, "
                                        "which no real workbook does; refused")
                tail = chunk[-16:]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise WorkbookError(f"part {part} of the workbook is damaged ({exc}); save the file "
                            "again from Excel as .xlsx") from None
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
    if not has_formula and not percent_styles:
        return {}, rows, columns, set()
    found: dict[tuple[int, int], str] = {}
    percent: set[tuple[int, int]] = set()
    parse_budget = _Budget(budget.limit)  # the same bytes again, under the same limit
    f_tag = f"{MAIN}f"
    for c in _events(zf, part, parse_budget, ("}c",)):
        ref = _REF.match(c.get("r") or "")
        if ref:
            where = (int(ref.group(2)) - 1, column_index(ref.group(1)))
            f = c.find(f_tag) if has_formula else None
            if f is not None:
                text = f.text or ("(shared formula)" if f.get("t") == "shared" else "")
                found[where] = "=" + text
            style = c.get("s")
            if style and style.isdigit() and int(style) in percent_styles:
                percent.add(where)
        c.clear()
    return found, rows, columns, percent


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
        raise WorkbookError("the file is not a valid .xlsx workbook (it is not a zip "
                            "package); save it again from Excel as .xlsx") from None
    with zf:
        declared = sum(i.file_size for i in zf.infolist())
        if declared > max_unpacked_bytes:
            raise WorkbookError(
                f"the workbook declares {declared:,} bytes when unpacked, over the limit of "
                f"{max_unpacked_bytes:,} (a 'zip bomb', or a far too large sheet); it was not "
                "read. Send a normal workbook with only the table")
        budget = _Budget(max_unpacked_bytes)
        percent_styles = _percent_styles(zf, budget)
        scanned = {name: _scan(zf, part, budget, percent_styles)
                   for name, part in _sheet_parts(zf, budget)}
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine's errors are one class per failure, all plain text
        raise WorkbookError(f"the workbook cannot be read ({exc}); save it again from Excel "
                            "as .xlsx") from None
    sheets = []
    try:
        hidden = {m.name for m in book.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
        for name in book.sheet_names:
            if name not in scanned:
                continue  # a chart sheet or macro sheet: no cells
            ws = book.get_sheet_by_name(name)
            rows = [[_value(c) for c in row] for row in ws.to_python(skip_empty_area=False)]
            merged = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in (ws.merged_cell_ranges or [])]
            formulas, hidden_rows, hidden_columns, percent = scanned[name]
            sheets.append(Sheet(name, rows, formulas, merged, name in hidden, hidden_rows,
                                hidden_columns, percent))
    except Exception as exc:
        raise WorkbookError(f"sheet '{name}' cannot be read ({exc}); save the file again "
                            "from Excel as .xlsx") from None
    finally:
        book.close()
    return sheets
