"""The resident survey (seed 001's 城市人居环境满意度): respondents loaded row by row, each
estimate published with its 95 % interval as the textbook computes it, and an estimate of too
few respondents suppressed wherever it would appear."""
from __future__ import annotations

import math
import subprocess
import sys
from datetime import datetime

import pytest

from citycheck.serving.report import write_report
from citycheck.warehouse.build import build
from extract.surveys import ITEMS, SurveyError, load_survey
from tests.helpers import query

HEADING = ["受访者编号 respondent_id", "区县 district", "权重 weight",
           *[f"{zh} {en}" for en, zh in ITEMS.items()]]


def _survey(path, rows, year="2022", city="371000"):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerows([["问卷 Survey", "测试问卷"], ["城市 City", city], ["年度 Year", year], [],
                       HEADING, *rows])
    return path


def _wilson(answers: list[tuple[float, int]]) -> dict:
    """The textbook: weighted share of 4-5, Kish's effective n, Wilson's 95 % interval."""
    sw = sum(w for w, _ in answers)
    sw2 = sum(w * w for w, _ in answers)
    p = sum(w for w, a in answers if a >= 4) / sw
    n = sw * sw / sw2
    z = 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"effective_n": n, "satisfied_pct": 100 * p,
            "standard_error_pct": 100 * math.sqrt(p * (1 - p) / n),
            "ci_low_pct": 100 * (centre - half), "ci_high_pct": 100 * (centre + half)}


def test_an_estimate_and_its_interval_are_the_textbooks(built, tmp_path):
    # 40 respondents in 环翠区 with unequal weights; 3 of them leave mobility blank
    rows, kept = [], []
    for i in range(40):
        weight = 0.5 + (i % 4) * 0.5
        safety = (5, 4, 2, 4, 1)[i % 5]
        mobility = "" if i in (3, 17, 29) else str((4, 3, 5)[i % 3])
        rows.append([f"R{i:03d}", "环翠区", weight, safety, 3, 4, 4, mobility])
        kept.append((weight, safety, mobility))
    receipt = load_survey(_survey(tmp_path / "s.csv", rows), built)
    assert receipt.status == "loaded" and receipt.rows_accepted == 40 and not receipt.rejected
    build(built)
    for item, answers in (("safety", [(w, s) for w, s, _ in kept]),
                          ("mobility", [(w, int(m)) for w, _, m in kept if m])):
        expected = _wilson(answers)
        (row,) = query(built.warehouse_path,
                       "select respondents, suppressed, effective_n, satisfied_pct, "
                       "standard_error_pct, ci_low_pct, ci_high_pct from "
                       "marts.mart_survey_estimates where estimate_id = ?",
                       [f"371002|2022|{item}"])
        assert row[:2] == (len(answers), False)
        got = dict(zip(["effective_n", "satisfied_pct", "standard_error_pct", "ci_low_pct",
                        "ci_high_pct"], row[2:], strict=True))
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=0.051 if key == "effective_n" else 0.0051)
        assert got["ci_low_pct"] < got["satisfied_pct"] < got["ci_high_pct"]


def test_too_few_respondents_are_suppressed_everywhere(built):
    """The sample's 临港区 has 24 respondents (fewer than 30): its estimates are in no mart
    column, no report cell, no chart; the count alone is shown, saying why."""
    rows = query(built.serving_path,
                 "select estimate_id, respondents, suppressed, satisfied_pct, ci_low_pct, "
                 "ci_high_pct, standard_error_pct, effective_n from mart_survey_estimates "
                 "where district_code = '371073' and year = 2023")
    assert len(rows) == 5
    assert all(r[1] < 30 and r[2] and r[3:] == (None,) * 5 for r in rows)
    others = query(built.serving_path, "select count(*) from mart_survey_estimates where "
                   "year = 2023 and not suppressed and satisfied_pct is not null")
    assert others[0][0] == 35                      # 6 districts and the city, 5 aspects each
    html = write_report(built, "371000", 2023, pdf=False).html_path.read_text("utf-8")
    for estimate_id, *_ in rows:
        assert f'data-suppressed="{estimate_id}"' in html
        assert f'data-id="{estimate_id}" data-column="satisfied_pct"' not in html
    assert "样本不足，不予公布 fewer than 30 respondents: not published" in html
    # and on the public pages: every number is the mart's, the suppressed ones absent
    from citycheck.serving.site import write_site
    from tests.test_report import Numbers

    site = write_site(built)
    page_html = (site.index_path.parent / "survey.html").read_text("utf-8")
    assert 'href="survey.html"' in site.index_path.read_text("utf-8")
    page = Numbers()
    page.feed(page_html)
    shown = {(k, c): t for m, k, c, t in page.cells if m == "mart_survey_estimates"}
    published = query(built.serving_path, "select estimate_id, satisfied_pct, ci_low_pct, "
                      "ci_high_pct, suppressed from mart_survey_estimates")
    assert len(published) == 40
    for estimate_id, p, low, high, suppressed in published:
        if suppressed:
            assert f'data-suppressed="{estimate_id}"' in page_html
            assert (estimate_id, "satisfied_pct") not in shown
        else:
            assert [float(shown[(estimate_id, c)]) for c in
                    ("satisfied_pct", "ci_low_pct", "ci_high_pct")] == [p, low, high]


