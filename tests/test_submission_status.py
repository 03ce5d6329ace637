"""The dispatch list of a round: mart_submission_status and `citycheck status`."""
import csv
import json

from citycheck.checks.validate import validate
from citycheck.warehouse.build import build
from extract.submissions import ingest_file
from tests.helpers import query


def test_a_complete_year_owes_nothing(built, capsys):
    from citycheck.cli import main

    rows = query(built.serving_path, "select department_code, values_expected, values_present, "
                 "values_missing, submission_status from mart_submission_status "
                 "where year = 2023 and city_code = '371000'")
    status = {r[0]: r[1:] for r in rows}
    # the water bureau answers for one district-level indicator, in 7 reporting units
    assert status["water"] == (7, 7, 0, "complete")
    assert all(r[4] == "complete" for r in rows) and len(rows) >= 6
    assert main(["status", "--year", "2023", "--city", "371000"]) == 0
    out = capsys.readouterr().out
    assert "0 values still owed, 0 held for review, 0 returned" in out and "市水务局" in out
    assert "2023 round 轮次: collecting" in out and "完成度 completeness 100 %" in out


def _water_2024(path, districts):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerows([["填报部门", "water"], ["城市", "371000"], ["年度", "2024"], [],
                     ["指标代码", "区县名称", "数值"],
                     *[["sewage_treatment_rate_pct", d, "97.5"] for d in districts]])
    return path


def test_a_year_in_collection_lists_who_owes_what(built, tmp_path, capsys):
    """Figures for 2024 are still coming in: validation reports what is owed and publishes
    the year as provisional; the dispatch list (read from the latest build) says exactly what
    is missing, from whom and for how long."""
    from citycheck.cli import main

    ingest_file(_water_2024(tmp_path / "water.csv", ["环翠区", "文登区"]), built)
    build(built)
    report = validate(built, years=[2024])
    assert report.success
    owed = [n for n in report.notices if n["suite"] == "required_values_present"
            and n["partition"] == "year=2024"]
    assert owed and owed[0]["unexpected_count"] > 0

    capsys.readouterr()  # dbt's own log lines
    assert main(["status", "--year", "2024", "--city", "371000", "--missing", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["source"].startswith("latest build")
    (weihai,) = report["rounds"]
    assert weihai["round_state"] == "collecting" and weihai["due_on"] == "2025-03-31"
    status = {s["department_code"]: s for s in weihai["departments"]}
    water = status["water"]
    assert (water["values_expected"], water["values_present"], water["values_missing"],
            water["files_received"], water["records_accepted"], water["submission_status"]) == (
        # the seven districts' sewage rates, and from 2024 the city's waterlogging points
        # (seed 001's item, framework_items.csv)
        8, 2, 6, 1, 2, "incomplete")
    # 2024's figures were due on 2025-03-31; the calendar reads 2026-12-06 (tests/conftest.py)
    assert water["days_overdue"] == 615
    assert status["housing"]["submission_status"] == "not_submitted"
    assert status["housing"]["values_missing"] == status["housing"]["values_expected"] > 0
    owed = {(m["department_code"], m["district_code"]) for m in weihai["values"]
            if m["indicator_code"] == "sewage_treatment_rate_pct"}
    assert owed == {("water", d) for d in ("371082", "371083", "371071", "371072", "371073")}
    # 2023 stays complete: the dispatch list is per round
    assert main(["status", "--year", "2023", "--city", "371000"]) == 0


def test_a_round_owes_from_the_day_it_opens_before_any_file(built, capsys):
    """Nothing has arrived for 2025 (Weihai) or 2022's education figures (Zibo): every value
    is owed all the same, and `citycheck status` without --year shows each city's year in
    collection."""
    from citycheck.cli import main

    capsys.readouterr()
    assert main(["status", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    by_city = {r["city_code"]: r for r in report["rounds"]}
    # the oldest round not closed that still owes something
    assert by_city["370300"]["year"] == 2022 and by_city["371000"]["year"] == 2024
    assert main(["status", "--year", "2025", "--city", "371000", "--json"]) == 3
    (r2025,) = json.loads(capsys.readouterr().out)["rounds"]
    assert r2025["round_state"] == "open" and r2025["completeness_pct"] == 0
    assert r2025["values_missing"] == r2025["values_expected"] > 200
    assert all(d["submission_status"] == "not_submitted" for d in r2025["departments"])
    zibo = by_city["370300"]
    education = next(d for d in zibo["departments"] if d["department_code"] == "education")
    assert education["values_missing"] == education["values_expected"] == 22


def test_status_before_anything_is_built(settings, capsys):
    from citycheck.cli import main

    assert main(["status", "--year", "2023"]) == 1
    assert "nothing has been built yet" in capsys.readouterr().err


def test_reported_missing_is_listed_apart_from_never_reported(built, tmp_path, capsys):
    """荣成市 wrote — (reported missing: the department says there is no figure); 乳山市 left
    its cell blank (not reported: still owed)."""
    from citycheck.cli import main

    path = tmp_path / "water.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["填报部门", "water"], ["城市", "371000"], ["年度", "2024"], [],
                                  ["指标代码", "区县名称", "数值"],
                                  ["sewage_treatment_rate_pct", "环翠区", "97.5"],
                                  ["sewage_treatment_rate_pct", "荣成市", "—"],
                                  ["sewage_treatment_rate_pct", "乳山市", ""]])
    ingest_file(path, built)
    build(built)
    capsys.readouterr()
    assert main(["status", "--year", "2024", "--city", "371000", "--missing", "--json"]) == 3
    (weihai,) = json.loads(capsys.readouterr().out)["rounds"]
    reported = {m["district_code"] for m in weihai["reported_missing"]
                if m["indicator_code"] == "sewage_treatment_rate_pct"}
    owed = {m["district_code"] for m in weihai["values"]
            if m["indicator_code"] == "sewage_treatment_rate_pct"}
    assert reported == {"371082"}
    assert "371083" in owed and "371082" not in owed and "371002" not in owed
    assert main(["status", "--year", "2024", "--city", "371000", "--missing"]) == 3
    out = capsys.readouterr().out
    assert "报告为无数据 Reported missing" in out and "1 reported as missing" in out
