"""Files made the way department clerks make them, each with what its receipt must say.

Every layout here is one a department sends (or has sent) to a city's 城市体检 / 精致城市 office:
the template filled in, a hand-made long table with 序号, totals and a footer, a wide table
with a merged two-row heading and a 合计 column, a WPS export (numbers stored as text, default
empty sheets, a styled empty area, a 填表说明 sheet), a notes sheet in front of the data, a GBK
CSV from a statistics system, a legacy .xls. `tests/test_clerk_layouts.py` ingests each and
checks its receipt cell by cell; docs/submission-format.md shows each as `render()` draws it
(and a test keeps the two the same).

Expectations: "E7" -> a verdict on that cell, "row 9" -> a verdict on the whole row; each is
(status, value) for accepted (value None = reported missing) or (status, text in the reason).
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.styles import PatternFill

PARKS = "口袋公园新建改造（累计）"


@dataclass
class ClerkFile:
    name: str                        # the file name, as sent
    title: str                       # what it is, for the docs
    rows: list[list]                 # the data sheet, as the clerk typed it
    expect: dict[str, tuple[str, object]]
    write: Callable[[ClerkFile, Path], Path] = field(repr=False, default=None)
    merges: tuple[str, ...] = ()
    counts: tuple[int, int, int] = (0, 0, 0)   # accepted, rejected, ignored

    def make(self, folder: Path) -> Path:
        return self.write(self, folder / self.name)


def _xlsx(f: ClerkFile, path: Path, sheet: str = "填报表", before=(), after=(),
          styled_empty: bool = False) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in before:
        _fill(wb.create_sheet(name), rows)
    ws = wb.create_sheet(sheet)
    _fill(ws, f.rows)
    for m in f.merges:
        ws.merge_cells(m)
    if styled_empty:
        # WPS and Excel keep formatting the clerk applied to empty cells: the sheet's extent
        # reaches far beyond the table, all of it empty
        fill = PatternFill("solid", fgColor="FFFFCC")
        for r in range(1, 60):
            for c in range(1, 27):
                ws.cell(row=r, column=c).fill = fill
    for name, rows in after:
        _fill(wb.create_sheet(name), rows)
    wb.save(path)
    return path


def _fill(ws, rows) -> None:
    for row in rows:
        ws.append(row)


def _csv(f: ClerkFile, path: Path, encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(f.rows)
    return path


def _xls(f: ClerkFile, path: Path) -> Path:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("Sheet1")
    for i, row in enumerate(f.rows):
        for j, value in enumerate(row):
            if value is not None:
                ws.write(i, j, value)
    book.save(str(path))
    return path


NOTES = [["填表说明"], ["1. 数值保留一位小数，无数据填写“—”。"], ["2. 本表由各部门于次年1月底前报送。"]]

LAYOUTS = [
    ClerkFile(
        "housing_2023_template.xlsx", "The template, filled in (long layout)",
        [["填报部门 Department", "housing"], ["城市 City", "371000"], ["年度 Year", "2023"],
         ["模板版本 Template version", "citycheck-long-1"], [],
         ["指标代码 indicator_code", "指标名称 indicator_name", "区县代码 district_code",
          "区县名称 district_name", "数值 value", "单位 unit", "质量标记 quality_flag",
          "备注 note"],
         ["pocket_parks_cum", PARKS, "371002", "环翠区", 80, "处", None, None],
         ["pocket_parks_cum", PARKS, "371003", "文登区", "—", "处", None, "暂无统计"],
         ["utility_tunnel_km", "地下综合管廊建成里程（累计）", "371082", "荣成市", 12.5, "km",
          None, None]],
        {"E7": ("accepted", 80.0), "E8": ("accepted", None), "E9": ("accepted", 12.5),
         "row 5": ("ignored", "blank row"), "row 6": ("ignored", "column header")},
        write=_xlsx, counts=(3, 0, 6)),
    ClerkFile(
        "口袋公园2023.xlsx", "Long, by hand: title, 序号, an alias, a typo, a totals row, a footer",
        [["威海市2023年口袋公园建设情况表"], ["填报单位：", "市住房城乡建设局"], ["年度：", "2023年"],
         ["城市：", "威海市"],
         ["序号", "指标名称", "区县", "数值", "备注"],
         [1, PARKS, "环翠区", 80, None],
         [2, PARKS, "文登", 60, None],
         [3, "地下综合管廊建成里程（累计）", "荣城市", 30, None],
         ["合计", PARKS, None, 140, None],
         ["填报人：张三", None, "审核人：李四"],
         ["联系电话：0631-5200000"]],
        {"D6": ("accepted", 80.0), "D7": ("accepted", 60.0),
         "D8": ("rejected", "did you mean 荣成市"),
         "D9": ("ignored", "totals row: totals 140 = sum of 2 districts"),
         "row 10": ("ignored", "footer: 填报人：张三 审核人：李四"),
         "row 11": ("ignored", "footer: 联系电话：0631-5200000"),
         "A5": ("ignored", "column not read: '序号'")},
        merges=("A1:E1",), write=_xlsx, counts=(2, 1, 9)),
    ClerkFile(
        "城市管理2023.xlsx",
        "Wide: merged two-row heading, a unit column, a 合计 column, an empty cell",
        [["威海市2023年城市管理情况统计表"], ["填报单位：", "市城市管理局"], ["年度：", "2023"],
         ["城市：", "威海市"],
         ["序号", "指标", None, "单位", "环翠区", "文登区", "荣成市", "乳山市", "合计"],
         [None, "代码", "名称", None, None, None, None, None, None],
         [1, "street_gardens_new", "街头游园新建（当年）", "处", 5, 4, 3, 2, 14],
         [2, "vertical_greening_new", "立体绿化新建（当年）", "处", 2, None, 1, 1, 5]],
        {"E7": ("accepted", 5.0), "H7": ("accepted", 2.0),
         "I7": ("ignored", "totals column: totals 14 = sum of 4 districts"),
         "E8": ("accepted", 2.0), "F8": ("ignored", "value cell left blank"),
         "I8": ("ignored", "totals column: totals 5: not checked (some district values"),
         "row 5": ("ignored", "column header"), "row 6": ("ignored", "column header")},
        merges=("A1:I1", "B5:C5", "A5:A6", "D5:D6", "E5:E6", "F5:F6", "G5:G6", "H5:H6",
                "I5:I6"),
        write=_xlsx, counts=(7, 0, 10)),
    ClerkFile(
        "社区食堂2023（WPS导出）.xlsx",
        "WPS export: numbers as text, default sheets, a styled empty area, 填表说明 after",
        [["填报部门", "市民政局"], ["城市", "威海市"], ["年度", "2023年"],
         ["指标名称", "区县名称", "数值", "单位"],
         ["社区食堂", "威海市环翠区", "1,234", "处"],
         ["社区食堂", "文登区", "１２", "处"],
         ["社区食堂", "荣成市", "约30", "处"],
         ["社区食堂", "乳山市", "暂无", "处"]],
        {"C5": ("accepted", 1234.0), "C6": ("accepted", 12.0), "C7": ("accepted", 30.0),
         "C8": ("accepted", None)},
        write=lambda f, p: _xlsx(f, p, sheet="Sheet1", after=[("Sheet2", []), ("Sheet3", []),
                                                               ("填表说明", NOTES)],
                                 styled_empty=True),
        counts=(4, 0, 7)),
    ClerkFile(
        "夜间消费2023.xlsx", "A notes sheet in front, the wide table on the second sheet",
        [["填报单位：", "市商务局"], ["城市：", "371000"], ["年度：", "2023"],
         ["指标名称", "单位", "环翠区", "文登区", "荣成市", "乳山市", "高区", "经区", "临港区"],
         ["夜间消费集聚区", "处", 4, 3, 3, 2, 1, 1, "—"]],
        {"C5": ("accepted", 4.0), "G5": ("accepted", 1.0), "I5": ("accepted", None),
         "row 4": ("ignored", "column header")},
        write=lambda f, p: _xlsx(f, p, sheet="夜间消费", before=[("填表说明", NOTES)]),
        counts=(7, 0, 7)),
    ClerkFile(
        "371000_housing_2023.csv", "A GBK CSV exported by a statistics system, no header block",
        [["指标代码", "区县代码", "数值"],
         ["lifts_added_cum", "371002", "120"],
         ["lifts_added_cum", "371003", "85.0"],
         ["lifts_added_cum", "371099", "7"]],
        {"C2": ("accepted", 120.0), "C3": ("accepted", 85.0),
         "C4": ("rejected", "unknown district")},
        write=lambda f, p: _csv(f, p, encoding="gbk"), counts=(2, 1, 1)),
    ClerkFile(
        "housing_2023.xls", "Legacy .xls (Excel 2003 / WPS default)",
        [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"],
         ["指标代码", "区县名称", "数值", "备注"],
         ["sponge_city_area_km2", "环翠区", 35.2, None],
         ["sponge_city_area_km2", "乳山市", 12, "按竣工口径"]],
        {"C5": ("accepted", 35.2), "C6": ("accepted", 12.0)},
        write=_xls, counts=(2, 0, 4)),
]


def render(rows: list[list]) -> str:
    """A picture of the sheet for the docs: one line per row, cells joined by ' | ', a blank
    row as '(blank)'."""
    lines = []
    for row in rows:
        cells = ["" if c is None else str(c) for c in row]
        while cells and not cells[-1]:
            cells.pop()
        lines.append(" | ".join(cells) if cells else "(blank)")
    return "\n".join(lines)
