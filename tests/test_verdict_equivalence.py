"""The set-based verdicts (extract/verdicts.py) equal the record-at-a-time ones they replaced
(tests/record_judge.py), record by record: status, reason, the column and cell at fault, and
what is stored, on every sample submission, every layout clerks send, the benchmark's files
and a file made of every rule's edge cases."""
from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from citycheck.devtools.bench import SCALES, write_reference, write_submissions
from common.reference import load_reference
from extract.submissions import SubmissionError, interpret
from tests.clerk_files import LAYOUTS
from tests.record_judge import record_verdicts

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "data" / "sample" / "submissions").iterdir())
FIELDS = ("sheet", "row_number", "cell", "status", "reason", "column", "fault_cell",
          "indicator_code", "district_code", "year", "value", "is_missing", "quality_flag")


def verdict_table(verdicts) -> list[tuple]:
    """What the receipt and raw.submission_rows show of each verdict (a rejection's cell at
    fault is its value cell unless it names another)."""
    return [tuple((v.fault_cell or v.cell) if f == "fault_cell" else getattr(v, f)
                  for f in FIELDS) for v in verdicts]


def assert_same_verdicts(path: Path, ref) -> list[tuple]:
    try:
        record_at_a_time = verdict_table(record_verdicts(path, ref))
    except SubmissionError as exc:          # refused as a whole: refused the same way
        with pytest.raises(SubmissionError, match=str(exc)[:40]):
            interpret(path, ref)
        return []
    set_based = verdict_table(interpret(path, ref)[1])
    assert len(set_based) == len(record_at_a_time)
    for new, old in zip(set_based, record_at_a_time, strict=True):
        assert new == old, f"{path.name}: {dict(zip(FIELDS, new, strict=True))} != " \
                           f"{dict(zip(FIELDS, old, strict=True))}"
    return set_based


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_submissions(path):
    assert assert_same_verdicts(path, load_reference())


@pytest.mark.parametrize("clerk_file", LAYOUTS, ids=[f.name for f in LAYOUTS])
def test_layouts_clerks_send(tmp_path, clerk_file):
    assert assert_same_verdicts(clerk_file.make(tmp_path), load_reference())


def test_benchmark_files(tmp_path):
    write_reference(SCALES["S"], tmp_path / "project")
    write_submissions(SCALES["S"], tmp_path / "inbox")
    ref = load_reference(tmp_path / "project" / "seeds")
    files = sorted((tmp_path / "inbox").iterdir())[::7]
    for path in files:
        assert assert_same_verdicts(path, ref)