def test_bad_rows_are_rejected_saying_why_and_the_counts_reconcile(built, tmp_path):
    rows = [["R1", "环翠区", 1, 5, 4, 4, 4, 4],
            ["R2", "火星区", 1, 5, 4, 4, 4, 4],          # no such district
            ["R3", "文登区", -2, 5, 4, 4, 4, 4],          # not a positive weight
            ["R4", "文登区", 1, 5, 7, 4, 4, 4],           # an answer outside 1-5
            ["", "文登区", 1, 5, 4, 4, 4, 4],             # no respondent id
            ["R6", "文登", 1.5, "", "", "", "", ""],       # answered nothing
            [],                                           # a blank line: layout
            ["R7", "文登", 1.5, 4, "", "", "", "3"]]
    path = _survey(tmp_path / "bad.csv", rows)
    proc = subprocess.run([sys.executable, "-m", "citycheck.cli", "survey", str(path)],
                          capture_output=True, text=True,
                          env={**__import__("os").environ, "CITYCHECK_DATA_DIR": str(built.data_dir)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout
    assert "读取 read 7 = 接收 accepted 2 + 退回 rejected 5" in out
    assert "第 7 行 row, 列 column district:" in out and "火星区" in out
    assert "第 8 行 row, 列 column weight: the weight '-2' is not a positive number" in out
    assert "第 9 行 row, 列 column convenience: the answer '7'" in out and "1 至 5" in out
    assert "第 10 行 row, 列 column respondent_id: the respondent has no id" in out
    assert "第 11 行 row, 列 column safety: the respondent answered none" in out
    stored = query(built.warehouse_path, "select row_number, status, district_code, reason "
                   "from raw.survey_rows where file_hash = (select file_hash from "
                   "raw.survey_files where original_name = 'bad.csv') order by 1")
    assert [(r[0], r[1]) for r in stored] == [(6, "accepted"), (7, "rejected"), (8, "rejected"),
                                              (9, "rejected"), (10, "rejected"),
                                              (11, "rejected"), (13, "accepted")]
    assert stored[-1][2] == "371003"                    # 文登 resolved by its alias
    # the same bytes again: nothing changes
    again = load_survey(path, built)
    assert again.status == "duplicate"
    assert query(built.warehouse_path, "select count(*) from raw.survey_files where "
                 "original_name = 'bad.csv'") == [(1,)]


def test_a_file_that_is_no_survey_is_refused_whole_in_one_line(built, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("问卷 Survey,x\n城市 City,371000\n年度 Year,2022\n\n受访者编号 respondent_id,"
                    "区县 district\nR1,环翠区\n", encoding="utf-8")
    with pytest.raises(SurveyError, match="no table of respondents"):
        load_survey(path, built)
    with pytest.raises(SurveyError, match="city '999999' is not one citycheck knows"):
        load_survey(_survey(tmp_path / "c.csv", [["R1", "环翠区", 1, 5, 5, 5, 5, 5]],
                            city="999999"), built)
    proc = subprocess.run([sys.executable, "-m", "citycheck.cli", "survey", str(path)],
                          capture_output=True, text=True,
                          env={**__import__("os").environ, "CITYCHECK_DATA_DIR": str(built.data_dir)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("citycheck survey: no table of respondents")
    # the limits of a department file hold for a survey too: refused unread
    import dataclasses

    big = _survey(tmp_path / "big.csv", [[f"R{i}", "环翠区", 1, 5, 5, 5, 5, 5] for i in range(20)])
    with pytest.raises(SurveyError, match="more than the 10 one department file may hold"):
        load_survey(big, dataclasses.replace(built, max_file_rows=10))
    with pytest.raises(SurveyError, match="over the limit of 100"):
        load_survey(big, dataclasses.replace(built, max_file_bytes=100))
    assert query(built.warehouse_path, "select count(*) from raw.survey_files where "
                 "original_name = 'big.csv'") == [(0,)]


def test_a_later_survey_of_the_same_year_replaces_the_earlier_in_the_estimates(built,
                                                                                tmp_path):
    first = [[f"A{i}", "环翠区", 1, 5, 5, 5, 5, 5] for i in range(30)]
    second = [[f"B{i}", "环翠区", 1, 1, 1, 1, 1, 1] for i in range(30)]
    load_survey(_survey(tmp_path / "first.csv", first), built,
                received_at=datetime(2023, 1, 10))
    load_survey(_survey(tmp_path / "second.csv", second), built,
                received_at=datetime(2023, 2, 10))
    build(built)
    assert query(built.warehouse_path, "select satisfied_pct, source_file from "
                 "marts.mart_survey_estimates where estimate_id = '371002|2022|safety'"
                 ) == [(0.0, "second.csv")]
