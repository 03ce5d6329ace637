"""Reading a long table's plain rows column by column (extract/layout.py: RecordRun) gives
every file exactly what reading each row on its own gives: the same context, layout, notes
and verdicts (status, reason, column and cell at fault, what is stored), and through the
real intake the same rows in raw.submission_rows and the same receipts.

Checked on every sample submission, every layout clerks send, the benchmark's files,
Hypothesis's generated department files, and long tables whose rows Hypothesis spoils the
ways that must stop a run (a blank or footer row, a total, a stray or missing cell, an empty
first cell or district, text a spreadsheet would run as a formula, a heading that starts
another table): `extract.layout.COLUMNAR = False` is the row-by-row reading.
"""
from __future__ import annotations

import csv
import os
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import extract.layout
from citycheck.devtools.bench import SCALES, write_reference, write_submissions
from common.reference import load_reference
from extract.layout import RecordRun
from extract.submissions import SubmissionError, ingest_files, interpret, read_file
from extract.submissions.landing import Submission
from tests.clerk_files import LAYOUTS
from tests.generated_submissions import CITY, DEPARTMENT, DISTRICTS, INDICATORS, generated_files
from tests.helpers import make_settings, query

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "data" / "sample" / "submissions").iterdir())
EXAMPLES = int(os.environ.get("CITYCHECK_PROPERTY_EXAMPLES", "60"))


def both_ways(path: Path, ref, monkeypatch, **stated) -> tuple:
    """interpret() column by column and row by row: (context, verdicts, layout, notes), or
    the message of the file's refusal."""
    out = []
    for columnar in (True, False):
        monkeypatch.setattr(extract.layout, "COLUMNAR", columnar)
        try:
            out.append(interpret(path, ref, **stated))
        except SubmissionError as exc:
            out.append(str(exc))
    monkeypatch.setattr(extract.layout, "COLUMNAR", True)
    return tuple(out)


def assert_same(path: Path, ref, monkeypatch, **stated) -> None:
    columnar, by_row = both_ways(path, ref, monkeypatch, **stated)
    if isinstance(by_row, str):
        assert columnar == by_row
        return
    assert columnar[0] == by_row[0] and columnar[2] == by_row[2]
    assert columnar[3] == by_row[3], f"{path.name}: notes differ"
    assert len(columnar[1]) == len(by_row[1])
    for new, old in zip(columnar[1], by_row[1], strict=True):
        assert new == old, f"{path.name}: {new} != {old}"


def runs_in(path: Path, ref) -> int:
    """How many records of the file were read column by column."""
    return sum(len(e) for _, e in read_file(path, ref).entries.parts() if type(e) is RecordRun)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_submissions(path, monkeypatch):
    assert_same(path, load_reference(), monkeypatch)


@pytest.mark.parametrize("clerk_file", LAYOUTS, ids=[f.name for f in LAYOUTS])
def test_layouts_clerks_send(tmp_path, clerk_file, monkeypatch):
    assert_same(clerk_file.make(tmp_path), load_reference(), monkeypatch)


def test_benchmark_files_are_read_by_column_with_the_same_verdicts(tmp_path, monkeypatch):
    write_reference(SCALES["S"], tmp_path / "project")
    write_submissions(SCALES["S"], tmp_path / "inbox")
    ref = load_reference(tmp_path / "project" / "seeds")
    files = sorted((tmp_path / "inbox").iterdir())[::5]
    for path in files:
        assert_same(path, ref, monkeypatch)
        # every data row of the template's layout is plain: one run, no record on its own
        rows = sum(1 for _ in open(path, encoding="utf-8")) - 5
        assert runs_in(path, ref) == rows, path.name


def _property(test=None, examples: int = EXAMPLES):
    if test is None:
        return lambda t: _property(t, examples)
    test = settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])(test)
    return hypothesis_seed(20261207)(test)


@_property(examples=max(1, EXAMPLES // 2))    # the intake property test lands 60 more
@given(generated=generated_files())
def test_generated_department_files(generated, tmp_path, monkeypatch):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))      # a folder per example
    path = generated.write(folder)
    assert_same(path, load_reference(), monkeypatch, year=generated.sender_year)


# -- long tables spoiled the ways that must stop a run -------------------------------------

HEADERS = {
    "codes": ["指标代码", "区县代码", "数值"],
    "names": ["指标代码", "区县名称", "数值", "备注"],
    "numbered": ["序号", "指标代码", "区县", "数值", "单位"],
}
SPOILS = ["blank", "empty_row", "footer", "note_footer", "footer_first", "footer_label",
          "total_district", "total_indicator", "stray", "short", "empty_district",
          "empty_first", "space_first", "formula_text",
          "minus_text", "plus_district", "heading", "meta_label", "fullwidth", "approx",
          "thousands", "bad_number", "unknown_district", "empty_value", "dash_value"]


def _plain(header: str, k: int, code: str, district: str, value: str) -> list[str]:
    name = DISTRICTS[district][k % len(DISTRICTS[district])]
    if header == "codes":
        return [code, district, value]
    if header == "names":
        return [code, name, value, ""]
    return [str(k + 1), code, name, value, INDICATORS[code][1]]


