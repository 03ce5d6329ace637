"""Large bad files: what intake stores and says stays bounded, and nothing is lost.

A receipt lists the first LISTED rejected records cell by cell and counts the rest by reason;
every record's own reason stays in raw.submission_rows. A figure given many times names the
first few places, not all of them (each record of a key given n times named all n: a
20,000-row file took intake past DuckDB's 1.8 GiB and failed with "please report it").
"""
from __future__ import annotations

import json
import time

from extract.submissions import ingest_file
from extract.submissions.receipts import LISTED, Receipt
from extract.verdicts import SHOWN_GIVEN
from tests.helpers import query


def _water_csv(path, values) -> object:
    lines = ["填报部门,water", "城市,371000", "年度,2023", "", "指标代码,区县名称,数值"]
    lines += [f"sewage_treatment_rate_pct,环翠区,{v}" for v in values]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _stored(settings, receipt) -> dict:
    (text,) = query(settings, "select receipt_json from raw.submission_receipts "
                              "where file_hash = ? and stem = 'receipt'", [receipt.file_hash])[0]
    return json.loads(text)


def test_a_figure_given_thousands_of_times_is_judged_in_bounded_memory(settings, tmp_path):
    n = 20_000
    path = _water_csv(tmp_path / "371000_water_2023.csv", [i % 7 for i in range(n)])
    started = time.monotonic()
    receipt = ingest_file(path, settings)
    assert time.monotonic() - started < 60
    assert receipt.status == "loaded", receipt.message
    assert (receipt.rows_accepted, receipt.rows_rejected) == (0, n)
    reasons = query(settings, "select reason from raw.submission_rows "
                              "where file_hash = ? and status = 'rejected'", [receipt.file_hash])
    assert len(reasons) == n
    first_places = ", ".join(f"371000_water_2023.csv!C{6 + i}" for i in range(SHOWN_GIVEN))
    for (reason,) in reasons:
        # the first places, and how many more: not 20,000 of them in every reason
        assert f"{first_places} … +{n - SHOWN_GIVEN}" in reason and len(reason) < 600
        assert "0, 1, 2, 3, 4 … +2" in reason


def test_a_receipt_lists_the_first_rejections_and_counts_the_rest_by_reason(settings,
                                                                            tmp_path):
    bad = LISTED + 700
    values = [f"abc{i}" for i in range(bad)] + [f"{i % 90}.5" for i in range(300)]
    path = _water_csv(tmp_path / "371000_water_2023.csv", values)
    # the same indicator and district given 300 times with different figures: another reason
    receipt = ingest_file(path, settings)
    assert receipt.rows_rejected == bad + 300 and receipt.rows_accepted == 0
    assert receipt.rows_read == receipt.rows_accepted + receipt.rows_rejected + \
        receipt.rows_ignored
    assert len(receipt.rejected) == LISTED
    assert [r["cell"] for r in receipt.rejected[:2]] == ["C6", "C7"]
    unlisted = {t["reason"][:40]: t for t in receipt.rejected_unlisted}
    assert sum(t["count"] for t in receipt.rejected_unlisted) == bad + 300 - LISTED
    not_a_number = unlisted["'…' is not a number: write a number such"]
    assert not_a_number["count"] == bad - LISTED and not_a_number["column"] == "value"
    assert not_a_number["first"] == f"371000_water_2023.csv!C{6 + LISTED}"
    assert "“…”不是数字" in not_a_number["reason"] and "无数据处写“—”" in not_a_number["reason"]
    assert sum(t["count"] for t in receipt.rejected_unlisted
               if t["reason"].startswith("given twice")) == 300
    # what the clerk reads says so, in both languages
    text = receipt.to_text()
    assert f"另有 {bad + 300 - LISTED} 条退回记录未逐条列出" in text
    assert f"{bad - LISTED} × 列 column value" in text
    assert f"the first {LISTED} rejections are listed" in receipt.message
    assert f"前 {LISTED} 条退回记录逐条列出" in receipt.message
    # the stored receipt is the same, and bounded
    stored = _stored(settings, receipt)
    assert stored["rejected_unlisted"] == receipt.rejected_unlisted
    assert len(stored["rejected"]) == LISTED
    # every record's own reason is in the warehouse
    (last,) = query(settings, "select reason from raw.submission_rows where file_hash = ? "
                              "and cell = ?", [receipt.file_hash, f"C{5 + bad}"])
    assert f"'abc{bad - 1}' is not a number" in last[0]


def test_layout_rows_past_the_list_are_counted_too(settings, tmp_path):
    lines = ["填报部门,water", "城市,371000", "年度,2023", "", "指标代码,区县名称,数值",
             "sewage_treatment_rate_pct,环翠区,97.5"]
    lines += ["说明：本行为填报说明"] * (LISTED + 50)
    path = tmp_path / "371000_water_2023.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    receipt = ingest_file(path, settings)
    assert receipt.rows_accepted == 1
    assert len(receipt.ignored) == LISTED
    assert receipt.rows_ignored == LISTED + sum(t["count"] for t in receipt.ignored_unlisted)
    assert "more layout rows, not listed one by one" in receipt.to_text()


def test_rejections_added_after_judging_are_listed_then_counted():
    receipt = Receipt("f.csv", "h", "2026-12-06", "loaded", "")
    for i in range(LISTED + 3):
        receipt.reject({"sheet": "S", "row": i + 6, "cell": f"C{i + 6}", "fault_cell": None,
                        "column": "year", "value": str(i),
                        "reason": f"round closed for '{i}' “{i}”"})
    assert len(receipt.rejected) == LISTED
    assert receipt.rejected_unlisted == [{"column": "year", "count": 3,
                                          "reason": "round closed for '…' “…”",
                                          "first": f"S!C{LISTED + 6}"}]


def test_the_same_bytes_sent_again_after_some_records_were_refused_are_read_again(settings,
                                                                                   tmp_path):
    path = _water_csv(tmp_path / "371000_water_2023.csv", ["97.5", "abc"])
    first = ingest_file(path, settings)
    assert (first.rows_accepted, first.rows_rejected) == (1, 1)
    # sent again: read again (what was refused may be accepted now), landed apart from the
    # first sending — before, its rows collided with the first's ("Duplicate key", exit 2)
    again = ingest_file(path, settings)
    assert again.status == "loaded" and again.file_hash == f"{first.file_hash}~1"
    assert (again.rows_accepted, again.rows_rejected, again.restated_unchanged) == (1, 1, 1)
    rows = query(settings, "select file_hash, count(*) from raw.submission_rows "
                           "group by all order by 1")
    assert [n for _, n in rows] == [first.rows_read, again.rows_read]
