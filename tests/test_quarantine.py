"""A file with one bad row: the row is quarantined with its reason, the rest is published."""
import csv

import pytest

from citycheck.pipeline import run_all
from extract.submissions import ingest_inbox
from tests.helpers import query

HEADER = ["指标代码 indicator_code", "指标名称 indicator_name", "区县代码 district_code",
          "区县名称 district_name", "数值 value", "单位 unit", "质量标记 quality_flag", "备注 note"]


def _correction(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerows([["填报部门 Department", "water"], ["城市 City", "371000"],
                     ["年度 Year", "2023"], [], HEADER, *rows])


def test_bad_row_is_quarantined_and_the_rest_published(built):
    _correction(built.inbox_dir / "水务局2023更正.csv", [
        ["sewage_treatment_rate_pct", "城市污水处理率", "", "环翠区", "99.1", "%", "", "更正"],
        ["sewage_treatment_rate_pct", "城市污水处理率", "", "环翠县", "98.0", "%", "", ""],
        ["sewage_treatment_rate_pct", "城市污水处理率", "", "文登区", "九十八", "%", "", ""],
        ["", "", "", "合计", "", "", "", ""],
    ])
    summary = run_all(built, fetch=False)
    (receipt,) = summary.receipts
    assert (receipt.rows_read, receipt.rows_accepted, receipt.rows_rejected,
            receipt.rows_ignored) == (9, 1, 2, 6)
    assert receipt.rows_read == receipt.rows_accepted + receipt.rows_rejected + receipt.rows_ignored
    reasons = {r["row"]: r for r in receipt.rejected}
    assert reasons[7]["column"] == "district_name" and "环翠区" in reasons[7]["reason"]
    assert reasons[8]["column"] == "value" and "'九十八' is not a number" in reasons[8]["reason"]

    quarantined = query(built.serving_path,
                        "select source_row, field_name, district_text, value_text, reason "
                        "from mart_quarantine order by source_row")
    assert [(q[0], q[1], q[2]) for q in quarantined] == [(7, "district_name", "环翠县"),
                                                          (8, "value", "文登区")]
    assert "unknown district '环翠县'" in quarantined[0][4]

    (current,) = query(built.serving_path,
                       "select value, is_revised, version_count from fct_indicator_values where "
                       "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371002' "
                       "and year = 2023")
    assert current == (99.1, True, 2)
    versions = query(built.serving_path,
                     "select version_number, value from fct_indicator_value_versions where "
                     "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371002' "
                     "and year = 2023 order by 1")
    assert len(versions) == 2 and versions[1][1] == 99.1  # the first version stays queryable
    (flag,) = query(built.serving_path,
                    "select is_revised from mart_indicator_scorecard where indicator_code = "
                    "'sewage_treatment_rate_pct' and district_code = '371002' and year = 2023")
    assert flag == (True,)


def test_unreadable_file_is_rejected_whole_and_loses_nothing(built):
    (built.inbox_dir / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    before = query(built.warehouse_path, "select count(*) from raw.submission_rows")
    summary = run_all(built, fetch=False)
    (receipt,) = summary.receipts
    assert receipt.status == "rejected"
    assert "not a valid .xlsx workbook" in receipt.message and "save it again" in receipt.message
    assert query(built.warehouse_path, "select count(*) from raw.submission_rows") == before
    assert query(built.warehouse_path, "select status from raw.submission_files where "
                 "original_name = 'broken.xlsx'") == [("rejected",)]


@pytest.mark.parametrize("reason_fragment, row", [
    ("does not answer for indicator", ["utility_tunnel_km", "", "371002", "", "1", "km", "", ""]),
    ("outside the valid range", ["sewage_treatment_rate_pct", "", "371002", "", "140", "%", "", ""]),
    ("unknown indicator", ["污水处理", "", "371002", "", "90", "%", "", ""]),
])
def test_rows_a_department_cannot_send(built, reason_fragment, row):
    # intake alone: that such a row keeps the rest from nothing is the test above's
    _correction(built.inbox_dir / "water.csv", [row])
    (receipt,) = ingest_inbox(built)
    assert receipt.rows_rejected == 1 and reason_fragment in receipt.rejected[0]["reason"]
    assert query(built.warehouse_path, "select count(*) from raw.submission_rows r join "
                 "raw.submission_files f using (file_hash) where f.original_name = 'water.csv' "
                 "and r.status = 'rejected' and r.reason like ?",
                 [f"%{reason_fragment}%"]) == [(1,)]


def test_cli_run_reports_where_and_why_rows_were_rejected(built, capsys):
    from citycheck.cli import main

    _correction(built.inbox_dir / "水务局.csv", [
        ["sewage_treatment_rate_pct", "", "", "环翠县", "98.0", "%", "", ""]])
    assert main(["run", "--no-fetch"]) == 0  # the file's bad row does not stop the pipeline
    out = capsys.readouterr().out
    assert "rejected 水务局.csv [水务局.csv] row 6, column district_name: unknown district " \
           "'环翠县' in 威海市; did you mean 环翠区?" in out
    assert "rejected 1 + layout" in out
    assert "mart_quarantine" in out and "rows" in out
