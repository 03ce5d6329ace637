"""Find the table in a sheet and cut it into records: the layouts departments send.

- **long**: one row per district and indicator (指标, 区县, 数值 columns) — the template's layout;
- **wide**: one row per indicator, one column per district (how many departments already
  report); every district cell of a data row is one record.

Above the table there may be a title and a header block (填报部门 / 城市 / 年度 pairs). The
column header may span two rows with merged cells (指标 over 代码 | 名称); a unit may sit in a
header cell (面积（万平方米）). Totals rows and columns (合计, 总计) are recognised, kept aside
for checking, and never loaded as a district.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

from common.messages import say
from common.reference import Reference, normalise
from extract.numbers import _FIGURE, approx_body, clean, figure_text
from extract.xlsx import Sheet, column_letters

# Canonical column -> header texts departments use (normalised; a unit in brackets is dropped).
HEADER_ALIASES: dict[str, set[str]] = {
    "indicator_code": {"指标代码", "指标编码", "指标编号", "indicator_code", "indicatorcode"},
    "indicator_name": {"指标名称", "指标", "指标项", "indicator_name", "indicator",
                       "indicatorname"},
    "district_code": {"区县代码", "区划代码", "行政区划代码", "区县编码", "district_code",
                      "districtcode"},
    "district_name": {"区县名称", "区县", "地区", "区市", "区域", "单位名称", "district_name",
                      "district", "districtname"},
    "year": {"年度", "年份", "year"},
    "value": {"数值", "指标值", "完成值", "数据", "完成情况", "value"},
    "unit": {"单位", "计量单位", "unit"},
    "quality_flag": {"质量标记", "数据标记", "quality_flag", "qualityflag", "flag"},
    "note": {"备注", "说明", "note", "notes", "remark"},
}
# Header cells that are layout, not data, in a wide table.
WIDE_SKIP = {"序号", "编号", "no", "no.", "#"}
META_ALIASES: dict[str, set[str]] = {
    "department": {"填报部门", "部门", "填报单位", "报送单位", "department"},
    "city": {"城市", "city"},
    "year": {"年度", "年份", "填报年度", "year"},
    "template_version": {"模板版本", "templateversion", "template_version"},
}
# (全市 alone is not one: it names the city-level unit, a district of its own)
TOTAL_MARKERS = {"合计", "总计", "小计", "全市合计", "全市总计", "total", "sum", "subtotal",
                 "grandtotal"}
# What departments write under a table: who filled it in, who checked it, when, notes. A row
# whose first filled cell starts with one of these is ignored as layout, its text kept.
FOOTER_LABELS = ("填报人", "填表人", "制表人", "审核人", "审核", "单位负责人", "负责人", "联系人",
                 "联系电话", "电话", "填报日期", "填表日期", "报送日期", "日期", "附注", "注",
                 "说明", "备注")
_FOOTER_INITIALS = frozenset(label[0] for label in FOOTER_LABELS)
_BRACKETED = re.compile(r"[\(（\[【]([^\)）\]】]*)[\)）\]】]")
TEXT_COLUMNS = ("indicator_code", "indicator_name", "district_code", "district_name", "year",
                "unit", "quality_flag", "note")
HEADER_SEARCH_ROWS = 30   # a header further down than this is not looked for
# A sheet or a table titled with one of these holds figures for reference, not a submission:
# its cells are not read, and the receipt says so (docs/submission-format.md, "Blocks")
REFERENCE_MARKERS = ("参考", "上年", "去年", "往年", "上一年", "以前年度", "历史数据", "对比",
                     "比较", "reference", "lastyear", "previousyear", "prioryear")
_META_KEYS = frozenset(k for aliases in META_ALIASES.values() for k in aliases)
# A row whose first filled cell, or whose text in a table's indicator column, is one of these
# headings starts another table
_HEADING_KEYS = frozenset(HEADER_ALIASES["indicator_code"] | HEADER_ALIASES["indicator_name"]
                          | HEADER_ALIASES["district_code"] | HEADER_ALIASES["district_name"]
                          | {"序号"})


@dataclass(slots=True)
class Record:
    """One value to judge: a long-layout row, or one district cell of a wide row."""
    sheet: str
    row_number: int               # 1-based, as the department sees it
    cell: str                     # the value's cell, e.g. E7
    cells: dict[str, str]         # canonical column -> text as written (cleaned)
    raw_value: object
    value_is_formula: bool = False
    # canonical column -> where its text was read: a column letter (this record's row) or a
    # whole cell (a wide record's district: its heading). See fault_cell().
    sources: dict[str, str] = field(default_factory=dict)
    block: int = 0                # the table (of the file's, counted) the record belongs to

    def fault_cell(self, column: str) -> str:
        """The cell holding the text of `column`: where a rejection about it points."""
        where = self.sources.get(column)
        if not where:
            return self.cell
        return where if where[-1].isdigit() else f"{where}{self.row_number}"


@dataclass(slots=True)
class RecordRun:
    """Consecutive long-layout records of one table, read column by column: what `cut` gives
    for plain rows (each record's texts from its own row; no blank row, total, footer, stray
    cell or formula among them), so that a table of 100,000 rows costs a few list operations
    per column instead of a Record per row. `record(k)` is its k-th record as cut would give
    it row by row; tests/test_columnar_reading.py checks that both ways agree."""
    sheet: str
    first_row: int                  # the first record's row number (1-based)
    cells: dict[str, list[str]]     # canonical column -> its text in each record
    raws: list[object]              # each record's value cell as read
    value_letter: str
    sources: dict[str, str]         # shared by the records (Record.sources)
    block: int = 0

    def __len__(self) -> int:
        return len(self.raws)

    def record(self, k: int) -> Record:
        n = self.first_row + k
        return Record(self.sheet, n, f"{self.value_letter}{n}",
                      {c: texts[k] for c, texts in self.cells.items()}, self.raws[k], False,
                      self.sources, self.block)

    def records(self) -> list[Record]:
        return [self.record(k) for k in range(len(self.raws))]


class Entries:
    """A file's entries in file order — records, runs of records, layout rows, totals,
    verdicts — numbered as records are (record_number = position + 1), a RecordRun counting
    as its records. Indexing gives a run's record as a Record; `parts` walks the entries as
    held, a run once, for the code that reads whole files (extract/verdicts.py)."""

    def __init__(self, entries=()) -> None:
        self._parts: list = []
        self._starts: list[int] = []      # each part's position
        self._count = 0
        self += entries

    def append(self, entry) -> None:
        self._parts.append(entry)
        self._starts.append(self._count)
        self._count += len(entry) if type(entry) is RecordRun else 1

    def __iadd__(self, entries):
        for entry in entries:
            self.append(entry)
        return self

    def __len__(self) -> int:
        return self._count

    def _part(self, position: int) -> int:
        if not 0 <= position < self._count:
            raise IndexError(position)
        return bisect_right(self._starts, position) - 1

    def __getitem__(self, position: int):
        k = self._part(position)
        part = self._parts[k]
        return part.record(position - self._starts[k]) if type(part) is RecordRun else part

    def __setitem__(self, position: int, entry) -> None:
        k = self._part(position)
        if type(self._parts[k]) is RecordRun or self._starts[k] != position:
            raise TypeError("a record of a run is not replaced")
        self._parts[k] = entry

    def __iter__(self):
        for part in self._parts:
            if type(part) is RecordRun:
                yield from part.records()
            else:
                yield part

    def parts(self):
        """(position, entry) for each entry as held: a RecordRun once, at its first record's
        position."""
        return zip(self._starts, self._parts, strict=True)


@dataclass
class Layout:
    """A row (or cell) that is layout, not data: ignored, with the reason. A filled cell
    outside the table's columns is `rejected` instead: it may be a figure, and is not taken."""
    sheet: str
    row_number: int
    reason: str
    cell: str | None = None
    cells: dict[str, str] = field(default_factory=dict)
    status: str = "ignored"


