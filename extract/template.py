"""The .xlsx template a department fills in: `citycheck template --department CODE --year YYYY`.

One row per indicator the department answers for (in the city's programme) and unit that
reports it, with codes, Chinese names and units filled in; the department types the value.
Cells are validated in Excel (numbers in the indicator's valid range, districts from the
city's list, quality flags from a list), and a sheet of instructions in Chinese explains the
rest. Intake reads the filled template as the long layout (docs/submission-format.md).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from common.messages import say
from common.reference import Reference, load_reference

TEMPLATE_VERSION = "citycheck-long-1"
DATA_SHEET = "填报表"
LISTS_SHEET = "选项"
HELP_SHEET = "填报说明"
HEADER = ["指标代码 indicator_code", "指标名称 indicator_name", "区县代码 district_code",
          "区县名称 district_name", "数值 value", "单位 unit", "质量标记 quality_flag", "备注 note"]
QUALITY_FLAGS_ZH = ["估算", "初步", "修订"]

INSTRUCTIONS = [
    "填报说明",
    "",
    "1. 请在“填报表”工作表的“数值”列填写数字，其他列请勿修改；不要插入或删除列。",
    "2. 数值按“单位”列的计量单位填写，可带千分位（1,234.5）或百分号（12.5%）；不要填写文字。",
    "3. 没有数据时请留空（或填写“—”“无”），系统按“缺失”处理，不会当作 0。",
    "4. 估计数请在“质量标记”列选“估算”，初步数选“初步”，更正以前报送的数值选“修订”。",
    "5. 只能填报本部门负责的指标；其他部门的指标会被退回。",
    "6. 区县名称可从下拉列表选择；表格下方的“合计”行可以保留，系统会核对合计是否等于各区县之和，"
    "但不会作为区县数据入库。",
    "7. 填好后保存为 .xlsx，放入报送收件箱（或由数据管理员运行 citycheck ingest 文件名）。"
    "系统会立即生成回执，列出每一行的接收、退回（注明工作表、行、列和原因）或忽略情况。"
    "退回的行请改正后重新报送整个文件。",
    "8. 同一部门、同一年度重新报送的文件会更正此前的数值，此前的版本仍保留可查。",
    "",
    "Instructions (English): fill in the 数值 (value) column only, in the unit shown; leave it blank "
    "when there is no figure (stored as missing, never zero). Use 质量标记 for estimated (估算), "
    "provisional (初步) or revised (修订) figures. Save as .xlsx and drop it into the inbox; the "
    "receipt lists every row's verdict. A new file for the same department and year corrects "
    "the earlier values; the earlier version stays on record.",
]


class TemplateError(Exception):
    """The template cannot be made. The message says which codes are known."""


def template_rows(ref: Reference, department: str, year: int, city: str) -> list[list[object]]:
    """(indicator, unit) rows the department owes for the city and year, in catalogue order."""
    if department not in ref.departments:
        raise TemplateError(say("unknown_department", department=department,
                                known=", ".join(sorted(ref.departments))))
    if city not in ref.cities:
        raise TemplateError(say("unknown_city", city=city, known=", ".join(sorted(ref.cities))))
    programme = ref.programme_indicators(city, year)
    indicators = [i for i in ref.indicators.values()
                  if i.department_code == department and i.code in programme]
    if not indicators:
        raise TemplateError(say("template_nothing_owed", department=department, city=city, year=year))
    units = [d for d in (ref.district(c, year) for c in ref.district_versions)
             if d and d.city_code == city]
    reporting = [d for d in units if d.unit_level != "city" and d.reports_indicators]
    city_unit = [d for d in units if d.unit_level == "city"]
    rows = []
    for ind in indicators:
        for d in (city_unit if ind.reporting_level == "city" else reporting):
            rows.append([ind.code, ind.name_zh, d.code, d.name_zh, None, ind.unit, None, None])
    return rows


def write_template(path: Path, department: str, year: int, city: str,
                   ref: Reference | None = None) -> Path:
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    ref = ref or load_reference()
    rows = template_rows(ref, department, year, city)
    dep, cty = ref.departments[department], ref.cities[city]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = DATA_SHEET
    block = [["填报部门 Department", department, dep["name_zh"]],
             ["城市 City", city, cty["name_zh"]],
             ["年度 Year", year],
             ["模板版本 Template version", TEMPLATE_VERSION, f"生成日期 {date.today():%Y-%m-%d}"],
             []]
    for r in block:
        ws.append(r)
    ws.append(HEADER)
    header_row = len(block) + 1
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="FFF2CC")
    for cell in ws[header_row]:
        cell.font = bold
    for r in rows:
        ws.append(r)
    first, last = header_row + 1, header_row + len(rows)
    for row in ws.iter_rows(min_row=first, max_row=last, min_col=5, max_col=5):
        row[0].fill = fill  # the cells to fill in
    for col, width in zip("ABCDEFGH", (34, 40, 12, 26, 12, 10, 12, 24), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = f"E{first}"

    # Lists for drop-downs live on their own sheet (a list longer than 255 characters cannot
    # be written inline in the validation).
    lists = wb.create_sheet(LISTS_SHEET)
    names = sorted({r[3] for r in rows})
    for i, name in enumerate(names, start=1):
        lists.cell(row=i, column=1, value=name)
    for i, flag in enumerate(QUALITY_FLAGS_ZH, start=1):
        lists.cell(row=i, column=2, value=flag)
    lists.sheet_state = "hidden"
    district_dv = DataValidation(type="list", formula1=f"'{LISTS_SHEET}'!$A$1:$A${len(names)}",
                                 allow_blank=False, showErrorMessage=True,
                                 errorTitle="区县名称", error="请从下拉列表选择区县。")
    district_dv.add(f"D{first}:D{last}")
    flag_dv = DataValidation(type="list", formula1=f"'{LISTS_SHEET}'!$B$1:$B$3",
                             allow_blank=True, showErrorMessage=True,
                             errorTitle="质量标记", error="请选择 估算、初步 或 修订，或留空。")
    flag_dv.add(f"G{first}:G{last}")
    ws.add_data_validation(district_dv)
    ws.add_data_validation(flag_dv)
    # Numbers only in the value column, within each indicator's valid range.
    by_indicator: dict[str, list[int]] = {}
    for offset, r in enumerate(rows):
        by_indicator.setdefault(r[0], []).append(first + offset)
    for code, row_numbers in by_indicator.items():
        ind = ref.indicators[code]
        lo = ind.valid_min if ind.valid_min is not None else -1e15
        hi = ind.valid_max if ind.valid_max is not None else 1e15
        dv = DataValidation(type="decimal", operator="between", formula1=f"{lo:g}",
                            formula2=f"{hi:g}", allow_blank=True, showErrorMessage=True,
                            errorTitle="数值", error=f"请填写 {lo:g} 到 {hi:g} 之间的数字"
                                                   f"（单位：{ind.unit}），没有数据请留空。")
        dv.add(f"E{row_numbers[0]}:E{row_numbers[-1]}")
        ws.add_data_validation(dv)

    help_ws = wb.create_sheet(HELP_SHEET)
    for line in INSTRUCTIONS:
        help_ws.append([line])
    help_ws["A1"].font = Font(bold=True, size=14)
    help_ws.column_dimensions["A"].width = 120
    for row in help_ws.iter_rows():
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