def _spoil(row: list[str], how: str, header: str) -> list[str]:
    row = list(row)
    value_at = HEADERS[header].index("数值")
    district_at = 1 if header != "numbered" else 2
    code_at = 0 if header != "numbered" else 1
    match how:
        case "blank":
            return [""] * len(row)
        case "empty_row":
            return []
        case "footer":
            return ["填报人：张三"] + [""] * (len(row) - 1)
        case "note_footer":
            return ["注：数据来源于住建局"]
        case "footer_first":        # a footer's label first, the rest of the row filled
            row[0] = "备注：估算"
        case "footer_label":
            row[0] = "联系电话"
        case "total_district":
            row[district_at] = "合计"
        case "total_indicator":
            row[code_at], row[district_at] = "合计", ""
        case "stray":
            row.append("99")
        case "short":
            row = row[:-1]
        case "empty_district":
            row[district_at] = ""
        case "empty_first":
            row[0] = ""
        case "space_first":
            row[0] = "  " + row[0]
        case "formula_text":
            row[code_at] = "=HYPERLINK(\"x\")"
        case "minus_text":
            row[-1 if header != "codes" else district_at] = "-"
        case "plus_district":
            row[district_at] = "+" + row[district_at]
        case "heading":
            return HEADERS[header]
        case "meta_label":
            return ["年度", "2023"]
        case "fullwidth":
            row[value_at] = "１２．５"
        case "approx":
            row[value_at] = "约30"
        case "thousands":
            row[value_at] = "1,234"
        case "bad_number":
            row[value_at] = "12.5①"
        case "unknown_district":
            row[district_at] = "999999" if header == "codes" else "不存在区"
        case "empty_value":
            row[value_at] = ""
        case "dash_value":
            row[value_at] = "—"
    return row


@st.composite
def spoiled_tables(draw) -> tuple[str, list[list[str]]]:
    header = draw(st.sampled_from(sorted(HEADERS)))
    count = draw(st.integers(1, 24))
    rows = []
    for k in range(count):
        code = draw(st.sampled_from(sorted(INDICATORS)))
        district = draw(st.sampled_from(sorted(DISTRICTS)))
        value = draw(st.sampled_from(["12", "7.5", "0", "1500", "33.3"]))
        rows.append(_plain(header, k, code, district, value))
    # a few rows spoiled, often at the end (where a run stops short of them)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.one_of(st.just(len(rows)), st.integers(0, len(rows))))
        how = draw(st.sampled_from(SPOILS))
        base = rows[min(at, len(rows) - 1)]
        rows.insert(at, _spoil(base, how, header))
    meta = [["填报部门", DEPARTMENT], ["城市", CITY], ["年度", "2023"], []]
    return header, meta + [HEADERS[header]] + rows


@_property
@given(table=spoiled_tables(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]))
def test_spoiled_long_tables(table, encoding, tmp_path, monkeypatch):
    header, rows = table
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / f"{CITY}_{DEPARTMENT}_2023.csv"
    with open(path, "w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(rows)
    assert_same(path, load_reference(), monkeypatch)


def test_a_run_stops_at_what_is_not_plain(tmp_path):
    """The run takes the plain rows, and reading stops it at a footer; a total in the
    middle reads the whole table row by row."""
    ref = load_reference()
    meta = [["填报部门", DEPARTMENT], ["城市", CITY], ["年度", "2023"], [], HEADERS["codes"]]
    plain = [["pocket_parks_cum", d, "12"] for d in DISTRICTS]
    path = tmp_path / f"{CITY}_{DEPARTMENT}_2023.csv"
    for tail, expected in ((["填报人：张三"], len(plain)), ([], len(plain)), (None, 0)):
        rows = meta + plain + [[]] + [tail] if tail is not None else \
            meta + plain[:3] + [["pocket_parks_cum", "合计", "36"]] + plain[3:]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        assert runs_in(path, ref) == expected


def test_intake_lands_the_same_rows_and_receipts(tmp_path, monkeypatch):
    """Through the real intake, column by column and row by row into two warehouses: the
    same rows in raw.submission_rows and the same receipts, with rejections inside a run
    (an unknown district, a figure that is no number) listed cell by cell."""
    write_reference(SCALES["S"], tmp_path / "project")
    write_submissions(SCALES["S"], tmp_path / "inbox")
    files = sorted((tmp_path / "inbox").iterdir())[:6]
    spoiled = files[0].read_text("utf-8").splitlines()
    spoiled[7] = spoiled[7].rsplit(",", 1)[0] + ",12.5①"        # no number
    spoiled[9] = "bench_000,D999999999,5"                        # no such district
    files[0].write_text("\n".join(spoiled) + "\n", "utf-8")
    landed = {}
    for columnar in (True, False):
        monkeypatch.setattr(extract.layout, "COLUMNAR", columnar)
        monkeypatch.setenv("CITYCHECK_DBT_PROJECT_DIR", str(tmp_path / "project"))
        where = make_settings(tmp_path / f"w{columnar}", monkeypatch)
        ref = load_reference(tmp_path / "project" / "seeds")
        received = datetime(2026, 3, 1, 9, 0)
        receipts = ingest_files([Submission(p, received) for p in files], where, ref=ref)
        rows = query(where.warehouse_path,
                     "select * exclude (loaded_at) from raw.submission_rows "
                     "order by file_hash, record_number")
        landed[columnar] = ([r.to_dict() | {"archived_path": None} for r in receipts], rows)
    assert landed[True][1] == landed[False][1]
    assert landed[True][0] == landed[False][0]
    first = landed[True][0][0]
    assert first["rows_rejected"] == 2
    assert {(r["cell"], r["fault_cell"]) for r in first["rejected"]} == {
        ("C8", "C8"), ("C10", "B10")}
    # both read inside the run: the receipt's cells came from RecordRun.record
    monkeypatch.setattr(extract.layout, "COLUMNAR", True)
    assert runs_in(files[0], load_reference(tmp_path / "project" / "seeds")) == \
        len(spoiled) - 5