@dataclass
class Total:
    """A totals row or cell: checked against the sum of the districts, never loaded."""
    sheet: str
    row_number: int
    cell: str
    indicator_text: str
    year_text: str
    raw_value: object
    wide: bool = False               # a totals column of a wide table, not a totals row
    block: int = 0


@dataclass
class Table:
    sheet: str
    kind: str                                    # long | wide
    header_rows: tuple[int, int]                 # first, last (0-based)
    columns: dict[str, int]                      # canonical column -> position
    header_units: dict[str, str] = field(default_factory=dict)  # column -> unit in its header
    district_columns: dict[int, str] = field(default_factory=dict)   # wide: position -> text
    total_columns: list[int] = field(default_factory=list)           # wide
    # wide: headings that name no district the reader knows without the year (a typo, an
    # alias of several versions, another heading): their filled cells are records, judged
    # with the file's year, so they are accepted or rejected with the reason, never skipped
    unplaced_columns: set[int] = field(default_factory=set)
    # headings no column of the layout reads (序号, 数据来源 …): listed on the receipt as layout
    unread_columns: dict[int, str] = field(default_factory=dict)
    # positions inside the header's width without a heading: a filled cell there is reported
    headless: list[int] = field(default_factory=list)
    width: int = 0

    @property
    def label_columns(self) -> list[int]:
        """Where the indicator is written: a column heading there starts another table."""
        return [self.columns[c] for c in ("indicator_code", "indicator_name")
                if c in self.columns]


