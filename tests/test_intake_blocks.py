"""A reader that proves what it reads (issue 30): each table of a workbook is a block whose
year never carries over to another; a table titled as reference is not read, and the receipt
says so; the same indicator, district and year given twice with different figures stands
nowhere; figures outside any table, struck through, commented or Excel errors are rejected
quoting them; department names as on a letterhead resolve."""
from __future__ import annotations

import openpyxl
import pytest
from openpyxl.comments import Comment
from openpyxl.styles import Font

from extract.submissions import ingest_file
from tests.helpers import query
from tests.test_intake_real_world import reconciled, write_csv

pytestmark = pytest.mark.both_engines

SEWAGE = "sewage_treatment_rate_pct"


def stored(settings, receipt) -> dict[tuple[str, int], float | None]:
    return {(d, y): v for d, y, v in query(
        settings, "select district_code, year, value from raw.submission_rows where "
                  "file_hash = ? and status = 'accepted'", [receipt.file_hash])}


def workbook(path, sheets: dict[str, list[list]]) -> object:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_two_tables_of_two_years_in_one_sheet_keep_their_own_years(settings, tmp_path):
    rows = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
            ["指标代码", "区县名称", "数值"],
            [SEWAGE, "环翠区", 98.9], [SEWAGE, "文登区", 97.9],
            [],
            ["年度", "2022"],
            ["指标代码", "区县名称", "数值"],
            [SEWAGE, "环翠区", 98.1], [SEWAGE, "文登区", 97.2]]
    receipt = ingest_file(workbook(tmp_path / "two.xlsx", {"填报表": rows}), settings)
    reconciled(receipt)
    assert stored(settings, receipt) == {("371002", 2023): 98.9, ("371003", 2023): 97.9,
                                         ("371002", 2022): 98.1, ("371003", 2022): 97.2}
    maps = receipt.sheets
    assert [m["rows"] for m in maps] == [[1, 8], [9, 12]]


def test_a_table_without_a_year_of_its_own_is_rejected_not_given_another_tables(
        settings, tmp_path):
    """The second sheet states no year: the first sheet's 2023 does not carry over."""
    first = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
             ["指标代码", "区县名称", "数值"], [SEWAGE, "环翠区", 98.9]]
    second = [["指标代码", "区县名称", "数值"], [SEWAGE, "文登区", 97.2], [SEWAGE, "荣成市", 91.0]]
    receipt = ingest_file(workbook(tmp_path / "sheets.xlsx", {"今年": first, "补充": second}),
                          settings)
    reconciled(receipt)
    assert stored(settings, receipt) == {("371002", 2023): 98.9}
    reasons = {r["cell"]: r["reason"] for r in receipt.rejected}
    assert set(reasons) == {"C2", "C3"}
    assert "the table at 补充!A1 states no year of its own" in reasons["C2"]
    assert "未写明自己的年度" in reasons["C2"]
    # ... unless the sender states the year for the whole file (the same tables, another file)
    receipt = ingest_file(workbook(tmp_path / "stated.xlsx", {
        "今年": first[:-1] + [[SEWAGE, "环翠区", 98.8]], "补充": second}), settings, year=2023)
    assert stored(settings, receipt) == {("371002", 2023): 98.8, ("371003", 2023): 97.2,
                                         ("371082", 2023): 91.0}


def test_a_table_titled_as_reference_is_not_read_and_the_receipt_says_why(settings,
                                                                          tmp_path):
    current = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
               ["指标代码", "区县名称", "数值"], [SEWAGE, "环翠区", 98.9]]
    last_year = [["2022年数据（供参考）"], ["指标代码", "区县名称", "数值"],
                 [SEWAGE, "环翠区", 98.1], [SEWAGE, "文登区", 97.2]]
    receipt = ingest_file(workbook(tmp_path / "ref.xlsx", {"今年": current,
                                                           "对照": last_year}), settings)
    reconciled(receipt)
    assert stored(settings, receipt) == {("371002", 2023): 98.9}
    ignored = [r for r in receipt.ignored if r["sheet"] == "对照"]
    assert ignored and all("titled as reference ('参考')" in r["reason"] for r in ignored)
    # its figures are listed one by one as not read, with that reason
    assert {r["cell"] for r in ignored if r.get("cell")} == {"C3", "C4"}
    assert "2022年数据(供参考)" in ignored[0]["reason"]
    # a sheet named as reference: the same
    receipt = ingest_file(workbook(tmp_path / "ref2.xlsx", {"今年": current,
                                                            "上年": last_year[1:]}), settings)
    assert all("sheet '上年' is titled as reference" in r["reason"]
               for r in receipt.ignored if r["sheet"] == "上年")


