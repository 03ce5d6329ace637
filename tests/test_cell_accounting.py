"""Every cell a clerk filled in is accounted for: accepted, rejected with the cell at fault and
the reason, or ignored as layout with the reason — never skipped quietly (issue: intake
accounts for every cell). Files are made the way clerks make them."""
from __future__ import annotations

import openpyxl
import pytest

from extract.submissions import ingest_file
from extract.xlsx import column_letters
from tests.helpers import query
from tests.test_intake_real_world import accepted_values, reconciled, write_csv, write_xlsx

pytestmark = pytest.mark.both_engines  # conftest.py: each test on DuckDB and on PostgreSQL

WIDE_META = [["威海市2023年城市管理情况统计表"], ["填报单位：", "市城市管理局"], ["年度：", "2023"],
             ["城市：", "威海市"]]


def _filled_cells(path, first_data_row: int) -> set[str]:
    """Every non-empty cell from the first data row down, as the clerk sees it (E7)."""
    ws = openpyxl.load_workbook(path).active
    return {f"{column_letters(c.column - 1)}{c.row}"
            for row in ws.iter_rows(min_row=first_data_row) for c in row
            if c.value not in (None, "")}


def test_a_wide_heading_is_never_skipped_quietly(settings, tmp_path):
    """文登 is an alias of Wendeng city (until 2014) and Wendeng district: resolved with the
    file's year. 荣城市 is a typo: its cells are rejected pointing at the heading, with a
    suggestion. 数据来源 is no district: its filled cells are rejected too."""
    rows = [*WIDE_META,
            ["序号", "指标名称", "单位", "环翠区", "文登", "荣城市", "乳山市", "数据来源"],
            [1, "城市管理案件处置率", "%", 99, 98, 97, 96, "数字城管平台"],
            [2, "城市道路机械化清扫率", "%", 95, 94, "", 92, ""]]
    path = write_xlsx(tmp_path / "wide.xlsx", rows)
    receipt = ingest_file(path, settings)
    reconciled(receipt)
    values = accepted_values(settings, receipt)
    assert values[("city_case_resolution_pct", "371003")] == 98.0     # 文登 in 2023
    assert values[("city_case_resolution_pct", "371083")] == 96.0
    typo = [r for r in receipt.rejected if r["fault_cell"] == "F5"]
    assert {r["cell"] for r in typo} == {"F6"}                          # the filled one
    assert "did you mean 荣成市" in typo[0]["reason"] and typo[0]["value"] == "荣城市"
    source = [r for r in receipt.rejected if r["fault_cell"] == "H5"]
    assert [r["cell"] for r in source] == ["H6"] and "unknown district '数据来源'" in \
        source[0]["reason"]
    text = receipt.to_text()
    assert "单元格 cell F5（数值单元格 value cell F6）" in text and "'荣城市'" in text
    # every filled cell of the data rows: a text of a record, a record's value, or 序号
    judged = {r["cell"] for r in receipt.rejected} | {
        c for (c,) in query(settings, "select cell from raw.submission_rows "
                                                     "where status = 'accepted'")}
    value_cells = {c for c in _filled_cells(path, 6) if c[0] in "DEFGH"}
    assert value_cells <= judged


def test_totals_in_a_serial_number_or_first_column_are_checked_not_rejected(settings,
                                                                          tmp_path):
    rows = [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], [],
            ["序号", "指标代码", "区县名称", "数值"],
            [1, "pocket_parks_cum", "环翠区", 80],
            [2, "pocket_parks_cum", "文登区", 60],
            ["合计", "pocket_parks_cum", "", 140],
            ["总计", "", "", 140]]
    receipt = ingest_file(write_csv(tmp_path / "totals.csv", rows), settings)
    reconciled(receipt)
    assert (receipt.rows_accepted, receipt.rows_rejected) == (2, 0)
    verdicts = {t["cell"]: t["verdict"] for t in receipt.totals}
    assert verdicts["D8"].startswith("totals 140 = sum of 2 districts")
    assert "not checked (no known indicator on the row)" in verdicts["D9"]