PARKS = "口袋公园新建改造（累计）"
META = [["填报部门", "housing"], ["城市", "371000"], ["年度", "2023"], []]
HEADER = ["指标代码", "指标名称", "区县", "年度", "数值", "单位", "质量标记", "备注"]
# Each rule, and the order the rules are asked in, once or more (the comment says which).
EDGE_ROWS = [
    ["pocket_parks_cum", "", "环翠区", "", "12", "处", "", ""],          # accepted
    ["pocket_parks_cum", "", "环翠区", "", "12", "处", "", ""],          # duplicate
    ["pocket_parks_cum", "", "乳山市", "", "7", "处", "", ""],           # given twice, and
    ["pocket_parks_cum", "", "乳山市", "", "8", "处", "", ""],           # differently: neither
    ["", PARKS, "文登区", "2022年", "约 30", "", "", ""],                # approximate, by name
    ["", "口袋公园新建改造（累计）（处）", "荣成市", "", "1,234", "", "", ""],  # unit by its name
    ["no_such_indicator", "", "乳山市", "", "5", "", "", ""],             # unknown indicator
    ["night_economy_clusters", "", "乳山市", "", "5", "", "", ""],        # another department's
    ["pocket_parks_cum", "", "乳山市", "20x3", "5", "", "", ""],          # not a year
    ["pocket_parks_cum", "", "不存在区", "", "5", "", "", ""],            # unknown district
    ["coastal_walkway_works_pct", "", "乳山市", "", "50", "", "", ""],    # city-level only
    ["pocket_parks_cum", "", "经区", "", "5", "个", "", ""],              # another unit
    ["pocket_parks_cum", "", "高区", "", "5", "", "大概", ""],            # unknown flag
    ["pocket_parks_cum", "", "临港区", "", "五", "", "", ""],             # not a number
    ["pocket_parks_cum", "", "南海新区", "", "", "", "", ""],             # blank: not reported
    ["pocket_parks_cum", "", "威海市", "", "—", "", "", "暂无"],          # missing marker
    ["pocket_parks_cum", "", "文登区", "", "n/a", "", "初步", ""],        # missing, flagged
    ["utility_tunnel_km", "", "环翠区", "", "9999", "km", "", ""],        # out of range
    ["utility_tunnel_km", "", "文登区", "", "-1e400", "km", "", ""],      # out of range, -inf
    ["utility_tunnel_km", "", "荣成市", "", "12.5%", "km", "估算", ""],   # % on a km figure
    ["utility_tunnel_km", "", "荣成市", "", "+.5", "km", "", ""],         # accepted
    ["utility_tunnel_km", "", "高区", "", "12,5", "km", "", ""],          # a decimal comma
    ["utility_tunnel_km", "", "临港区", "", "3①", "km", "", ""],          # a mark after it
    ["utility_tunnel_km", "", "乳山市", "", "约为3", "km", "", ""],       # 约 then 为3
    ["utility_tunnel_km", "", "乳山市", "2023", "１２", "km", "修订", ""],  # full-width
    ["utility_tunnel_km", "", "经区", "", "≈ 7", "", "revised", ""],      # ≈, English flag
    ["utility_tunnel_km", "", "合计", "", "33.5", "km", "", ""],          # totals, checked
    ["pocket_parks_cum", "", "合计", "2022", "30", "", "", ""],          # totals, another year
]


def test_every_rule_on_a_csv(tmp_path):
    path = tmp_path / "371000_housing_2023.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([*META, HEADER, *EDGE_ROWS])
    verdicts = assert_same_verdicts(path, load_reference())
    statuses = [v[3] for v in verdicts]
    assert {"accepted", "rejected", "ignored"} <= set(statuses)
    reasons = " ".join(v[4] or "" for v in verdicts)
    for rule in ("duplicate:", "unknown indicator", "does not answer for", "is not a year",
                 "unknown district", "whole city only", "differs from the catalogue unit",
                 "unknown quality flag", "is not a number", "left blank",
                 "outside the valid range", "totals", "with different figures",
                 "carries a % sign", "decimal point"):
        assert rule in reasons, rule


def test_every_rule_on_a_workbook(tmp_path):
    """Spreadsheet numbers, booleans, dates, a formula without a saved result."""
    from datetime import datetime

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [*META, HEADER, *EDGE_ROWS]:
        ws.append(row)
    for row in (["pocket_parks_cum", "", "高区", "", 7, "", "", ""],
                ["pocket_parks_cum", "", "临港区", "", True, "", "", ""],
                ["utility_tunnel_km", "", "高区", "", 2.25, "", "", ""],
                ["utility_tunnel_km", "", "临港区", "", datetime(2023, 1, 1), "", "", ""],
                ["utility_tunnel_km", "", "南海新区", "", "=1+1", "", "", ""],
                ["utility_tunnel_km", "", "威海市", "", 600.0, "", "", ""]):
        ws.append(row)
    path = tmp_path / "371000_housing_2023.xlsx"
    wb.save(path)
    verdicts = assert_same_verdicts(path, load_reference())
    reasons = " ".join(v[4] or "" for v in verdicts)
    assert "formula without a saved result" in reasons and "'True' is not a number" in reasons


def test_a_file_refused_as_a_whole_is_refused_the_same_way(tmp_path):
    path = tmp_path / "371000_housing_2023.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([*META, HEADER, ["pocket_parks_cum", "", "环翠区", "", "", "",
                                                   "", ""]])
    assert assert_same_verdicts(path, load_reference()) == []
