"""Turn a submitted file into sheets of cell values: .xlsx, legacy .xls, .csv.

Every refusal here is for the file as a whole and says what to do; nothing is half-read.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from common.messages import say
from extract.xlsx import Sheet, WorkbookError, read_xlsx

SUPPORTED_SUFFIXES = {".csv", ".xlsx", ".xls"}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"     # compound file: .xls, or an encrypted .xlsx
ZIP_MAGIC = b"PK\x03\x04"
# Excel saves a password-protected .xlsx as a compound file with these streams.
_ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))
CSV_ENCODINGS = ("utf-8-sig", "gb18030")            # gb18030 is a superset of GBK and GB2312


class FileRefused(Exception):
    """The file as a whole cannot be read. The message says why and what to do."""


def read_sheets(path: Path, max_unpacked_bytes: int, name: str | None = None) -> list[Sheet]:
    """The file's sheets; `name`: the name it was sent under (its type, and a CSV's one
    sheet's name), when `path` is a copy."""
    name = name or path.name
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise FileRefused(say("unsupported_type", suffix=suffix or "(none)"))
    with open(path, "rb") as fh:
        head = fh.read(8)
    if suffix == ".xlsx" and head.startswith(OLE_MAGIC):
        if _is_encrypted_ooxml(path):
            raise FileRefused(say("encrypted_workbook"))
        suffix = ".xls"  # an old-format workbook saved with the new extension
    if suffix == ".xls" and head.startswith(ZIP_MAGIC):
        suffix = ".xlsx"
    try:
        if suffix == ".csv":
            return [Sheet(name, _read_csv(path))]
        if suffix == ".xlsx":
            return read_xlsx(path, max_unpacked_bytes)
        return _read_xls(path)
    except WorkbookError as exc:
        raise FileRefused(str(exc)) from None


def _is_encrypted_ooxml(path: Path) -> bool:
    data = path.read_bytes()  # the caller has checked the size limit
    return any(marker in data for marker in _ENCRYPTED_MARKERS)


def _read_csv(path: Path) -> list[list[object]]:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise FileRefused(say("csv_binary"))
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly any byte sequence
        raise FileRefused(say("csv_encoding"))
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise FileRefused(say("csv_unreadable", error=exc)) from None


def _read_xls(path: Path) -> list[Sheet]:
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
    except xlrd.XLRDError as exc:
        key = "xls_encrypted" if "encrypt" in str(exc).lower() else "xls_unopenable"
        raise FileRefused(say(key, error=exc)) from None
    except Exception as exc:  # xlrd raises assorted errors on damaged compound files
        raise FileRefused(say("xls_damaged", error=f"{exc.__class__.__name__}: {exc}")) from None
    try:
        sheets = []
        for sheet in book.sheets():
            rows = [[_xls_cell(c) for c in sheet.row(i)] for i in range(sheet.nrows)]
            merged = [(r0, c0, r1 - 1, c1 - 1) for r0, r1, c0, c1 in sheet.merged_cells]
            sheets.append(Sheet(sheet.name, rows, merged=merged))
        return sheets
    finally:
        book.release_resources()


def _xls_cell(cell) -> object:
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERROR")
    if cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
        return int(cell.value)
    return cell.value