def test_the_same_value_given_twice_with_different_figures_stands_nowhere(settings,
                                                                         tmp_path):
    first = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
             ["指标代码", "区县名称", "数值"], [SEWAGE, "环翠区", 98.9], [SEWAGE, "文登区", 97.0]]
    again = [["年度", "2023"], ["指标代码", "区县名称", "数值"], [SEWAGE, "环翠区", 97.5],
             [SEWAGE, "文登区", 97.0]]
    receipt = ingest_file(workbook(tmp_path / "twice.xlsx", {"初步": first, "正式": again}),
                          settings)
    reconciled(receipt)
    # 文登区 twice with the same figure: the first stands; 环翠区 with two figures: neither
    assert stored(settings, receipt) == {("371003", 2023): 97.0}
    reasons = {(r["sheet"], r["cell"]): r["reason"] for r in receipt.rejected}
    conflict = "given twice in the file with different figures (97.5, 98.9: 初步!C6, 正式!C3)"
    assert conflict in reasons[("初步", "C6")] and conflict in reasons[("正式", "C3")]
    assert reasons[("正式", "C4")].startswith("duplicate: ")


def test_figures_outside_any_table_are_rejected_not_dropped_as_layout(settings, tmp_path):
    """A sheet laid out the other way round (districts down, indicators across), and a
    figure typed above the table: not read, each rejected where it is."""
    table = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023", "", "合计", 305.2], [],
             ["指标代码", "区县名称", "数值"], [SEWAGE, "环翠区", 98.9]]
    turned = [["区县", "城市污水处理率"], ["文登区", 97.2], ["荣成市", "91.5"]]
    receipt = ingest_file(workbook(tmp_path / "turned.xlsx", {"填报表": table,
                                                              "转置": turned}), settings)
    reconciled(receipt)
    assert stored(settings, receipt) == {("371002", 2023): 98.9}
    not_read = {(r["sheet"], r["cell"]): r for r in receipt.rejected}
    assert set(not_read) == {("填报表", "E3"), ("转置", "B2"), ("转置", "B3")}
    assert all("outside any table the reader recognises" in r["reason"] and
               "不在可识别的表格内" in r["reason"] for r in not_read.values())
    assert not_read[("转置", "B3")]["value"] == "91.5"


def test_cell_marks_that_change_meaning_are_rejected(settings, tmp_path):
    """Struck through (deleted?), a comment on the figure, an Excel error: rejected quoting
    the cell; the error is never read as blank or as "missing"."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
                ["指标代码", "区县名称", "数值"], [SEWAGE, "环翠区", 98.9], [SEWAGE, "文登区", 97.2],
                [SEWAGE, "荣成市", 91.0], [SEWAGE, "乳山市", "#DIV/0!"], [SEWAGE, "高区", 99.1]]:
        ws.append(row)
    ws["C7"].font = Font(strike=True)
    ws["C8"].comment = Comment("估算，待统计局核定", "clerk")
    ws["B10"].font = Font(strike=True)           # the row's district struck: the row deleted
    path = tmp_path / "marked.xlsx"
    wb.save(path)
    receipt = ingest_file(path, settings)
    reconciled(receipt)
    assert stored(settings, receipt) == {("371002", 2023): 98.9}
    why = {r["cell"]: (r["fault_cell"], r["reason"]) for r in receipt.rejected}
    assert "struck through in Excel" in why["C7"][1] and "删除线" in why["C7"][1]
    assert "carries a comment ('估算，待统计局核定')" in why["C8"][1]
    assert "Excel error #DIV/0!" in why["C9"][1] and "错误值" in why["C9"][1]
    assert why["C10"][0] == "B10" and "cell B10 is struck through" in why["C10"][1]


@pytest.mark.parametrize("written", ["淄博市城市管理局", "山东省淄博市城市管理局", "城管局",
                                     "淄博市综合行政执法局", "city_management"])
def test_department_names_as_written_resolve(settings, tmp_path, written):
    rows = [["填报单位", written], ["城市", "淄博市"], ["年度", "2021"], [],
            ["指标代码", "区县名称", "数值"], ["street_gardens_new", "张店区", "4"]]
    receipt = ingest_file(write_csv(tmp_path / "zb.csv", rows), settings)
    assert receipt.status == "loaded" and receipt.department_code == "city_management"
    assert receipt.rows_accepted == 1
