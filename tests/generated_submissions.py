"""Department files made up by Hypothesis, each with the truth it states.

A generated file is what a clerk puts together from the tables at hand: one to three sheets
(a 填表说明 notes sheet, a sheet named as last year's, data sheets), each holding one or more
tables (blocks) of the housing department's indicators for Weihai districts, in every layout
intake documents (docs/submission-format.md):

    long_codes   指标代码 | 区县代码 | 数值                    (the template's columns)
    long_names   序号 | 指标名称 | 区县 | 数值 | 单位 | 备注    (by hand, names and aliases)
    two_row      指标 (代码 | 名称) over two merged rows, 区县名称, 数值
    wide         指标名称 | 单位 | <district> … | 合计        (one row per indicator)

with titles (whose year may be last year's, copied from the file before), a 年度 row above a
table or none, a table titled as reference (…（供参考）), totals rows and columns, footers
(填报人, 联系电话, 注：…), blank rows. Figures are written the ways clerks write them — typed
numbers, numbers as text, 1,234, full-width digits, 约30, 98.5% for a rate, missing markers —
and the ways that must never be read as a figure: 12.5① (a footnote mark), 12,5 (a decimal
comma), 80处 (a unit glued on), 12% for a count, an Excel error, a cell struck through, a cell
with a comment, a rate formatted as a percentage (it holds 0.985). The file is an .xlsx, an .xls
or a CSV in UTF-8, UTF-8 with a BOM, or GBK; the sender states the year or not.

`truth` is what the file says, by the documented rules: for each (indicator, district, year)
the figure every readable statement of it gives (MISSING for a missing marker), or CONFLICT
when its statements differ. A statement in a table titled as reference, or in a table whose
year the file does not state for it, states nothing. `must` are the figures that must be
stored: stated plainly, once or the same each time, in a table whose year is stated.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

CITY = "371000"
DEPARTMENT = "housing"
# code -> (Chinese name, unit, largest figure, decimals)
INDICATORS = {
    "pocket_parks_cum": ("口袋公园新建改造（累计）", "处", 2000, 0),
    "new_parking_spaces": ("新增停车位（当年）", "个", 100000, 0),
    "owner_satisfaction_pct": ("业主满意率", "%", 100, 1),
    "coastal_walkway_km": ("滨海步道贯通里程（累计）", "km", 1000, 1),
}
# code -> the names a clerk writes for it (the seed's name, short names, aliases)
DISTRICTS = {
    "371002": ["环翠区", "威海市环翠区", "环翠"],
    "371082": ["荣成市", "荣成"],
    "371083": ["乳山市", "乳山"],
    "371071": ["高区", "火炬高技术产业开发区"],
    "371072": ["经区", "经济技术开发区"],
    "371073": ["临港区", "临港"],
}
YEARS = (2021, 2022, 2023, 2024)
MISSING, CONFLICT = "missing", "conflict"

# How a figure is written. GOOD: read as the figure; JUNK: never read as a figure.
GOOD = ("typed", "text", "spaced", "fullwidth", "approx", "thousands", "pct_sign", "missing")
JUNK = ("footnote", "decimal_comma", "unit_glued", "pct_sign", "error", "struck", "comment",
        "pct_format")
XLSX_ONLY = {"typed", "error", "struck", "comment", "pct_format"}


@dataclass
class Cell:
    indicator: str
    district: str
    value: float | None       # None: a missing marker
    kind: str                 # how it is written (GOOD or JUNK above)

    @property
    def readable(self) -> bool:
        """Read as the figure `value` (or as missing) under the number grammar."""
        if self.kind == "pct_sign":
            return INDICATORS[self.indicator][1] == "%"
        return self.kind in GOOD

    def written(self, fmt: str) -> object:
        v, unit = self.value, INDICATORS[self.indicator][1]
        decimals = INDICATORS[self.indicator][3]
        text = "" if v is None else (f"{v:.{decimals}f}" if decimals else str(int(v)))
        if self.kind == "blank":
            return None
        if self.kind == "missing":
            return "无" if len(self.district + self.indicator) % 2 else "—"
        if self.kind == "typed":
            return v if fmt in ("xlsx", "xls") else text
        if self.kind in ("text", "struck", "comment"):
            return v if self.kind != "text" and fmt in ("xlsx", "xls") else text
        if self.kind == "spaced":
            return f" {text} "
        if self.kind == "fullwidth":
            return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
        if self.kind == "approx":
            return f"约{text}"
        if self.kind == "thousands":
            return f"{v:,.{decimals}f}"
        if self.kind == "pct_sign":
            return f"{text}%"
        if self.kind == "footnote":
            return f"{text}①"
        if self.kind == "decimal_comma":
            return f"{int(v)},5"
        if self.kind == "unit_glued":
            return f"{text}{unit if unit != '%' else '个百分点'}"
        if self.kind == "error":
            return "#DIV/0!"
        if self.kind == "pct_format":
            return v / 100
        raise AssertionError(self.kind)


@dataclass
class Block:
    layout: str
    cells: list[Cell]
    year: int | None           # the 年度 row above the table; None: no such row
    reference: bool            # titled as reference
    title_year: int | None     # a title row naming a year (maybe not the table's)
    totals: bool
    footer: bool


@dataclass
class Sheet:
    name: str
    blocks: list[Block]
    notes: bool = False        # a 填表说明 sheet: text only


@dataclass
class GeneratedFile:
    fmt: str                   # xlsx | xls | csv-utf8 | csv-bom | csv-gbk
    sheets: list[Sheet]
    header_year: int           # 年度 in the header block above the first table
    sender_year: int | None    # what the sender states (ingest --year), if anything
    marks: dict = field(default_factory=dict)   # (sheet, row, column) -> xlsx mark

    # -- what it says -----------------------------------------------------------------
    def blocks(self) -> list[tuple[Sheet, Block, int | None]]:
        """Every table with the year the rules give it (None: stated nowhere)."""
        found, first = [], True
        for sheet in self.sheets:
            for block in sheet.blocks:
                if block.year is not None:
                    # a table's own year the sender contradicts states nothing: which is
                    # right is not for intake to guess
                    year = block.year if self.sender_year in (None, block.year) else None
                elif first:
                    year = self.header_year
                else:
                    year = self.sender_year
                found.append((sheet, block, year))
                first = False
        return found

    def _statements(self) -> dict[tuple, list[Cell]]:
        said: dict[tuple, list[Cell]] = {}
        for sheet, block, year in self.blocks():
            if block.reference or REFERENCE_SHEET in sheet.name or year is None:
                continue
            for c in block.cells:
                if c.kind != "blank":
                    said.setdefault((c.indicator, c.district, year), []).append(c)
        return said

    @property
    def truth(self) -> dict[tuple, object]:
        out = {}
        for key, cells in self._statements().items():
            figures = {MISSING if c.value is None else c.value for c in cells if c.readable}
            if len(figures) == 1:
                out[key] = figures.pop()
            elif figures:
                out[key] = CONFLICT
        return out

    @property
    def must(self) -> dict[tuple, float]:
        out = {}
        for key, cells in self._statements().items():
            if all(c.readable and c.value is not None for c in cells) \
                    and len({c.value for c in cells}) == 1:
                out[key] = cells[0].value
        return out

    # -- the file ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "housing_figures." + ("xlsx" if self.fmt == "xlsx" else
                                     "xls" if self.fmt == "xls" else "csv")

    def rows(self, sheet: Sheet, first: bool) -> tuple[list[list], dict]:
        """The sheet's rows as the clerk typed them, and the xlsx marks by (row, column),
        both 1-based."""
        if sheet.notes:
            return NOTES, {}
        rows: list[list] = []
        marks: dict[tuple[int, int], str] = {}
        for i, block in enumerate(sheet.blocks):
            if i or rows:
                rows += [[]] * (1 + i % 2)
            if block.title_year is not None or block.reference:
                y = block.title_year or (block.year or self.header_year) - 1
                rows.append([f"{y}年数据（供参考）" if block.reference
                             else f"威海市{y}年城市建设指标统计表"])
            if first and i == 0:
                rows += [["填报部门", DEPARTMENT], ["城市", "威海市"],
                         ["年度", f"{self.header_year}年"], []]
            elif block.year is not None:
                rows.append(["年度：", str(block.year)])
            rows += self._table(block, len(rows), marks)
        return rows, marks

    def _table(self, block: Block, above: int, marks: dict) -> list[list]:
        rows: list[list] = []

        def put(row_cells: list, column: int, cell: Cell) -> None:
            row_cells[column] = cell.written(self.fmt)
            if cell.kind in ("struck", "comment", "pct_format"):
                marks[(above + len(rows) + 1, column + 1)] = cell.kind

        if block.layout == "wide":
            indicators = list(dict.fromkeys(c.indicator for c in block.cells))
            districts = list(dict.fromkeys(c.district for c in block.cells))
            rows.append(["指标名称", "单位"] + [DISTRICTS[d][0] for d in districts]
                        + (["合计"] if block.totals else []))
            by_key = {(c.indicator, c.district): c for c in block.cells}   # each once
            for ind in indicators:
                row = [INDICATORS[ind][0], INDICATORS[ind][1]] + [None] * len(districts) \
                      + ([None] if block.totals else [])
                for j, d in enumerate(districts):
                    if (ind, d) in by_key:
                        put(row, 2 + j, by_key[(ind, d)])
                if block.totals:
                    row[-1] = 99999
                rows.append(row)
        else:
            head = {"long_codes": [["指标代码", "区县代码", "数值"]],
                    "long_names": [["序号", "指标名称", "区县", "数值", "单位", "备注"]],
                    "two_row": [["指标", None, "区县名称", "数值"],
                                ["代码", "名称", None, None]]}[block.layout]
            rows += head
            for n, c in enumerate(block.cells, 1):
                name, unit = INDICATORS[c.indicator][:2]
                alias = DISTRICTS[c.district][n % len(DISTRICTS[c.district])]
                row = {"long_codes": [c.indicator, c.district, None],
                       "long_names": [n, name, alias, None, unit, None],
                       "two_row": [c.indicator, name, alias, None]}[block.layout]
                put(row, {"long_codes": 2, "long_names": 3, "two_row": 3}[block.layout], c)
                rows.append(row)
            if block.totals:        # a totals row, its figure wrong: never a district's
                total = ["合计"] + [None] * (len(head[0]) - 1)
                total[{"long_codes": 2, "long_names": 3, "two_row": 3}[block.layout]] = 99999
                rows.append(total)
        if block.footer:
            rows += [["填报人：张三", None, "审核人：李四"], ["联系电话", "0631-5200000"],
                     ["注：数据截至12月31日，口径见填表说明。"]]
        return rows

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        sheets = [(s, *self.rows(s, s is self._first_data())) for s in self.sheets]
        if self.fmt == "xlsx":
            _xlsx(path, sheets)
        elif self.fmt == "xls":
            _xls(path, sheets)
        else:
            (sheet, rows, _), = sheets
            encoding = {"csv-utf8": "utf-8", "csv-bom": "utf-8-sig", "csv-gbk": "gbk"}[self.fmt]
            with open(path, "w", newline="", encoding=encoding) as fh:
                csv.writer(fh).writerows(rows)
        return path

    def _first_data(self) -> Sheet | None:
        return next((s for s in self.sheets if s.blocks), None)


REFERENCE_SHEET = "上年"     # a sheet so named holds last year's figures, for reference
NOTES = [["填表说明"], ["1. 数值保留一位小数，无数据填写“—”。"], ["2. 本表由各部门于次年1月底前报送。"]]


def _xlsx(path: Path, sheets) -> None:
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for sheet, rows, marks in sheets:
        ws = wb.create_sheet(sheet.name)
        for row in rows:
            ws.append(row)
        for r, row in enumerate(rows, 1):            # 指标 over 代码 | 名称
            if row[:2] == ["指标", None]:
                ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
        for (r, c), mark in marks.items():
            cell = ws.cell(row=r, column=c)
            if mark == "struck":
                cell.font = Font(strike=True)
            elif mark == "comment":
                cell.comment = Comment("估算，待核定", "clerk")
            elif mark == "pct_format":
                cell.number_format = "0.0%"
    wb.save(path)


def _xls(path: Path, sheets) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for sheet, rows, _ in sheets:
        ws = book.add_sheet(sheet.name)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is not None:
                    ws.write(i, j, value)
    book.save(str(path))


# -- strategies -------------------------------------------------------------------------------

@st.composite
def cells(draw, fmt: str, layout: str) -> list[Cell]:
    kinds = [k for k in GOOD + JUNK if fmt in ("xlsx",) or k not in XLSX_ONLY
             or (k == "typed" and fmt == "xls")]
    indicators = draw(st.lists(st.sampled_from(sorted(INDICATORS)), min_size=1, max_size=3,
                               unique=True))
    # a wide table has at least two district headings (docs/submission-format.md)
    districts = draw(st.lists(st.sampled_from(sorted(DISTRICTS)),
                              min_size=2 if layout == "wide" else 1, max_size=4, unique=True))
    out = []
    for ind in indicators:
        top, decimals = INDICATORS[ind][2], INDICATORS[ind][3]
        for d in districts:
            if draw(st.integers(0, 5)) == 0:       # left blank: not reported
                out.append(Cell(ind, d, None, "blank"))
                continue
            kind = draw(st.sampled_from(kinds))
            if kind == "thousands" and top < 1000:
                kind = "text"
            if kind == "thousands":
                value = float(draw(st.integers(1000, min(top, 99999))))
            elif kind == "decimal_comma":
                value = float(draw(st.integers(1, min(top, 999))))
            else:
                value = draw(st.integers(0, top * 10 ** decimals)) / 10 ** decimals
            out.append(Cell(ind, d, None if kind == "missing" else value, kind))
    stated = [c for c in out if c.kind != "blank"]
    if layout != "wide" and stated and draw(st.booleans()):
        # the same indicator and district again in the table, the same figure or another
        again = draw(st.sampled_from(stated))
        value = draw(st.sampled_from([again.value, 1.0]))
        out.append(Cell(again.indicator, again.district, value,
                        "missing" if value is None else "text"))
    return out


@st.composite
def blocks(draw, fmt: str, first: bool) -> Block:
    layout = draw(st.sampled_from(["long_codes", "long_names", "two_row", "wide"]))
    return Block(
        layout=layout,
        cells=draw(cells(fmt, layout)),
        year=None if first else draw(st.one_of(st.none(), st.sampled_from(YEARS))),
        reference=not first and draw(st.integers(0, 4)) == 0,
        title_year=draw(st.one_of(st.none(), st.sampled_from(YEARS))),
        totals=draw(st.booleans()),
        footer=draw(st.booleans()))


@st.composite
def generated_files(draw) -> GeneratedFile:
    fmt = draw(st.sampled_from(["xlsx", "xlsx", "xls", "csv-utf8", "csv-bom", "csv-gbk"]))
    header_year = draw(st.sampled_from(YEARS))
    sheets: list[Sheet] = []
    if fmt in ("xlsx", "xls"):
        if draw(st.booleans()):
            sheets.append(Sheet("填表说明", [], notes=True))
        count = draw(st.integers(1, 3))
        for i in range(count):
            name = "填报表" if i == 0 else draw(st.sampled_from(["补充", "上年数据", "正式"]))
            if name in {s.name for s in sheets}:
                name = f"{name}{i}"
            sheets.append(Sheet(name, [draw(blocks(fmt, first=i == 0))]
                                + draw(st.lists(blocks(fmt, first=False), max_size=1))))
    else:
        sheets.append(Sheet("csv", [draw(blocks(fmt, first=True))]
                            + draw(st.lists(blocks(fmt, first=False), max_size=2))))
    sender = draw(st.sampled_from([None, header_year]))
    return GeneratedFile(fmt, sheets, header_year, sender)