def test_footer_rows_are_layout_and_their_text_is_kept(settings, tmp_path):
    rows = [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], [],
            ["指标代码", "区县名称", "数值"],
            ["pocket_parks_cum", "环翠区", 80],
            [],
            ["填报人：张三", "", "审核人：李四"],
            ["联系电话", "0631-5200000"],
            ["注：数据截至2023年12月31日。"]]
    receipt = ingest_file(write_csv(tmp_path / "footer.csv", rows), settings)
    reconciled(receipt)
    assert (receipt.rows_accepted, receipt.rows_rejected) == (1, 0)
    assert receipt.footer == ["填报人：张三 审核人：李四", "联系电话 0631-5200000",
                              "注：数据截至2023年12月31日。"]
    assert "表尾信息 Footer" in receipt.to_text() and "审核人：李四" in receipt.to_text()


def test_a_rejection_points_at_the_cell_holding_the_bad_text(settings, tmp_path):
    rows = [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], [],
            ["指标代码", "区县名称", "数值"],
            ["pocket_parks_cum", "环翠", 80],
            ["pocket_parks_cum", "海滨区", 70],
            ["pocket_park_cum", "乳山市", 60]]
    receipt = ingest_file(write_csv(tmp_path / "bad.csv", rows), settings)
    reconciled(receipt)
    at = {r["fault_cell"]: (r["cell"], r["column"]) for r in receipt.rejected}
    assert at == {"B7": ("C7", "district_name"), "A8": ("C8", "indicator_code")}


def test_the_blank_template_is_refused_and_overwrites_nothing(settings, tmp_path):
    from extract.template import write_template

    filled = write_template(tmp_path / "filled.xlsx", "water", 2023, "371000")
    wb = openpyxl.load_workbook(filled)
    for i, row in enumerate(wb["填报表"].iter_rows(min_row=7, max_col=5)):
        row[4].value = 95 + i * 0.5
    wb.save(filled)
    assert ingest_file(filled, settings).status == "loaded"
    before = query(settings, "select count(*), count(value) from "
                                            "raw.submission_rows where status = 'accepted'")

    blank = write_template(tmp_path / "371000_water_2023.xlsx", "water", 2023, "371000")
    receipt = ingest_file(blank, settings)
    assert receipt.status == "rejected"
    assert "did you send the blank template?" in receipt.message
    assert "空白模板" in receipt.to_text()
    assert query(settings, "select count(*), count(value) from "
                                          "raw.submission_rows where status = 'accepted'") == before


def _sewage(value: str, note: str = "") -> list[list]:
    return [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
            ["指标代码", "区县名称", "数值", "备注"],
            ["sewage_treatment_rate_pct", "环翠区", value, note],
            ["sewage_treatment_rate_pct", "文登区", "97.5", ""]]


def test_a_blank_cell_is_not_reported_and_a_marker_is_reported_missing(settings, tmp_path):
    blank = ingest_file(write_csv(tmp_path / "blank.csv", _sewage("")), settings)
    reconciled(blank)
    (ignored,) = [r for r in blank.ignored if r["row"] == 6]
    assert ignored["reason"].startswith("value cell left blank: not reported")
    assert ("sewage_treatment_rate_pct", "371002") not in accepted_values(settings, blank)
    marker = ingest_file(write_csv(tmp_path / "marker.csv", _sewage("—")), settings)
    assert accepted_values(settings, marker)[("sewage_treatment_rate_pct", "371002")] is None


def test_a_missing_marker_replaces_a_figure_only_with_a_reason(settings, tmp_path):
    first = ingest_file(write_csv(tmp_path / "v1.csv", _sewage("98.1")), settings)
    assert first.rows_accepted == 2
    bare = ingest_file(write_csv(tmp_path / "v2.csv", _sewage("无")), settings)
    reconciled(bare)
    (rejected,) = bare.rejected
    assert rejected["cell"] == "C6" and "98.1 was reported earlier (v1.csv" in rejected["reason"]
    assert (bare.rows_accepted, bare.rows_rejected) == (1, 1)
    assert query(settings, "select count(*) from raw.submission_rows where "
                                          "file_hash = ? and status = 'accepted' and "
                                          "district_code = '371002'", [bare.file_hash]) == [(0,)]
    explained = ingest_file(write_csv(tmp_path / "v3.csv",
                                      _sewage("无", "监测站停运，数据作废")), settings)
    assert explained.rows_rejected == 0
    (change,) = [c for c in explained.superseded if c["district_code"] == "371002"]
    assert (change["earlier_value"], change["value"]) == (98.1, None)