def header_texts(cell: object) -> tuple[str, str | None]:
    """'面积（万平方米）' -> ('面积', '万平方米'); '指标代码 indicator_code' -> as is, no unit."""
    return _header_split(clean(cell))


# The header, header-block and column-matching helpers below are asked about the same few
# texts in every file of a batch (a bench file's header is 13 tries of a header row): their
# answers are kept per distinct text.
@lru_cache(maxsize=8192)
def _header_split(text: str) -> tuple[str, str | None]:
    units = _BRACKETED.findall(text)
    return _BRACKETED.sub("", text).strip(), (units[-1].strip() if units else None)


@lru_cache(maxsize=8192)
def _keys(text: str) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(k for k in {normalise(p) for p in text.split()} | {normalise(text)} if k)


def merged_fill(sheet: Sheet, r: int, row: list[object]) -> list[object]:
    """The row with each merged range's value spread over the empty cells it covers."""
    out = list(row)
    for r0, c0, r1, c1 in sheet.merged:
        if r0 <= r <= r1 and r0 < len(sheet.rows):
            source = sheet.rows[r0]
            value = source[c0] if c0 < len(source) else None
            if len(out) <= c1:
                out.extend([None] * (c1 + 1 - len(out)))
            for c in range(c0, c1 + 1):
                if out[c] is None:
                    out[c] = value
    return out


def _match_columns(candidates: list[list[str]]) -> dict[str, int]:
    """candidates[position] = header texts to try in order; first alias that fits wins."""
    return dict(_matched(tuple(tuple(texts) for texts in candidates)))


