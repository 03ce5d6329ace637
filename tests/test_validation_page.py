"""The validation report people read: an HTML page beside the JSON, in Chinese and English,
that says whether the build passed, lists every failed check with its example rows and every
check by suite and partition — checked in a real browser against the JSON it is made from."""
from __future__ import annotations

import json

import duckdb
import pytest

from citycheck.checks.validate import ValidationFailed, validate
from tests.browser import console_errors, load, needs_chromium, shows_something


@needs_chromium
def test_a_failed_validation_reads_in_the_browser_as_it_is_in_the_json(built, tmp_path):
    con = duckdb.connect(str(built.warehouse_path))   # a transformation bug, simulated
    con.execute("update marts.fct_indicator_values set value = 140 where indicator_code = "
                "'sewage_treatment_rate_pct' and district_code = '371002' and year = 2020")
    con.close()
    with pytest.raises(ValidationFailed) as failed:
        validate(built)
    folder = built.reports_dir / "validation"
    report = json.loads((folder / "latest.json").read_text(encoding="utf-8"))
    # this validation's page (the copied sample holds an earlier one of the same build)
    page = max(folder.glob(f"*_{report['build_id']}.html"))
    assert str(page) in str(failed.value)               # the error message points at it

    dom, log = load(page, tmp_path / "wide.png")
    assert "数据校验报告" in dom and "Validation report" in dom
    assert "未通过" in dom and "nothing is published" in dom
    assert dom.count('class="failed-check"') == len(report["failures"]) == 1
    (failure,) = report["failures"]
    assert failure["expectation"] in dom and str(failure["unexpected_count"]) in dom
    assert "371002" in dom and "140.0" in dom               # the example row
    # every check of the JSON is a row of the page: one per expectation, one per kept partition
    assert dom.count("<tr>") - dom.count("<thead><tr>") == len(report["results"])
    assert dom.count("✘ 未通过 failed") == sum(not r["success"] and r.get("blocking", True)
                                              for r in report["results"])
    # what is still owed (report only) is listed apart, and said not to block
    assert dom.count("ℹ 仅报告 reported, not blocking") == sum(
        not r["success"] and r.get("blocking") is False for r in report["results"]) > 0
    assert dom.count('class="reported-check"') == len(report["notices"])
    assert shows_something(tmp_path / "wide.png") and not console_errors(log)
    _, log = load(page, tmp_path / "phone.png", width=390, height=844)
    assert shows_something(tmp_path / "phone.png") and not console_errors(log)


@needs_chromium
def test_a_passing_validation_says_so_and_names_what_it_kept(built, tmp_path):
    result = validate(built)
    dom, _ = load(built.reports_dir / "validation" / "latest.html", tmp_path / "ok.png")
    assert "全部通过" in dom and "all checks passed" in dom
    assert f"{result.checks}" in dom and "沿用" in dom      # partitions kept, said so
    assert result.html_path and result.html_path.endswith(".html")
