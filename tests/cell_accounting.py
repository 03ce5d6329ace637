"""An independent check that intake accounted for every cell a clerk filled in.

The file is read again here, without the intake's reader (openpyxl, xlrd, the csv module),
and every non-empty cell must be covered by what intake recorded in `raw.submission_rows`
and on the receipt:
- a verdict for the whole row (title, header block, column header, blank, footer, a wide
  totals row, a sheet with no table), or
- a verdict for that very cell (a value cell, accepted or rejected; a totals cell; a filled
  cell in a column without a heading, rejected), or
- a column the receipt's read map names (indicator, unit, 序号 not read …) on a row that has a
  verdict — except the columns whose cells are records of their own (a wide table's district
  and totals columns, a long table's value column), which need a verdict of their own.

`conftest.py` runs it after every test that ingests into a `settings` or `built` warehouse,
so it holds for every file the test suite sends, not only the ones written to test it.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import openpyxl

from extract.xlsx import column_letters

_BLANK = " \t\r\n\u3000\xa0"
_checked: set[tuple[str, str]] = set()   # (file hash, verdict digest) already found complete


def filled_cells(path: Path) -> dict[str, dict[tuple[int, str], str]]:
    """sheet name -> {(row, column letter): text} for every non-empty cell of the file."""
    suffix = path.suffix.lower()
    out: dict[str, dict[tuple[int, str], str]] = {}
    if suffix == ".xlsx":
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            out[ws.title] = {(c.row, column_letters(c.column - 1)): str(c.value)
                             for row in ws.iter_rows() for c in row
                             if c.value is not None and str(c.value).strip(_BLANK)}
    elif suffix == ".xls":
        import xlrd

        book = xlrd.open_workbook(path)
        for sh in book.sheets():
            out[sh.name] = {(r + 1, column_letters(c)): str(v)
                            for r in range(sh.nrows) for c, v in enumerate(sh.row_values(r))
                            if str(v).strip(_BLANK)}
    else:
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        out[""] = {(r + 1, column_letters(c)): v
                   for r, row in enumerate(csv.reader(io.StringIO(text)))
                   for c, v in enumerate(row) if v.strip(_BLANK)}
    return out


def unaccounted(con: duckdb.DuckDBPyConnection, file_hash: str) -> list[str]:
    """The filled cells of one loaded file that intake did not account for ('sheet!E7 = x')."""
    found = con.execute("select receipt_json from raw.submission_receipts "
                        "where file_hash = ? and stem = 'receipt'", [file_hash]).fetchone()
    if found is None:
        return []      # rows a test wrote into raw by hand, not a file sent through intake
    receipt = json.loads(found[0])
    if receipt["status"] != "loaded" or not receipt.get("archived_path"):
        return []
    path = Path(receipt["archived_path"])
    if not path.exists() or path.stat().st_size > 5_000_000:
        return []      # a benchmark-sized file: its layout is the template's, checked small
    verdicts = con.execute("select coalesce(sheet_name, ''), row_number, cell "
                           "from raw.submission_rows where file_hash = ?", [file_hash]).fetchall()
    key = (file_hash, str(hash(frozenset(verdicts))))
    if key in _checked:
        return []
    whole = {(s, r) for s, r, c in verdicts if c is None}
    cells = {(s, c) for s, r, c in verdicts if c is not None}
    rows = {(s, r) for s, r, c in verdicts}
    maps: dict[str, list[dict]] = {}     # a sheet's tables (blocks), each over its rows
    for m in receipt.get("sheets", []):
        maps.setdefault(m["sheet"], []).append(m)
    sheets = filled_cells(path)
    if "" in sheets:                           # a CSV: one sheet, named as intake names it
        names = {s for s, _, _ in verdicts} or {""}
        sheets = {next(iter(names)): sheets[""]}
    missing = []
    for sheet, filled in sheets.items():
        for (r, letter), text in sorted(filled.items()):
            if (sheet, r) in whole or (sheet, f"{letter}{r}") in cells:
                continue
            m = next((m for m in maps.get(sheet, [])
                      if "rows" not in m or m["rows"][0] <= r <= m["rows"][1]),
                     {"columns": {}, "record_columns": []})
            shared = set(m["columns"]) - set(m["record_columns"])
            if letter in shared and (sheet, r) in rows:
                continue
            missing.append(f"{sheet}!{letter}{r} = {text!r}")
    if not missing:
        _checked.add(key)
    return missing


def unaccounted_in(where) -> dict[str, list[str]]:
    """Every loaded file in a warehouse (a DuckDB file's path, or Settings of either engine)
    whose filled cells are not all accounted for."""
    from common.config import Settings

    if isinstance(where, Settings):
        if where.warehouse_target == "duckdb":
            return unaccounted_in(where.warehouse_path)
        from common.engine import engine_for

        with engine_for(where).connect() as con:
            return _unaccounted(con)
    if not where.exists():
        return {}
    try:
        try:
            con = duckdb.connect(str(where), read_only=True)
        except duckdb.ConnectionException:    # dbt, in this process, still holds it read-write
            con = duckdb.connect(str(where))
    except duckdb.IOException:
        return {}      # a test damaged or locked the file on purpose: it checks something else
    try:
        return _unaccounted(con)
    finally:
        con.close()


def _unaccounted(con) -> dict[str, list[str]]:
    if not con.execute("select count(*) from information_schema.tables where "
                       "table_schema = 'raw' and table_name = 'submission_receipts'"
                       ).fetchone()[0]:
        return {}
    found = {}
    for (file_hash, name) in con.execute(
            "select file_hash, original_name from raw.submission_files "
            "where status = 'loaded' order by received_at").fetchall():
        missing = unaccounted(con, file_hash)
        if missing:
            found[name] = missing
    return found