@lru_cache(maxsize=4096)
def _matched(candidates: tuple[tuple[str, ...], ...]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for pos, texts in enumerate(candidates):
        for text in texts:
            keys = _keys(text)
            hit = next((c for c, aliases in HEADER_ALIASES.items()
                        if c not in columns and keys & aliases), None)
            if hit:
                columns[hit] = pos
                break
    return columns


def blank(row: list[object]) -> bool:
    """No cell of the row holds anything but white space (what clean() makes empty),
    decided without cleaning every cell: a data row is decided by its first."""
    for c in row:
        if c is None or c == "":
            continue
        if type(c) is str:
            if c.strip() if c.isascii() else clean(c):
                return False
        elif clean(c):
            return False
    return True


def _is_total(text: str) -> bool:
    return normalise(text) in TOTAL_MARKERS


def _total_anywhere(row: list[object], skip: int | None = None) -> bool:
    """A totals label in any cell of the row (序号 column, first column, …) but `skip`."""
    return any(_is_total(clean(c)) for p, c in enumerate(row) if p != skip and c is not None)


def footer_text(row: list[object]) -> str | None:
    """The row's text when its first filled cell starts with a footer label (填报人：张三,
    注：…, 联系电话 0631-…), else None."""
    raw = next((c for c in row if c is not None and c != ""), None)
    if not isinstance(raw, str) or raw.lstrip()[:1] not in _FOOTER_INITIALS:
        return None     # the common case, decided on one character: a data row
    head = normalise(clean(raw).replace(" ", ""))
    for label in FOOTER_LABELS:
        if head == label or (head.startswith(label) and head[len(label)] in ":："):
            return " ".join(t for t in (str(c).strip() for c in row if c is not None) if t)
    return None


def find_table(sheet: Sheet, ref: Reference, city_code: str | None,
               start: int = 0) -> Table | None:
    """The first table in the sheet from row `start`: a one-row header, else a two-row one (a
    title right above a one-row header is not taken for the header's top half)."""
    limit = min(len(sheet.rows), start + HEADER_SEARCH_ROWS)
    for i in range(start, limit):
        table = _table_at(sheet, i, 1, ref, city_code)
        if table:
            # 指标 | 区县 over 代码 | 名称: the row below is sub-headings when it is all text
            # and the two rows together name more columns.
            below = sheet.rows[i + 1] if i + 1 < len(sheet.rows) else []
            if below and not any(isinstance(c, (int, float)) for c in below):
                two = _table_at(sheet, i, 2, ref, city_code)
                if two and len(two.columns) > len(table.columns):
                    return two
            return table
        if i + 1 < len(sheet.rows) and not _table_at(sheet, i + 1, 1, ref, city_code):
            table = _table_at(sheet, i, 2, ref, city_code)
            if table:
                return table
    return None


def _table_at(sheet: Sheet, i: int, span: int, ref: Reference,
              city_code: str | None) -> Table | None:
    rows = sheet.rows
    top = merged_fill(sheet, i, rows[i])
    if span == 1:
        parts = [[header_texts(c)] for c in top]
    else:
        bottom = merged_fill(sheet, i + 1, rows[i + 1])
        if blank(bottom):
            return None
        width = max(len(top), len(bottom))
        bottom = bottom + [None] * (width - len(bottom))
        top = _fill_right(top + [None] * (width - len(top)), bottom)
        parts = []
        for t, b in zip(top, bottom, strict=True):
            tt, bt = header_texts(t), header_texts(b)
            joined = (tt[0] + bt[0], bt[1] or tt[1])
            parts.append([joined, bt, tt] if tt[0] != bt[0] else [bt])
    texts = [[p[0] for p in cand] for cand in parts]
    columns = _match_columns(texts)
    if "indicator_code" not in columns and "indicator_name" not in columns:
        return None
    header_units = {}
    for c, pos in columns.items():
        unit = next((p[1] for p in parts[pos] if p[1]), None)
        if unit:
            header_units[c] = unit
    header = (i, i + span - 1)
    if "value" not in columns:
        # A measure named with its unit (面积（万平方米）, 数量（个）) is the value column when
        # it is the only unclaimed heading that carries a unit.
        taken = set(columns.values())
        with_unit = [pos for pos, cand in enumerate(parts)
                     if pos not in taken and any(p[1] for p in cand)]
        if len(with_unit) == 1:
            pos = with_unit[0]
            columns["value"] = pos
            header_units["value"] = next(p[1] for p in parts[pos] if p[1])
    if "district_code" in columns or "district_name" in columns:
        if "value" in columns:
            return _with_unread(Table(sheet.name, "long", header, columns, header_units),
                                texts)
        return None
    wide = _wide_columns(texts, columns, ref, city_code)
    if wide:
        return _with_unread(Table(sheet.name, "wide", header, columns, header_units, *wide),
                            texts)
    return None


def _with_unread(table: Table, texts: list[list[str]]) -> Table:
    """Note the headings the layout does not read, and the header positions with none."""
    read = set(table.columns.values()) | set(table.district_columns) | set(table.total_columns)
    for pos, cands in enumerate(texts):
        if pos in read:
            continue
        text = next((t for t in cands if t), "")
        if text:
            table.unread_columns[pos] = text
        else:
            table.headless.append(pos)
    table.width = len(texts)
    return table


def _fill_right(top: list[object], bottom: list[object]) -> list[object]:
    """A merged cell written once over several columns: carry it right while the row below
    has sub-headings under the blanks (指标 | (blank) over 代码 | 名称)."""
    out, last = list(top), None
    for c, value in enumerate(out):
        if clean(value):
            last = value
        elif last is not None and clean(bottom[c]):
            out[c] = last
        else:
            last = None
    return out


def _wide_columns(texts: list[list[str]], columns: dict[str, int], ref: Reference,
                  city_code: str | None) -> tuple[dict[int, str], list[int], set[int]] | None:
    """District columns of a wide header: at least two cells that name units of the city.
    Every other heading with text becomes a district column too, marked unplaced."""
    taken = set(columns.values())
    districts: dict[int, str] = {}
    totals: list[int] = []
    cities = [city_code] if city_code else list(ref.cities)
    for pos, cands in enumerate(texts):
        if pos in taken:
            continue
        for text in cands:
            if not text or normalise(text) in WIDE_SKIP:
                continue
            if _is_total(text):
                totals.append(pos)
                break
            if any(ref.resolve_district(text, c, None).code for c in cities):
                districts[pos] = text
                break
    if len(districts) < 2:
        return None
    unplaced = {}
    for pos, cands in enumerate(texts):
        if pos in taken or pos in districts or pos in totals:
            continue
        text = next((t for t in cands if t), "")
        if text and normalise(text) not in WIDE_SKIP:
            unplaced[pos] = text
    return {**districts, **unplaced}, totals, set(unplaced)


def _stray(sheet: str, n: int, row: list[object], table: Table) -> list[Layout]:
    """Filled cells of a data row in a column without a heading: not read, and said so (a
    figure typed beside the table is never taken, nor dropped without a word)."""
    positions = [p for p in table.headless if p < len(row)] + list(range(table.width, len(row)))
    return [Layout(sheet, n, say("stray_cell"), cell=f"{column_letters(p)}{n}",
                   cells={"value": clean(row[p])}, status="rejected")
            for p in positions if clean(row[p])]


def meta_pairs(rows: list[list[object]], first: int = 0
               ) -> tuple[dict[str, str], set[tuple[int, int]]]:
    """Header-block pairs above a table (a cell naming the field, the next cell its value),
    and the cells (row, column; rows counted from `first`) they were read from."""
    meta: dict[str, str] = {}
    used: set[tuple[int, int]] = set()
    for r, row in enumerate(rows, first):
        cells = [clean(c) for c in row]
        for k, text in enumerate(cells):
            name = _meta_name(text) if text else None
            if name is None:
                continue
            at = next((j for j in range(k + 1, len(cells)) if cells[j]), None)
            if at is not None:
                meta.setdefault(name, cells[at].lstrip(":："))
                used.update({(r, k), (r, at)})
                break
    return meta, used


@dataclass
class Block:
    """One table of a sheet with what heads it: the rows from `start` (its title and header
    block) to `end` (exclusive). Its header block's pairs (`meta`) and title belong to it
    alone: they never carry over to another table (docs/submission-format.md, "Blocks")."""
    sheet: str
    table: Table
    start: int
    end: int
    meta: dict[str, str]
    meta_cells: set[tuple[int, int]]     # the cells of the header block's pairs
    title: str | None
    reference: str | None = None         # the marker that titles it as reference

    @property
    def where(self) -> str:
        """The cell its header starts at, as the clerk finds it: Sheet!A5."""
        return f"{self.sheet}!A{self.table.header_rows[0] + 1}"


def find_blocks(sheet: Sheet, ref: Reference, city_code: str | None) -> list[Block]:
    """Every table of the sheet, top to bottom, each with the rows that head it."""
    blocks: list[Block] = []
    start, n = 0, len(sheet.rows)
    while start < n:
        table = find_table(sheet, ref, city_code, start)
        if table is None:
            break
        end = block_end(sheet, table)
        head = sheet.rows[start:table.header_rows[0]]
        meta, cells = meta_pairs(head, start)
        title = next((clean(c) for row in head for c in row
                      if isinstance(c, str) and clean(c) and _meta_key(c) is None), None)
        marker = reference_marker(sheet.name) or (reference_marker(title) if title else None)
        blocks.append(Block(sheet.name, table, start, end, meta, cells, title, marker))
        start = end
    return blocks


def reference_marker(text: str | None) -> str | None:
    """The marker that titles a sheet or table as reference (上年, 参考 …), if any."""
    key = normalise(text or "")
    return next((m for m in REFERENCE_MARKERS if m in key), None)


def _meta_key(cell: object) -> str | None:
    """The header-block field a cell names (department, city, year, template_version)."""
    return _meta_name(clean(cell)) if isinstance(cell, str) else None


@lru_cache(maxsize=8192)
def _meta_name(text: str) -> str | None:
    """The header-block field a cell's text names (填报部门：, 年度 …), or None."""
    keys = _keys(header_texts(text.rstrip(":："))[0])
    return next((name for name, aliases in META_ALIASES.items() if keys & aliases), None)


def _lead(row: list[object]) -> object:
    return next((c for c in row if c is not None and c != ""), None)


@lru_cache(maxsize=8192)
def _label_kind(text: str) -> tuple[bool, bool]:
    """(a header-block label or a column heading, a column heading) — per distinct text: a
    table repeats a few indicator codes thousands of times."""
    key = normalise(header_texts(clean(text).rstrip(":："))[0])
    heading = normalise(header_texts(clean(text))[0]) in _HEADING_KEYS
    return key in _META_KEYS or key in _HEADING_KEYS, heading


def _starts_block(row: list[object], table: Table) -> bool:
    """A row that starts another table: a header-block label first (年度, 填报部门 …), or a
    column heading (指标名称, 区县 …) first or in the table's indicator column."""
    lead = row[0] if row and row[0] is not None and row[0] != "" else _lead(row)
    if type(lead) is str and _label_kind(lead)[0]:
        return True
    for pos in table.label_columns:
        if pos < len(row) and type(row[pos]) is str and _label_kind(row[pos])[1]:
            return True
    return False


def _title_like(row: list[object]) -> bool:
    """One text cell alone on the row, not a footer: a title."""
    filled = [c for c in row if c is not None and c != "" and clean(c)]
    return len(filled) == 1 and isinstance(filled[0], str) and footer_text(row) is None


def _none_starts_a_block(rows: list[list[object]], table: Table) -> bool:
    """True when no row can start another table, judged on the distinct texts of the first
    column and of the indicator columns (a long table repeats a few texts thousands of times):
    the usual single table is passed without a call per row. False when unsure (a row whose
    first cell is empty, a cell that cannot be compared): then each row is looked at."""
    try:
        firsts = {row[0] if row else None for row in rows}
        if None in firsts or "" in firsts or \
                any(type(t) is str and _label_kind(t)[0] for t in firsts):
            return False
        for pos in table.label_columns:
            texts = {row[pos] for row in rows if pos < len(row)}
            if any(type(t) is str and _label_kind(t)[1] for t in texts):
                return False
    except TypeError:
        return False
    return True


def block_end(sheet: Sheet, table: Table) -> int:
    """One past the table's last row: the rows below its header, up to where another table
    starts (its header block, its title or its column heading), or the sheet's end."""
    rows = sheet.rows
    if _none_starts_a_block(rows[table.header_rows[1] + 1:], table):
        return len(rows)
    for i in range(table.header_rows[1] + 1, len(rows)):
        row = rows[i]
        if not _starts_block(row, table) or blank(row):
            continue
        # the title right above (blank rows between) heads the next table too
        j = i - 1
        while j > table.header_rows[1] and blank(rows[j]):
            j -= 1
        if j > table.header_rows[1] and _title_like(rows[j]):
            return j
        return i
    return len(rows)


def figure_cells(row: list[object], skip: set[int] = frozenset()) -> list[int]:
    """Positions of the row's cells that hold a figure (a spreadsheet number, or text that
    reads as one under the number grammar), but those in `skip`."""
    found = []
    for p, c in enumerate(row):
        if p in skip or c is None or isinstance(c, bool):
            continue
        if isinstance(c, (int, float)):
            found.append(p)
        elif isinstance(c, str) and c and (c[0].isdigit() or c[0] in "+-.约大近~≈＋－．０１２３４５６７８９"):
            body, _ = approx_body(figure_text(c))
            if _FIGURE.match(body):
                found.append(p)
    return found


def outside(sheet: str, rows: list[list[object]], first: int, reason: str,
            meta_cells: set[tuple[int, int]] = frozenset(),
            figures: str = "reject") -> list[Layout]:
    """Rows that are no table's data (a title, a header block, a sheet without a table): each
    row ignored with `reason`, and each figure in it, unless a header-block value, rejected
    as not read ("reject") or ignored with the reason ("ignore": a reference table)."""
    out: list[Layout] = []
    for k, row in enumerate(rows):
        i = first + k
        out.append(Layout(sheet, i + 1, say("layout_blank") if blank(row) else reason))
        skip = {c for r, c in meta_cells if r == i}
        for p in figure_cells(row, skip):
            text = clean(row[p])
            cell = f"{column_letters(p)}{i + 1}"
            if figures == "reject":
                out.append(Layout(sheet, i + 1, say("figure_not_read", where=f"{sheet}!{cell}",
                                                    text=text),
                                  cell=cell, cells={"value": text}, status="rejected"))
            else:
                out.append(Layout(sheet, i + 1, reason, cell=cell, cells={"value": text}))
    return out


# Read a long table's plain rows column by column (RecordRun); False reads every row on its
# own, as before (tests/test_columnar_reading.py compares the two)
COLUMNAR = True


def _texts(column: tuple, convert) -> list[str]:
    """`convert` applied to every cell of a column, once per distinct text when all are text
    (a long table repeats a few indicator and district codes thousands of times; other types
    one by one: 1, 1.0 and True are equal as keys, and not as text)."""
    distinct = set(column)
    if all(type(v) is str for v in distinct):
        done = {v: convert(v) for v in distinct}
        return [done[v] for v in column]
    return [convert(v) for v in column]


def _plain_run(sheet: Sheet, table: Table, i0: int, end: int,
               text_cols: list[tuple[str, int]], sources: dict[str, str]) -> RecordRun | None:
    """Rows i0 to `end` of a long table as one RecordRun, but for blank and footer rows at
    its end (cut reads those row by row) — or None when any row is not plain: another width
    than the header's (a stray cell, a short row), a first cell that is empty, not text or
    could start a footer, a district that is empty or a totals label. Then cut reads every
    row on its own, as it always did."""
    rows = sheet.rows
    stop = end
    while stop > i0 and (blank(rows[stop - 1]) or footer_text(rows[stop - 1]) is not None):
        stop -= 1
    body = rows[i0:stop]
    width = table.width
    if not body or table.headless or any(len(row) != width for row in body):
        return None
    columns = list(zip(*body, strict=True))     # every row is `width` long
    for lead in set(columns[0]):
        if type(lead) is not str or not clean(lead) or lead[:1] in _FOOTER_INITIALS:
            return None
    cells = {c: _texts(columns[pos], clean) for c, pos in text_cols}
    district = cells.get("district_name", cells.get("district_code"))
    if district is None or any(not d or _is_total(d) for d in set(district)):
        return None
    raws = list(columns[table.columns["value"]])
    cells["value"] = [figure_text(raw) for raw in raws]     # figures seldom repeat in a file
    return RecordRun(sheet.name, i0 + 1, cells, raws,
                     column_letters(table.columns["value"]), sources)


def cut(sheet: Sheet, table: Table, start: int = 0, end: int | None = None,
        meta_cells: set[tuple[int, int]] = frozenset()
        ) -> list[Record | RecordRun | Layout | Total]:
    """Every row of a block (rows `start` to `end` of the sheet: title, header block, header,
    data, footer) as records (plain rows of a long table as one RecordRun), layout rows or
    totals, in sheet order."""
    out: list[Record | RecordRun | Layout | Total] = []
    first, last = table.header_rows
    end = len(sheet.rows) if end is None else end
    out += outside(sheet.name, sheet.rows[start:first], start, say("layout_title"), meta_cells)
    for i in range(first, last + 1):
        out.append(Layout(sheet.name, i + 1, say("layout_header")))
    for pos, text in table.unread_columns.items():
        out.append(Layout(sheet.name, last + 1, say("layout_column_not_read", text=text),
                          cell=f"{column_letters(pos)}{last + 1}"))
    cols = table.columns
    text_cols = [(c, cols[c]) for c in TEXT_COLUMNS if c in cols]
    formulas = sheet.formulas
    value_letter = column_letters(cols["value"]) if table.kind == "long" else ""
    # Where each text of a record was read: a column letter (the record's own row) or, for
    # a wide record's district, its heading's cell. Shared by the records, built once.
    sources = {c: column_letters(pos) for c, pos in text_cols}
    heading_sources = {pos: {**sources, "district_name": f"{column_letters(pos)}{last + 1}"}
                       for pos in table.district_columns}
    i0 = last + 1
    if table.kind == "long" and COLUMNAR and not formulas:
        # the plain rows at the top of the table read column by column (RecordRun); the rest
        # (from the first row that is not plain: a total, a footer, a stray cell …) row by row
        run = _plain_run(sheet, table, i0, end, text_cols, sources)
        if run is not None:
            out.append(run)
            i0 += len(run)
    for i in range(i0, end):
        row = sheet.rows[i]
        n = i + 1
        if blank(row):
            out.append(Layout(sheet.name, n, say("layout_blank")))
            continue
        lead = row[0] if row[0] is not None and row[0] != "" else None
        footer = (footer_text(row) if lead is None or (
            isinstance(lead, str) and lead[:1] in _FOOTER_INITIALS) else None)
        if footer is not None:
            out.append(Layout(sheet.name, n, say("layout_footer", text=footer),
                              cells={"note": footer}))
            continue
        width = len(row)
        if width > table.width or table.headless:
            out += _stray(sheet.name, n, row, table)
        cells = {}
        for c, pos in text_cols:
            if pos < width:
                f = formulas.get((i, pos)) if formulas else None
                cells[c] = f if f is not None else clean(row[pos])
            else:
                cells[c] = ""
        if table.kind == "long":
            pos = cols["value"]
            raw = row[pos] if pos < width else None
            district = cells.get("district_name") or cells.get("district_code", "")
            cell = f"{value_letter}{n}"
            indicator = cells.get("indicator_code") or cells.get("indicator_name", "")
            if _is_total(district) or (not district and _total_anywhere(row, skip=pos)):
                out.append(Total(sheet.name, n, cell, "" if _is_total(indicator) else indicator,
                                 cells.get("year", ""), raw))
                continue
            cells["value"] = figure_text(raw)
            out.append(Record(sheet.name, n, cell, cells, raw,
                              bool(formulas) and (i, pos) in formulas, sources))
            continue
        indicator = cells.get("indicator_code") or cells.get("indicator_name", "")
        if _is_total(indicator) or (not indicator and _total_anywhere(row)):
            out.append(Layout(sheet.name, n, say("layout_wide_totals"), cells=cells))
            continue
        for pos in table.total_columns:
            raw = row[pos] if pos < width else None
            out.append(Total(sheet.name, n, f"{column_letters(pos)}{n}", indicator,
                             cells.get("year", ""), raw, wide=True))
        for pos, district in table.district_columns.items():
            raw = row[pos] if pos < width else None
            if pos in table.unplaced_columns and not clean(raw):
                continue    # an empty cell under a heading that is no district: nothing to say
            record_cells = dict(cells, district_name=district, value=figure_text(raw))
            out.append(Record(sheet.name, n, f"{column_letters(pos)}{n}", record_cells, raw,
                              bool(formulas) and (i, pos) in formulas, heading_sources[pos]))
    return out