def test_file_name_header_and_command_line_disagreeing(settings, tmp_path):
    """The rule (docs/submission-format.md): header and command line must agree or the file
    is refused; a file name that differs is overruled, and the receipt says so."""
    rows = _sewage("98.0")                       # the header says water, 371000, 2023
    stale = write_csv(tmp_path / "371000_water_2022.csv", rows)
    receipt = ingest_file(stale, settings)
    assert (receipt.status, receipt.year) == ("loaded", 2023)
    (note,) = receipt.conflicts
    assert "the file name says '2022', the file's header says '2023'" in note
    assert "来源不一致" in receipt.to_text()

    other = write_csv(tmp_path / "flags.csv", _sewage("97.0"))
    refused = ingest_file(other, settings, year=2022)
    assert refused.status == "rejected"
    assert ("the file's header says '2023', the sender (command line or portal account) "
            "says '2022'") in refused.message
    agreeing = write_csv(tmp_path / "agreeing.csv", _sewage("96.0"))
    assert ingest_file(agreeing, settings, year=2023).status == "loaded"


def _parks(year: int, values: dict[str, str]) -> list[list]:
    return [["填报部门", "housing"], ["城市", "371000"], ["年度", str(year)], [],
            ["指标代码", "区县名称", "数值"],
            *[["pocket_parks_cum", d, v] for d, v in values.items()]]


def test_implausible_values_are_accepted_and_held_for_review(settings, tmp_path):
    """pocket_parks_cum is cumulative and a sum of districts (seeds/plausibility_rules.csv):
    a fall, a more than threefold jump and a district above the city are flagged and held for
    the office's review (the rules' action is hold), not refused."""
    ingest_file(write_csv(tmp_path / "2022.csv", _parks(
        2022, {"环翠区": "91.3", "文登区": "40", "荣成市": "30", "威海市": "500"})), settings)
    receipt = ingest_file(write_csv(tmp_path / "2023.csv", _parks(
        2023, {"环翠区": "1,234.5", "文登区": "35", "荣成市": "31", "威海市": "520"})), settings)
    reconciled(receipt)
    assert receipt.rows_accepted == 4 and receipt.rows_rejected == 0
    rules = {(w["district_code"], w["rule"], w["action"]) for w in receipt.warnings}
    assert rules == {("371002", "yoy_factor", "hold"), ("371002", "above_city_total", "hold"),
                     ("371003", "decrease", "hold")}
    jump = next(w for w in receipt.warnings if w["rule"] == "yoy_factor")
    assert jump["cell"] == "C6" and "91.3 in 2022, 1234.5 in 2023" in jump["message"]
    assert jump["review_item_id"].startswith(f"{receipt.file_hash}:")
    assert "待核实，暂不发布 Held for review" in receipt.to_text()
    assert "2 values held for the office's review" in receipt.message
    assert query(settings, "select count(*) from raw.submission_warnings where file_hash = ? "
                           "and action = 'hold'", [receipt.file_hash]) == [(3,)]


def test_the_office_sees_open_warnings_and_a_passing_correction_clears_one(built, tmp_path):
    """A rule whose action is inform publishes the value with its warning (the published
    marts flag it for the office); a correction that passes the rules takes it off the
    list."""
    from citycheck.warehouse.build import build

    def parking(value: str) -> list[list]:
        return [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], [],
                ["指标代码", "区县名称", "数值"], ["new_parking_spaces", "环翠区", value]]

    def open_warnings() -> dict[str, str]:
        return dict(query(built.warehouse_path,
                          "select district_code, message from marts.mart_plausibility_warnings "
                          "where indicator_code = 'new_parking_spaces' and year = 2023"))

    jump = ingest_file(write_csv(tmp_path / "jump.csv", parking("2500")), built)
    assert [w["action"] for w in jump.warnings] == ["inform"]
    build(built)
    assert "528 in 2022, 2500 in 2023" in open_warnings()["371002"]
    assert query(built.warehouse_path, "select value, plausibility_warning is not null from "
                                       "marts.fct_indicator_values where value_id = "
                                       "'371002|new_parking_spaces|2023'") == [(2500.0, True)]
    fixed = ingest_file(write_csv(tmp_path / "fix.csv", parking("600")), built)
    assert fixed.warnings == [] and fixed.status == "loaded"
    build(built)
    assert "371002" not in open_warnings()


