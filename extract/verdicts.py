"""Record verdicts, set-based: every record of a batch of files judged at once, in DuckDB.

Reading a file (extract/submissions/ `read_file`, extract/layout.py) cuts each sheet into
records, layout rows and totals. This module gives all the records of a batch their verdicts
together:

1. what a record's texts mean is worked out once per *distinct* text, in Python against the
   reference (extract/reference.py): the indicator per department (its owner decides whether
   the department may report it), the year, the district per city, year and reporting level,
   the unit per indicator, the quality flag. A national batch repeats a few hundred names
   hundreds of thousands of times;
2. one SQL statement joins those answers back to the records, parses the numbers, checks the
   valid ranges and finds what the file gives twice (an indicator, district and year given
   again: with the same figure the first stands, with another figure none does).

The rules, their order and every message are the record-at-a-time rules this replaced
(docs/submission-format.md); `tests/test_verdict_equivalence.py` compares the two on every
test file. The result is the temp table `incoming_rows`, one row per record and layout row,
with the columns of raw.submission_rows: the batch lands it with one insert.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from common.messages import say, sql_format
from common.reference import Indicator, Reference, normalise
from extract.layout import Entries, Record, RecordRun, Total, header_texts
from extract.numbers import (
    _APPROX,
    DECIMAL_COMMA,
    EXCEL_ERRORS,
    FIGURE,
    MISSING_MARKERS,
    clean,
    parse_number,
    parse_year,
)

QUALITY_FLAGS = {"估算": "estimated", "estimated": "estimated", "初步": "provisional",
                 "provisional": "provisional", "修订": "revised", "revised": "revised"}
BLANK_VALUE = say("blank_value")
FORMULA_WITHOUT_RESULT = say("formula_without_result")
TOTALS_TOLERANCE = 1e-6
# a figure given more than once names the first SHOWN_GIVEN figures and cells, and how many more
SHOWN_GIVEN = 5

ROW_COLUMNS = ("file_hash", "record_number", "sheet_name", "row_number", "cell", "status",
               "reason", "error_column", "indicator_text", "district_text", "year_text",
               "value_text", "unit_text", "flag_text", "note_text", "indicator_code",
               "district_code", "year", "value", "is_missing", "quality_flag", "loaded_at")


@dataclass(slots=True)
class RowVerdict:
    """A verdict given in Python: a layout row, a totals row, a record of a hidden row."""
    sheet: str
    row_number: int
    status: str                      # accepted | rejected | ignored
    reason: str | None = None
    column: str | None = None
    cells: dict[str, str] = field(default_factory=dict)
    cell: str | None = None
    fault_cell: str | None = None    # the cell holding the text a rejection is about
    indicator_code: str | None = None
    district_code: str | None = None
    year: int | None = None
    value: float | None = None
    is_missing: bool = False
    quality_flag: str | None = None


def indicator_for_text(ref: Reference, text: str
                       ) -> tuple[Indicator | None, str | None, str | None]:
    """(indicator, unit written beside its name, reason if unknown) for an indicator text."""
    res = ref.resolve_indicator(text)
    if res.code:
        return ref.indicators[res.code], None, None
    name, unit = header_texts(text)  # 城市管理案件处置率（%）: a unit beside the name
    if unit and name:
        alt = ref.resolve_indicator(name)
        if alt.code:
            return ref.indicators[alt.code], unit, None
    return None, None, res.reason


class Batch:
    """The files of one batch on their way to verdicts: add each file's entries (records,
    totals, and verdicts already given: layout rows, rows of sheets without a table, records
    of hidden rows), then `judge` once."""

    def __init__(self) -> None:
        self.files: list[tuple[str, object, list, dict, object]] = []
        # file hash -> its totals checks, for the receipt
        self.totals: dict[str, list[dict]] = {}

    def add(self, file_hash: str, ctx, entries: Entries, blocks: list[dict], loaded_at
            ) -> None:
        """`entries` in file order (record_number = position + 1); `blocks`: for each table
        of the file (a record's `block`), its sheet, the year its records are for when they do
        not say (None: not stated), where it starts and the unit in its value column's
        heading (extract/submissions/records.py)."""
        self.files.append((file_hash, ctx, entries, blocks, loaded_at))

    def judge(self, con, ref: Reference) -> None:
        """Create the temp table `incoming_rows` on `con`: every entry of every file, with
        its verdict. Totals are checked against the judged records and become layout rows."""
        records = _records_frame(self.files)
        con.execute("drop table if exists incoming_rows")
        if records is not None:
            _judge_records(con, records, _files_frame(self.files), ref)
        self._check_totals(con, ref, records is not None)
        given = _given_frame(self.files)
        if records is not None:
            con.execute("alter table judged_records drop column block")
            con.execute("alter table judged_records rename to incoming_rows")
        if given is not None:
            columns = ", ".join(ROW_COLUMNS)
            con.register("given_rows", given)
            con.execute(f"insert into incoming_rows select {columns} from given_rows"
                        if records is not None else
                        f"create temp table incoming_rows as select {columns} from given_rows")
            con.unregister("given_rows")

    def _check_totals(self, con, ref: Reference, have_records: bool) -> None:
        """Check every totals row or cell against the sum of its districts, as judged; each
        becomes an ignored row whose reason says what the check found."""
        for digest, ctx, entries, blocks, _loaded in self.files:
            totals = [n for n, e in entries.parts() if type(e) is Total]
            if not totals:
                continue
            judged = con.execute(
                "select sheet_name, status, error_column, reason, indicator_code, year, value, "
                "indicator_text, year_text, block from judged_records where file_hash = ?",
                [digest]).fetchall() if have_records else []
            judged += [(v.sheet, v.status, v.column, v.reason, v.indicator_code, v.year, v.value,
                        v.cells.get("indicator_code") or v.cells.get("indicator_name"),
                        v.cells.get("year"), None) for _, v in entries.parts()
                        if type(v) is RowVerdict]
            parts: dict[tuple, list[tuple[str, float | None]]] = {}
            for sheet, status, column, reason, code, year, value, ind_text, year_text, block \
                    in judged:
                if status == "accepted":
                    parts.setdefault((sheet, code, year), []).append((status, value))
                elif (status == "rejected" and column == "value") or reason == BLANK_VALUE:
                    # a district value rejected for its number, or left blank, still belongs to
                    # its indicator's total: the total is then not checked, never a mismatch
                    indicator = indicator_for_text(ref, ind_text or "")[0]
                    if indicator:
                        y = parse_year(year_text) if year_text else (
                            blocks[block]["year"] if block is not None else ctx.year)
                        parts.setdefault((sheet, indicator.code, y), []).append((status, None))
            checked = self.totals.setdefault(digest, [])
            for n in totals:
                total = entries[n]
                verdict = check_total(total, parts, ref, blocks[total.block]["year"])
                entries[n] = RowVerdict(
                    total.sheet, total.row_number, "ignored",
                    ("totals column: " if total.wide else "totals row: ") + verdict,
                    cell=total.cell, cells={"value": clean(total.raw_value)})
                checked.append({"sheet": total.sheet, "cell": total.cell, "row": total.row_number,
                                "verdict": verdict, "mismatch": verdict.startswith("MISMATCH")})


# the texts a record may hold, by canonical column (extract/layout.py)
CELL_COLUMNS = ("indicator_code", "indicator_name", "district_code", "district_name", "year",
                "value", "unit", "quality_flag", "note")


def _records_frame(files) -> pd.DataFrame | None:
    """The records of the batch as columns: what each record says, as read. What is the
    same for a whole file or sheet (department, city, year, arrival, the value heading's
    unit) is joined from _files_frame. A run of records (RecordRun) is taken column by
    column, the records cut one by one a chunk at a time, in file order."""
    out: dict[str, list] = {}
    for digest, _ctx, entries, _blocks, _loaded in files:
        recs, numbers = [], []
        for n, e in entries.parts():
            kind = type(e)
            if kind is Record:
                recs.append(e)
                numbers.append(n + 1)
            elif kind is RecordRun:
                _add_records(out, digest, numbers, recs)
                recs, numbers = [], []
                k = len(e)
                _add_columns(out, digest, range(n + 1, n + 1 + k), [e.block] * k,
                             [e.sheet] * k, range(e.first_row, e.first_row + k),
                             [f"{e.value_letter}{r}"
                              for r in range(e.first_row, e.first_row + k)],
                             e.cells, e.raws, [False] * k)
        _add_records(out, digest, numbers, recs)
    if not out:
        return None
    kinds = out["raw_kind"]
    raws = out.pop("raws")
    out["block"] = pd.array(out["block"], dtype="int32")
    out["raw_number"] = pd.array([float(raw) if k == "number" else None
                                  for raw, k in zip(raws, kinds, strict=True)], dtype="Float64")
    return pd.DataFrame(out)


def _add_records(out: dict, digest: str, numbers: list[int], recs: list[Record]) -> None:
    if recs:
        cells = [r.cells for r in recs]
        _add_columns(out, digest, numbers, [r.block for r in recs], [r.sheet for r in recs],
                     [r.row_number for r in recs], [r.cell for r in recs],
                     {c: [m.get(c) for m in cells] for c in CELL_COLUMNS},
                     [r.raw_value for r in recs], [r.value_is_formula for r in recs])


def _add_columns(out: dict, digest: str, numbers, blocks, sheets, rows, where,
                 cells: dict[str, list], raws: list, formulas: list[bool]) -> None:
    """Append records given column by column to `out` (column -> values); `cells`: their
    texts by canonical column, a column the table does not have absent (or all None)."""
    k = len(raws)
    absent = [None] * k
    ind_code, ind_name, dist_code, dist_name = (
        cells.get(c, absent)
        for c in ("indicator_code", "indicator_name", "district_code", "district_name"))
    columns = {
        "file_hash": [digest] * k, "record_number": numbers, "block": blocks,
        "sheet_name": sheets, "row_number": rows, "cell": where,
        "ind_col": ["indicator_code" if c else "indicator_name" for c in ind_code],
        "ind_text": [c or (n or "") for c, n in zip(ind_code, ind_name, strict=True)],
        "dist_col": ["district_code" if c else "district_name" for c in dist_code],
        "dist_text": [c or (n or "") for c, n in zip(dist_code, dist_name, strict=True)],
        # as stored in raw.submission_rows (None where the file has no such column)
        "indicator_text": [c or n for c, n in zip(ind_code, ind_name, strict=True)],
        "district_text": [c or n for c, n in zip(dist_code, dist_name, strict=True)],
        "year_text": cells.get("year", absent), "value_text": cells.get("value", absent),
        "unit_text": cells.get("unit", absent), "flag_text": cells.get("quality_flag", absent),
        "note_text": cells.get("note", absent), "is_formula": formulas,
        "raw_kind": [_kind(raw) for raw in raws], "raws": raws}
    for name, values in columns.items():
        out.setdefault(name, []).extend(values)


def _files_frame(files) -> pd.DataFrame:
    """One row per table (block) of each file: what its records share. `file_year` is the
    block's year (None where it states none: its records without a year are rejected)."""
    rows = [(digest, n, ctx.department_code, ctx.city_code, b["year"], b["sheet"], b["where"],
             b["unit"] or "", loaded_at)
            for digest, ctx, _entries, blocks, loaded_at in files
            for n, b in enumerate(blocks)]
    frame = pd.DataFrame(rows, columns=["file_hash", "block", "department_code", "city_code",
                                        "file_year", "block_sheet", "block_where",
                                        "value_unit", "loaded_at"])
    return frame.astype({"block": "int32", "file_year": "Int32"})


def _given_frame(files) -> pd.DataFrame | None:
    """The verdicts given in Python (layout rows, totals, records of hidden rows) as rows."""
    rows = []
    for digest, _ctx, entries, _blocks, loaded_at in files:
        for n, v in entries.parts():
            if type(v) is RowVerdict:
                c = v.cells
                rows.append((digest, n + 1, v.sheet, v.row_number, v.cell, v.status, v.reason,
                             v.column, c.get("indicator_code") or c.get("indicator_name"),
                             c.get("district_code") or c.get("district_name"), c.get("year"),
                             c.get("value"), c.get("unit"), c.get("quality_flag"),
                             c.get("note"), v.indicator_code, v.district_code, v.year, v.value,
                             v.is_missing, v.quality_flag, loaded_at))
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    return frame.astype({"record_number": "int32", "row_number": "int32", "year": "Int32",
                         "value": "Float64", "is_missing": "bool"})


def check_total(total: Total, parts: dict, ref: Reference, file_year: int) -> str:
    """The verdict on a totals row or cell, for the receipt and the ignored-row reason."""
    stated = parse_number(total.raw_value)
    if stated.value is None:
        return say("totals_no_number")
    indicator = indicator_for_text(ref, total.indicator_text)[0] if total.indicator_text \
        else None
    if indicator is None:
        return say("totals_no_indicator", stated=f"{stated.value:g}")
    if indicator.aggregation != "sum":
        return say("totals_not_sum", stated=f"{stated.value:g}", indicator=indicator.code,
                   aggregation=indicator.aggregation)
    year = parse_year(total.year_text) if total.year_text else file_year
    found = parts.get((total.sheet, indicator.code, year), [])
    accepted = [value for status, value in found if status == "accepted"]
    if len(accepted) < len(found) or any(v is None for v in accepted) or not accepted:
        return say("totals_incomplete", stated=f"{stated.value:g}", indicator=indicator.code,
                   year=year)
    summed = round(sum(accepted), 6)
    if abs(summed - stated.value) <= TOTALS_TOLERANCE * max(1.0, abs(summed)):
        return say("totals_ok", stated=f"{stated.value:g}", count=len(accepted),
                   indicator=indicator.code, year=year)
    return say("totals_mismatch", stated=f"{stated.value:g}", count=len(accepted),
               summed=f"{summed:g}", indicator=indicator.code, year=year)


def _kind(raw: object) -> str:
    """How a cell's value is to be read as a number: a spreadsheet number, an infinite one,
    nothing (a formula without a saved result) or text (everything else, booleans included:
    they are no number, and their text says so)."""
    if raw is None:
        return "none"
    kind = type(raw)
    if kind is float:
        return "text" if math.isnan(raw) else ("infinite" if math.isinf(raw) else "number")
    return "number" if kind is int else "text"


def _register(con, name: str, frame: pd.DataFrame) -> None:
    con.register(f"{name}_frame", frame)
    con.execute(f"create or replace temp table {name} as select * from {name}_frame")
    con.unregister(f"{name}_frame")


def _judge_records(con, records: pd.DataFrame, files: pd.DataFrame, ref: Reference) -> None:
    con.register("records_frame", records)
    con.register("files_frame", files)
    try:
        con.execute("create or replace temp table records as select * from records_frame "
                    "join files_frame using (file_hash, block)")
    finally:
        con.unregister("records_frame")
        con.unregister("files_frame")
    try:
        _resolve_texts(con, ref)
        con.execute(_judge_sql())
    finally:
        for table in ("records", "indicator_answers", "year_answers", "district_answers",
                      "unit_answers", "flag_answers"):
            con.execute(f"drop table if exists {table}")


def _resolve_texts(con, ref: Reference) -> None:
    """One answer per distinct text, in the order the record-at-a-time rules asked: the
    district is resolved only for records whose indicator and year were understood."""
    rows = []
    for dept, text in con.execute(
            "select distinct department_code, ind_text from records "
            "where value_text <> '' or is_formula").fetchall():
        indicator, name_unit, why = indicator_for_text(ref, text)
        if indicator is None:
            rows.append((dept, text, None, None, None, None, None, None, None, why))
        elif indicator.department_code != dept:
            owner = ref.departments[indicator.department_code]["name_zh"]
            rows.append((dept, text, None, None, None, None, None, None, None,
                         say("not_authorised", department=dept, indicator=indicator.code,
                             owner=indicator.department_code, owner_name=owner)))
        else:
            rows.append((dept, text, indicator.code, name_unit or "", indicator.reporting_level,
                         indicator.valid_min, indicator.valid_max, indicator.range_text(),
                         indicator.unit, None))
    _answers(con, "indicator_answers", rows, {
        "department_code": "string", "ind_text": "string", "ind_code": "string",
        "name_unit": "string", "reporting_level": "string", "valid_min": "Float64",
        "valid_max": "Float64", "range_text": "string", "ind_unit": "string",
        "ind_reason": "string"})

    rows = []
    for (text,) in con.execute("select distinct year_text from records "
                               "where coalesce(year_text, '') <> ''").fetchall():
        year = parse_year(text)
        rows.append((text, year, None if year is not None else say("not_a_year", text=text)))
    _answers(con, "year_answers", rows, {"year_text": "string", "year_value": "Int32",
                                         "year_reason": "string"})

    rows = []
    for city, text, year, level in con.execute("""
            select distinct r.city_code, r.dist_text,
                   coalesce(y.year_value, r.file_year), i.reporting_level
            from records as r
            join indicator_answers as i using (department_code, ind_text)
            left join year_answers as y using (year_text)
            where i.ind_code is not null and y.year_reason is null""").fetchall():
        res = ref.resolve_district(text, city, year)
        if res.code is None:
            rows.append((city, text, year, level, None, None, res.reason))
            continue
        district = ref.district(res.code, year)
        if level == "city" and district.unit_level != "city":
            rows.append((city, text, year, level, None, None,
                         say("city_only_indicator", district=district.name_zh)))
        else:
            rows.append((city, text, year, level, district.code, district.name_zh, None))
    _answers(con, "district_answers", rows, {
        "city_code": "string", "dist_text": "string", "year_value": "Int32",
        "reporting_level": "string", "dist_code": "string", "dist_name": "string",
        "dist_reason": "string"})

    rows = []
    for unit, code in con.execute("""
            select distinct coalesce(nullif(r.unit_text, ''), nullif(i.name_unit, ''),
                                     nullif(r.value_unit, '')), i.ind_code
            from records as r join indicator_answers as i using (department_code, ind_text)
            where i.ind_code is not null""").fetchall():
        if unit and normalise(unit) != normalise(ref.indicators[code].unit):
            catalogue = ref.indicators[code].unit
            rows.append((unit, code, say("unit_differs", unit=unit, catalogue=catalogue,
                                         indicator=code)))
    _answers(con, "unit_answers", rows, {"unit": "string", "ind_code": "string",
                                         "unit_reason": "string"})

    rows = []
    for (text,) in con.execute("select distinct flag_text from records "
                               "where coalesce(flag_text, '') <> ''").fetchall():
        flag = QUALITY_FLAGS.get(normalise(text))
        rows.append((text, flag, None if flag else say("unknown_flag", text=text)))
    _answers(con, "flag_answers", rows, {"flag_text": "string", "flag_value": "string",
                                         "flag_reason": "string"})


def _answers(con, name: str, rows: list[tuple], types: dict[str, str]) -> None:
    frame = pd.DataFrame(rows, columns=list(types)) if rows else pd.DataFrame(
        {c: pd.Series([], dtype=t) for c, t in types.items()})
    _register(con, name, frame.astype(types))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _message(key: str, **columns: str) -> str:
    """SQL giving message `key` (common/messages.py) with its fields from these SQL
    expressions."""
    template, order = sql_format(key)
    args = "".join(f", {columns[name]}" for name in order)
    return f"format({_quote(template)}{args})"


def _approx_sql() -> str:
    """The text of a figure with an approximation prefix (约30) taken off, as SQL: the first
    prefix that matches, then outer white space (str.strip)."""
    cases = " ".join(f"when starts_with(value_text, {_quote(p)}) then "
                     f"regexp_replace(substr(value_text, {len(p) + 1}), '^\\s+|\\s+$', '', 'g')"
                     for p in _APPROX)
    return f"case {cases} else value_text end"


def _first_given(column: str) -> str:
    """SQL: the first SHOWN_GIVEN texts of the list `column`, and how many more."""
    return (f"array_to_string({column}[1:{SHOWN_GIVEN}], ', ') || case when len({column}) > "
            f"{SHOWN_GIVEN} then format(' … +{{}}', len({column}) - {SHOWN_GIVEN}) else '' end")


def _judge_sql() -> str:
    """JUDGE_SQL with its messages and the number grammar (extract/numbers.py) filled in."""
    return JUDGE_SQL.format(
        blank=_quote(BLANK_VALUE), formula=_quote(FORMULA_WITHOUT_RESULT),
        markers=", ".join(_quote(m) for m in sorted(MISSING_MARKERS)),
        errors=", ".join(_quote(e) for e in sorted(EXCEL_ERRORS)),
        body=_approx_sql(), figure=_quote(f"^(?:{FIGURE})$"),
        first_figures=_first_given("figure_list"), first_places=_first_given("place_list"),
        decimal_comma=_quote(f"^(?:{DECIMAL_COMMA})$"),
        not_a_number=_message("not_a_number", text="value_text"),
        decimal_comma_message=_message("decimal_comma", text="value_text"),
        error_value=_message("error_value", error="value_text"),
        infinite=_message("value_infinite"),
        percent=_message("percent_not_unit", text="value_text", indicator="ind_code",
                         unit="ind_unit"),
        out_of_range=_message("out_of_range", value="format('{:g}', number)",
                              range="range_text", indicator="ind_code"),
        duplicate=_message("duplicate_record", indicator="ind_code", district="dist_name",
                           year="year_value", row="first_row", sheet="first_sheet",
                           cell="first_cell"),
        conflicting=_message("conflicting_record", values="figures", cells="places"),
        block_year=_message("block_year_unclear", sheet="block_sheet",
                            cell="split_part(block_where, '!', 2)"))


JUDGE_SQL = r"""
create or replace temp table judged_records as
with answered as (
    select r.*,
           i.ind_code, i.ind_reason, i.valid_min, i.valid_max, i.range_text, i.ind_unit,
           y.year_reason,
           coalesce(y.year_value, r.file_year) as year_value,
           d.dist_code, d.dist_name, d.dist_reason,
           u.unit_reason,
           f.flag_value, f.flag_reason,
           lower(value_text) in ({markers}) as marked_missing,
           value_text in ({errors}) as excel_error,
           {body} as body
    from records as r
    left join indicator_answers as i using (department_code, ind_text)
    left join year_answers as y using (year_text)
    left join district_answers as d
        on d.city_code = r.city_code and d.dist_text = r.dist_text
        and d.year_value = coalesce(y.year_value, r.file_year)
        and d.reporting_level = i.reporting_level
    left join unit_answers as u
        on u.ind_code = i.ind_code
        and u.unit = coalesce(nullif(r.unit_text, ''), nullif(i.name_unit, ''),
                              nullif(r.value_unit, ''))
    left join flag_answers as f using (flag_text)
),
numbers as (
    -- the grammar of extract/numbers.py: the whole cell is a figure, or it is no figure
    select *,
           case when raw_kind = 'number' then raw_number
                when raw_kind = 'text' and not marked_missing and well_formed
                    and not (percent and ind_unit <> '%')
                then cast(replace(regexp_replace(body, ' ?%$', ''), ',', '') as double)
           end as number,
           case when raw_kind = 'infinite' then {infinite}
                when raw_kind = 'text' and not marked_missing and excel_error then {error_value}
                when raw_kind = 'text' and not marked_missing and not well_formed
                    and regexp_full_match(body, {decimal_comma}) then {decimal_comma_message}
                when raw_kind = 'text' and not marked_missing and not well_formed
                    then {not_a_number}
                when raw_kind = 'text' and not marked_missing and percent
                    and ind_unit <> '%' then {percent}
           end as number_error
    from (select *, body <> value_text as approximate,
                 regexp_full_match(body, {figure}) as well_formed,
                 ends_with(body, '%') as percent
          from answered)
),
checked as (
    select *,
           case
           when value_text = '' and not is_formula then 'ignored'
           when ind_reason is not null then 'indicator'
           when year_reason is not null then 'year'
           when year_value is null then 'block_year'
           when dist_reason is not null then 'district'
           when unit_reason is not null then 'unit'
           when flag_reason is not null then 'flag'
           when is_formula and raw_kind = 'none' then 'formula'
           when number_error is not null then 'number'
           when number is not null and (number < valid_min or number > valid_max)
               then 'range'
           end as fault
    from numbers
),
-- one indicator, district and year given more than once in the file (in any sheet or table):
-- with the same figure, the first stands and the rest are duplicates; with different figures,
-- none stands (which is right is not for citycheck to guess). How often each is given comes
-- from the window that orders its statements; figures and places are gathered only for the
-- few given more than once.
claimed as (
    select c.*,
           case when fault is null then row_number() over claims end as claim,
           case when fault is null then first_value(row_number) over claims end as first_row,
           case when fault is null then first_value(sheet_name) over claims end as first_sheet,
           case when fault is null then first_value(cell) over claims end as first_cell,
           case when fault is null then count(*) over whole end as given
    from checked as c
    window claims as (partition by c.file_hash, c.fault is null, c.ind_code, c.dist_code,
                      c.year_value order by c.record_number),
           whole as (claims rows between unbounded preceding and unbounded following)
),
keys as (
    select file_hash, ind_code, dist_code, year_value,
           count(distinct coalesce(cast(number as text), 'missing')) > 1 as conflicting,
           list(distinct coalesce(format('{{:g}}', number), value_text)
                order by coalesce(format('{{:g}}', number), value_text)) as figure_list,
           list(sheet_name || '!' || cell order by record_number) as place_list
    from claimed
    where given > 1
    group by file_hash, ind_code, dist_code, year_value
),
-- the first few figures and cells, and how many more: every record of a key given n times
-- names them, so they must not cost n x n (whole lists, joined to each record, took a
-- 20,000-row file past 1.8 GiB)
named as (
    select file_hash, ind_code, dist_code, year_value, conflicting,
           {first_figures} as figures,
           {first_places} as places
    from keys
),
decided as (
    select c.*, coalesce(k.conflicting, false) as conflicting, k.figures, k.places,
           fault is null and claim = 1 and not coalesce(k.conflicting, false) as stands
    from claimed as c
    left join named as k
        on c.given > 1 and k.file_hash = c.file_hash and k.ind_code = c.ind_code
        and k.dist_code = c.dist_code and k.year_value = c.year_value
)
select file_hash, record_number, sheet_name, row_number, cell,
       case when fault = 'ignored' then 'ignored'
            when stands then 'accepted' else 'rejected' end as status,
       case fault
       when 'ignored' then {blank}
       when 'indicator' then ind_reason
       when 'year' then year_reason
       when 'block_year' then {block_year}
       when 'district' then dist_reason
       when 'unit' then unit_reason
       when 'flag' then flag_reason
       when 'formula' then {formula}
       when 'number' then number_error
       when 'range' then {out_of_range}
       else case when conflicting then {conflicting}
                 when claim > 1 then {duplicate} end
       end as reason,
       case fault
       when 'ignored' then null
       when 'indicator' then ind_col
       when 'year' then 'year'
       when 'block_year' then 'year'
       when 'district' then dist_col
       when 'unit' then 'unit'
       when 'flag' then 'quality_flag'
       when 'formula' then 'value' when 'number' then 'value' when 'range' then 'value'
       else case when conflicting then 'value' when claim > 1 then ind_col end
       end as error_column,
       -- typed: a column the batch's files do not have is all null, and the layout rows
       -- given in Python are inserted after
       cast(indicator_text as text) as indicator_text,
       cast(district_text as text) as district_text, cast(year_text as text) as year_text,
       cast(value_text as text) as value_text, cast(unit_text as text) as unit_text,
       cast(flag_text as text) as flag_text, cast(note_text as text) as note_text,
       case when stands then ind_code end as indicator_code,
       case when stands then dist_code end as district_code,
       case when stands then year_value end::integer as year,
       case when stands then number end as value,
       coalesce(stands and marked_missing and raw_kind = 'text', false) as is_missing,
       case when stands then coalesce(
           flag_value, case when approximate and number is not null then 'estimated' end)
       end as quality_flag,
       loaded_at,
       block
from decided
"""
