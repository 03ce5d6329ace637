"""Reading department files: layout, header block, totals rows, encodings, duplicates."""
import csv

import openpyxl
import pytest

from common.messages import say
from common.reference import load_reference
from extract.submissions import ingest_file, interpret, safe_name
from tests.helpers import query

pytestmark = pytest.mark.both_engines  # conftest.py: each test on DuckDB and on PostgreSQL

HEADER = ["指标代码 indicator_code", "指标名称 indicator_name", "区县代码 district_code",
          "区县名称 district_name", "数值 value", "单位 unit", "质量标记 quality_flag", "备注 note"]
META = [["填报部门 Department", "commerce"], ["城市 City", "371000"], ["年度 Year", "2022"], []]


def test_csv_in_gbk_with_title_totals_and_blank_rows(tmp_path):
    path = tmp_path / "商务局.csv"
    rows = [["威海市夜间经济集聚区统计表"], *META, HEADER,
            ["", "夜间消费集聚区", "", "环翠区", "5", "处", "", ""],
            ["", "", "", "", "", "", "", ""],
            ["", "夜间消费集聚区", "", "荣成市", "—", "处", "", "暂无统计"],
            ["", "夜间消费集聚区", "", "合计", "5", "处", "", ""]]
    with open(path, "w", newline="", encoding="gbk") as fh:
        csv.writer(fh).writerows(rows)
    ctx, verdicts, *_ = interpret(path, load_reference())
    assert (ctx.department_code, ctx.city_code, ctx.year) == ("commerce", "371000", 2022)
    by_row = {v.row_number: v for v in verdicts}
    assert by_row[7].status == "accepted" and by_row[7].value == 5.0
    assert by_row[8].reason == say("layout_blank")
    assert by_row[9].status == "accepted" and by_row[9].is_missing and by_row[9].value is None
    assert by_row[10].reason.startswith("totals row")
    assert len(verdicts) == len(rows)  # every row read has a verdict


def test_xlsx_with_unit_in_header_and_an_extra_sheet(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in [*META, ["指标名称", "区县名称", "数值（处）"], ["夜间消费集聚区", "经区", 3]]:
        ws.append(r)
    wb.create_sheet("填报说明").append(["请按区县填写"])
    path = tmp_path / "commerce.xlsx"
    wb.save(path)
    _, verdicts, *_ = interpret(path, load_reference())
    accepted = [v for v in verdicts if v.status == "accepted"]
    assert [(v.district_code, v.value) for v in accepted] == [("371072", 3.0)]
    assert [v.reason for v in verdicts if v.sheet == "填报说明"] == [say("layout_no_table")]


def test_department_and_year_from_the_file_name(tmp_path):
    path = tmp_path / "371000_commerce_2021.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh).writerows([["指标代码", "区县", "数值"], ["night_economy_clusters", "乳山", "2"]])
    ctx, verdicts, *_ = interpret(path, load_reference())
    assert (ctx.department_code, ctx.year) == ("commerce", 2021)
    assert verdicts[-1].status == "accepted" and verdicts[-1].district_code == "371083"


def test_same_bytes_twice_load_once_and_get_a_receipt(settings, tmp_path):
    path = tmp_path / "371000_commerce_2021.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["指标代码", "区县", "数值"], ["night_economy_clusters", "乳山", "2"]])
    first = ingest_file(path, settings)
    renamed = tmp_path / "copy of the same file.csv"
    renamed.write_bytes(path.read_bytes())
    second = ingest_file(renamed, settings)
    assert (first.status, second.status) == ("loaded", "duplicate")
    assert query(settings, "select count(*) from raw.submission_rows") == [(2,)]
    archive = settings.archive_dir / first.file_hash[:2] / first.file_hash
    assert (archive / "receipt.json").exists() and list(archive.glob("duplicate-*.txt"))
    text = (archive / "receipt.txt").read_text(encoding="utf-8")
    assert "数据报送回执" in text and "Records read: 2 = 接收 accepted 1" in text


def test_file_without_a_table_is_rejected_with_what_to_do(settings, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("会议纪要\n请各部门按时报送\n", encoding="utf-8")
    receipt = ingest_file(path, settings)
    assert receipt.status == "rejected" and "no data table found" in receipt.message
    assert receipt.rows_read == 0
    assert query(settings, "select count(*) from raw.submission_rows") == [(0,)]


def test_archived_name_cannot_leave_the_archive():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\boot.ini") == "boot.ini"
    assert "/" not in safe_name("a/b/../c.xlsx") and not safe_name("..").startswith(".")


def test_a_rejected_row_does_not_block_its_correction_further_down(tmp_path):
    path = tmp_path / "371000_commerce_2022.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([
            ["指标代码", "区县", "数值", "质量标记"],
            ["night_economy_clusters", "乳山", "2", "大概"],   # unknown flag: rejected
            ["night_economy_clusters", "乳山", "3", "估算"],   # the corrected row: accepted
            ["night_economy_clusters", "乳山", "3", ""],       # the same again: a duplicate
            ["night_economy_clusters", "文登", "4", ""],
            ["night_economy_clusters", "文登", "5", ""],       # another figure: neither stands
        ])
    _, verdicts, *_ = interpret(path, load_reference())
    assert [(v.status, v.value, v.quality_flag) for v in verdicts[1:]] == [
        ("rejected", None, None), ("accepted", 3.0, "estimated"), ("rejected", None, None),
        ("rejected", None, None), ("rejected", None, None)]
    assert "unknown quality flag '大概'" in verdicts[1].reason
    assert "already given in row" in verdicts[3].reason
    assert "given twice in the file with different figures (4, 5" in verdicts[4].reason
    assert verdicts[4].reason == verdicts[5].reason