def test_what_the_clerk_could_not_see_is_rejected_not_stored(settings, tmp_path):
    """A hidden row (a stale figure kept out of sight), a hidden district column and a hidden
    sheet holding a table: rejected with the reason; the visible figures load."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "填报表"
    for r in [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], [],
              ["指标代码", "区县名称", "数值"],
              ["pocket_parks_cum", "环翠区", 80],
              ["pocket_parks_cum", "环翠区", 55],          # last year's figure, hidden
              ["pocket_parks_cum", "文登区", 60]]:
        ws.append(r)
    ws.row_dimensions[7].hidden = True
    old = wb.create_sheet("去年")
    for r in [["指标代码", "区县名称", "数值"], ["pocket_parks_cum", "荣成市", 30]]:
        old.append(r)
    old.sheet_state = "hidden"
    path = tmp_path / "hidden.xlsx"
    wb.save(path)
    receipt = ingest_file(path, settings)
    reconciled(receipt)
    assert accepted_values(settings, receipt) == {("pocket_parks_cum", "371002"): 80.0,
                                                  ("pocket_parks_cum", "371003"): 60.0}
    why = {(r["sheet"], r["row"]): r["reason"] for r in receipt.rejected}
    assert why[("填报表", 7)].startswith("row 7 is hidden in Excel")
    assert why[("去年", 2)].startswith("sheet '去年' is hidden in Excel")

    rows = [*WIDE_META, ["序号", "指标名称", "单位", "环翠区", "文登区", "荣成市"],
            [1, "城市管理案件处置率", "%", 99, 98, 97]]
    wide = write_xlsx(tmp_path / "wide-hidden.xlsx", rows)
    wb = openpyxl.load_workbook(wide)
    wb.active.column_dimensions["F"].hidden = True
    wb.save(wide)
    receipt = ingest_file(wide, settings)
    (hidden,) = receipt.rejected
    assert hidden["cell"] == "F6" and hidden["reason"].startswith("column F is hidden in Excel")


def test_columns_not_read_are_listed_and_a_stray_figure_is_rejected(settings, tmp_path):
    rows = [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], [],
            ["序号", "指标代码", "区县名称", "数值", "数据来源", ""],
            [1, "pocket_parks_cum", "环翠区", 80, "园林局台账", ""],
            [2, "pocket_parks_cum", "文登区", 60, "", "65"]]
    receipt = ingest_file(write_csv(tmp_path / "extra.csv", rows), settings)
    reconciled(receipt)
    assert receipt.rows_accepted == 2
    unread = {r["cell"]: r["reason"] for r in receipt.ignored if r.get("cell")}
    assert unread["A5"].startswith("column not read: '序号'")
    assert unread["E5"].startswith("column not read: '数据来源'")
    (stray,) = receipt.rejected
    assert (stray["cell"], stray["value"]) == ("F7", "65")
    assert "column without a heading" in stray["reason"]


def test_a_cell_formatted_as_a_percentage_is_rejected_not_read_as_its_fraction(settings,
                                                                             tmp_path):
    """0.985 in a cell formatted 0.0% shows as 98.5% to the clerk: read as 0.985 it would be a
    wrong figure inside the valid range, so it is rejected with the reason."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
              ["指标代码", "区县名称", "数值"],
              ["sewage_treatment_rate_pct", "环翠区", 0.985],
              ["sewage_treatment_rate_pct", "文登区", 97.5]]:
        ws.append(r)
    ws["C6"].number_format = "0.0%"
    path = tmp_path / "percent.xlsx"
    wb.save(path)
    receipt = ingest_file(path, settings)
    reconciled(receipt)
    assert accepted_values(settings, receipt) == {("sewage_treatment_rate_pct", "371003"): 97.5}
    (rejected,) = receipt.rejected
    assert rejected["cell"] == "C6" and "Excel shows as 98.5%" in rejected["reason"]
