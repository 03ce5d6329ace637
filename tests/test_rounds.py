"""The reporting round, run from the office with the CLI (docs/operations.md, "Running a
round"): owed from the day a round opens, held values reviewed, the round closed — and the
one definition the status, the office page, the export, freshness and the reminder share.

The sample holds Zibo's 2022 round in collection (tests start from `built`): the education
bureau has sent nothing, the commerce bureau's file lacks 文昌湖, and the housing bureau's
张店区 utility-tunnel figure (0.49 km after 4.5 the year before) is held for review.
"""
import csv
import io
import json
from datetime import date

import openpyxl
import pytest

from citycheck.checks.validate import validate
from citycheck.cli import main
from citycheck.publication.publish_postgres import publish_everywhere
from citycheck.serving import department_portal as dp
from citycheck.warehouse.build import build
from extract.submissions import ingest_file
from tests.helpers import query

ZIBO = "370300"
HELD_KEY = ("370303", "utility_tunnel_km", 2022)


def publish(settings):
    build(settings)
    validate(settings)
    publish_everywhere(settings)


def zibo_file(path, department, rows, year=2022):
    """A Zibo clerk's CSV: header block, then indicator, district, value."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerows([["填报部门", department], ["城市", ZIBO], ["年度", str(year)], [],
                     ["指标代码", "区县名称", "数值"], *rows])
    return path


ZIBO_UNITS = ["淄川区", "张店区", "博山区", "临淄区", "周村区", "桓台县", "高青县", "沂源县",
              "淄博高新技术产业开发区", "淄博经济开发区", "文昌湖省级旅游度假区"]


def education_2022(path):
    rows = []
    for i, unit in enumerate(ZIBO_UNITS):
        rows.append(["primary_school_places_new", unit, str(2300 + 10 * i)])
        rows.append(["kindergarten_places_new", unit, str(1350 + 10 * i)])
    return zibo_file(path, "education", rows)


@pytest.fixture
def accounts(built):
    names = {"zb_office": ("office", ZIBO, None), "wh_office": ("office", "371000", None),
             "zb_housing": ("clerk", ZIBO, "housing"), "zb_education": ("clerk", ZIBO, "education"),
             "zb_commerce": ("clerk", ZIBO, "commerce")}
    for name, (role, city, department) in names.items():
        dp.add_user(built, name, role, city, department, password="a-long-password-1")
    return {name: dp.find_user(built, name) for name in names}


def out_of(capsys, argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def review_item(settings, key=HELD_KEY) -> dict:
    district, indicator, year = key
    (row,) = query(settings.serving_path,
                   "select review_item_id, review_state, last_review_id, value "
                   "from mart_review_queue where district_code = ? and indicator_code = ? "
                   "and year = ?", [district, indicator, year])
    return dict(zip(("item", "state", "last_review_id", "value"), row, strict=True))


def test_a_round_from_opening_to_close_in_the_cli(built, accounts, tmp_path, capsys):
    # before any file of theirs arrives, the office sees what each department owes
    code, out, _ = out_of(capsys, ["status", "--city", ZIBO, "--missing"])
    assert code == 3 and "2022 round" in out
    assert "education" in out and "not_submitted" in out
    owed = [line for line in out.splitlines() if line.strip().startswith("owed")]
    assert len(owed) == 23       # 2 education indicators x 11 units, 1 commerce value

    # the held value is in the review queue, not in the published values
    held = review_item(built)
    assert held["state"] == "held" and held["value"] == pytest.approx(0.49)
    code, out, _ = out_of(capsys, ["review", "list", "--city", ZIBO])
    assert held["item"][:12] in out and "held" in out and "0.49" in out
    assert not query(built.serving_path, "select 1 from fct_indicator_values where "
                     "district_code = ? and indicator_code = ? and year = ?", list(HELD_KEY))

    # a clerk may not confirm, another city's office may not return
    for who, action in (("zb_housing", "confirm"), ("wh_office", "return")):
        code, _, err = out_of(capsys, ["review", action, held["item"], "--reason", "x",
                                       "--as", who])
        assert code == 1 and "only the" in err
    # the office returns it with a question
    code, out, _ = out_of(capsys, ["review", "return", held["item"], "--as", "zb_office",
                                   "--reason", "0.49 km after 4.5 last year: a decimal point?"])
    assert code == 0 and "now returned" in out
    publish(built)
    view = dp.clerk_view(built, accounts["zb_housing"])
    (returned,) = [q for q in view["in_review"] if q["review_state"] == "returned"]
    assert returned["last_review_reason"].startswith("0.49 km after 4.5")
    assert returned["last_reviewed_by"] == "zb_office"

    # the corrected figure arrives: a real fall (a section was rebuilt and re-measured), so
    # the rule holds it again; the office confirms it
    ingest_file(zibo_file(tmp_path / "housing.csv", "housing",
                          [["utility_tunnel_km", "张店区", "3.8"]]), built,
                department="housing", city=ZIBO)
    ingest_file(education_2022(tmp_path / "education.csv"), built, department="education",
                city=ZIBO)
    ingest_file(zibo_file(tmp_path / "commerce.csv", "commerce",
                          [["night_economy_clusters", "文昌湖省级旅游度假区", "1"]]), built,
                department="commerce", city=ZIBO)
    publish(built)
    again = review_item(built)
    assert again["item"] != held["item"] and again["state"] == "held"
    assert again["value"] == pytest.approx(3.8)
    code, _, err = out_of(capsys, ["round", "close", "--city", ZIBO, "--year", "2022",
                                   "--as", "zb_office"])
    assert code == 1 and "1 held values" in err and "--override" in err
    code, out, _ = out_of(capsys, ["review", "confirm", again["item"], "--as", "zb_office",
                                   "--reason", "re-measured after the 2022 rebuild: confirmed "
                                               "with the housing bureau"])
    assert code == 0 and "now confirmed" in out
    publish(built)
    value = query(built.serving_path, "select value, review_state from fct_indicator_values "
                  "where district_code = ? and indicator_code = ? and year = ?", list(HELD_KEY))
    assert value == [(pytest.approx(3.8), "confirmed")]
    (round_row,) = query(built.serving_path, "select round_state, completeness_pct, "
                         "values_missing, values_held, is_provisional from mart_rounds "
                         "where city_code = ? and year = 2022", [ZIBO])
    assert round_row == ("collecting", 100.0, 0, 0, True)
    steps = query(built.serving_path, "select action, recorded_by, role from fct_value_reviews "
                  "where district_code = '370303' and year = 2022 order by recorded_at")
    assert steps == [("hold", "intake", "intake"), ("return", "zb_office", "office"),
                     ("hold", "intake", "intake"), ("confirm", "zb_office", "office")]

    # the round closes, and its publication is final
    code, out, _ = out_of(capsys, ["round", "close", "--city", ZIBO, "--year", "2022",
                                   "--as", "zb_office"])
    assert code == 0 and "closed: every value received and reviewed" in out
    assert query(built.serving_path, "select round_state, closed_by, is_provisional from "
                 "mart_rounds where city_code = ? and year = 2022", [ZIBO]) == [
        ("closed", "zb_office", False)]
    from citycheck.serving.report import write_report

    page = write_report(built, ZIBO, 2022, pdf=False).html_path.read_text("utf-8")
    assert 'data-round="final"' in page and 'data-round="provisional"' not in page
    # a late file for the closed round is refused, saying why and what to do
    receipt = ingest_file(zibo_file(tmp_path / "late.csv", "commerce",
                                    [["night_economy_clusters", "淄川区", "4"]]), built,
                          department="commerce", city=ZIBO)
    assert receipt.rows_accepted == 0 and receipt.rows_rejected == 1
    assert "round of city 370300 was closed" in receipt.rejected[0]["reason"]
    assert "轮次已于" in receipt.rejected[0]["reason"]
    code, _, err = out_of(capsys, ["round", "close", "--city", ZIBO, "--year", "2022",
                                   "--as", "zb_office"])
    assert code == 1 and "already closed" in err


def test_a_step_on_a_value_that_changed_meanwhile_is_refused(built, accounts, tmp_path,
                                                              capsys):
    from citycheck.operations.rounds import review
    from citycheck.warehouse.rounds import RoundRefused

    held = review_item(built)
    office = accounts["zb_office"]
    # another reviewer returned it since this one loaded the page (seen: only held)
    review(built, held["item"], "return", office, "first look")
    with pytest.raises(RoundRefused, match="changed while you looked at it: it is now returned"):
        review(built, held["item"], "confirm", office, "looks fine", seen=None)
    # a newer figure arrives: acting on the old one is refused, naming the new one
    ingest_file(zibo_file(tmp_path / "housing.csv", "housing",
                          [["utility_tunnel_km", "张店区", "4.9"]]), built,
                department="housing", city=ZIBO)
    with pytest.raises(RoundRefused, match="a newer figure 4.9 arrived in housing.csv"):
        review(built, held["item"], "confirm", office, "looks fine")
    # the corrected figure passes the rules: published at the next run, nothing in review
    publish(built)
    assert query(built.serving_path, "select value, review_state, under_review from "
                 "fct_indicator_values where district_code = ? and indicator_code = ? and "
                 "year = ?", list(HELD_KEY)) == [(4.9, "accepted", False)]
    assert not query(built.serving_path, "select 1 from mart_review_queue where city_code = ?",
                     [ZIBO])


def test_closing_needs_a_current_build_and_records_what_an_override_leaves(
        built, accounts, tmp_path, capsys):
    ingest_file(education_2022(tmp_path / "education.csv"), built, department="education",
                city=ZIBO)
    # a file landed after the latest build: the round is not judged on stale figures
    code, _, err = out_of(capsys, ["round", "close", "--city", ZIBO, "--year", "2022",
                                   "--as", "zb_office", "--override", "end of term"])
    assert code == 1 and "arrived after the latest build" in err
    publish(built)
    code, out, _ = out_of(capsys, ["round", "close", "--city", ZIBO, "--year", "2022",
                                   "--as", "zb_office", "--override",
                                   "the term ended; 文昌湖 has no night-economy statistics"])
    assert code == 0 and "closed with 2 values left as they are" in out
    (detail,) = query(built.serving_path, "select close_detail from mart_rounds where "
                      "city_code = ? and year = 2022", [ZIBO])[0]
    left = json.loads(detail)["left_missing"]
    assert {(m["indicator_code"], m["value_state"]) for m in left} == {
        ("night_economy_clusters", "owed"), ("utility_tunnel_km", "held")}
    # the closed round reopens only with a reason
    code, _, err = out_of(capsys, ["round", "open", "--city", ZIBO, "--year", "2022",
                                   "--as", "zb_office", "--no-publish"])
    assert code == 1 and "say why it reopens" in err
    code, out, _ = out_of(capsys, ["round", "open", "--city", ZIBO, "--year", "2022",
                                   "--as", "zb_office", "--no-publish",
                                   "--reason", "the statistics bureau found the figure"])
    assert code == 0 and "reopened" in out


def test_a_round_can_be_opened_early_and_owes_from_then(built, accounts, capsys):
    code, out, _ = out_of(capsys, ["round", "open", "--city", "371000", "--year", "2026",
                                   "--deadline", "2027-02-28", "--as", "wh_office"])
    assert code == 0 and "due on 2027-02-28" in out
    (r,) = query(built.serving_path, "select round_state, due_on, opened_by, values_expected, "
                 "values_missing from mart_rounds where city_code = '371000' and year = 2026")
    assert r[:3] == ("open", date(2027, 2, 28), "wh_office") and r[3] == r[4] > 200
    code, _, err = out_of(capsys, ["round", "open", "--city", "371000", "--year", "2026",
                                   "--as", "wh_office", "--no-publish"])
    assert code == 1 and "already open" in err
    code, _, err = out_of(capsys, ["round", "open", "--city", ZIBO, "--year", "2023",
                                   "--as", "zb_office", "--no-publish"])
    assert code == 1 and "runs from 2020 to 2022" in err
    code, _, err = out_of(capsys, ["round", "open", "--city", ZIBO, "--year", "2022",
                                   "--as", "wh_office", "--no-publish"])
    assert code == 1 and "only the coordinating office of city 370300" in err


def test_a_later_years_file_does_not_block_this_years_correction(built, tmp_path):
    """One department sends 2024 early and another corrects 2023: both are published, 2024
    as provisional with its completeness."""
    def weihai(path, department, year, rows):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["填报部门", department], ["城市", "371000"],
                                      ["年度", str(year)], [], ["指标代码", "区县名称", "数值"],
                                      *rows])
        return path

    ingest_file(weihai(tmp_path / "water_2024.csv", "water", 2024,
                       [["sewage_treatment_rate_pct", "环翠区", "98.9"]]), built)
    ingest_file(weihai(tmp_path / "water_2023.csv", "water", 2023,
                       [["sewage_treatment_rate_pct", "乳山市", "97.7"]]), built)
    publish(built)
    values = dict(query(built.serving_path, "select year, value from fct_indicator_values "
                        "where indicator_code = 'sewage_treatment_rate_pct' and "
                        "district_code = ? and year in (2023, 2024)", ["371083"]))
    assert values[2023] == 97.7
    assert query(built.serving_path, "select value from fct_indicator_values where "
                 "indicator_code = 'sewage_treatment_rate_pct' and district_code = '371002' "
                 "and year = 2024") == [(98.9,)]
    (r,) = query(built.serving_path, "select round_state, is_provisional, completeness_pct "
                 "from mart_rounds where city_code = '371000' and year = 2024")
    assert r[0] == "collecting" and r[1] is True and 0 < r[2] < 1
    latest = json.loads((built.reports_dir / "validation" / "latest.json").read_text("utf-8"))
    assert latest["success"] and not latest["failures"]
    assert any(n["partition"] == "year=2024" for n in latest["notices"])


def test_status_office_page_export_freshness_and_reminder_agree(built, accounts, webhook):
    """For a year nothing arrived for (Weihai 2025), every reader of the round says the same
    department owes the same number of values, from the one definition."""
    from citycheck.operations.freshness import check_freshness
    from citycheck.operations.rounds import remind_overdue
    from citycheck.serving.status import load_status

    (status,) = load_status(built, 2025, "371000")[0]
    by_status = {d["department_code"]: d["values_missing"] for d in status["departments"]}
    assert sum(by_status.values()) == status["values_expected"] > 200

    view = dp.office_view(built, "371000", 2025)
    assert {r["department_code"]: r["values_missing"] for r in view["rows"]} == by_status
    assert len(view["missing"]) == sum(by_status.values())

    book = openpyxl.load_workbook(io.BytesIO(dp.dispatch_xlsx(view["rows"], 2025,
                                                              view["missing"])))
    sheet, detail = book.worksheets
    exported = {r[0]: r[5] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert exported == by_status
    assert sum(1 for _ in detail.iter_rows(min_row=2)) == sum(by_status.values())

    report = check_freshness(built, today=date(2026, 12, 6), alert=False)
    late = {o.owner: o for o in report.overdue if o.kind == "department" and
            o.city_code == "371000"}
    assert set(late) == set(by_status)
    for code, n in by_status.items():
        assert "2025" in late[code].last_received
        # freshness sums every overdue round; 2024 owes the same as 2025 in the sample
        assert f"owes 2024, 2025: {2 * n} values" in late[code].detail
    # Zibo is chased too, though it never sent anything for its education bureau's 2022
    assert any(o.city_code == ZIBO and o.owner == "education" for o in report.overdue)

    alerts = remind_overdue(built, date(2026, 12, 6))
    (a2025,) = [a for a in alerts if a["round_id"] == "weihai_refined_city|2025"]
    assert {d["department_code"]: d["values_missing"] for d in a2025["departments"]} == \
        by_status
    assert a2025["days_overdue"] == 250
    assert all("尚缺" in d["reminder"] for d in a2025["departments"])
    posted = {a["round_id"] for a in webhook}
    assert {"weihai_refined_city|2025", "zibo_city_quality|2022"} <= posted


def test_a_held_value_is_published_nowhere_as_current(built):
    """The held 0.49: in the review queue, and in every published mart only as a pending
    version — never as a value, a score, a rank or a roll-up."""
    district, indicator, year = HELD_KEY
    con_rows = query(built.serving_path, "select table_name from information_schema.columns "
                     "where column_name = 'value' and table_schema = 'main'")
    holders = set()
    for (table,) in con_rows:
        cols = {c for (c,) in query(built.serving_path, "select column_name from "
                                    "information_schema.columns where table_name = ?", [table])}
        if not {"district_code", "indicator_code", "year"} <= cols:
            continue
        if query(built.serving_path, f'select 1 from "{table}" where district_code = ? and '
                 "indicator_code = ? and year = ? and abs(value - 0.49) < 1e-9",
                 [district, indicator, year]):
            holders.add(table)
    # the queue, the version history and the review history; nowhere as current
    assert holders == {"mart_review_queue", "fct_indicator_value_versions",
                       "fct_value_reviews"}
    assert query(built.serving_path, "select is_current, review_state from "
                 "fct_indicator_value_versions where district_code = ? and indicator_code = ? "
                 "and year = ?", list(HELD_KEY)) == [(False, "held")]
    (state, pending) = query(built.serving_path, "select value_state, pending_value from "
                             "mart_round_values where district_code = ? and indicator_code = ? "
                             "and year = ?", list(HELD_KEY))[0]
    assert state == "held" and pending == pytest.approx(0.49)
    # the city total is not rolled up over a district in review
    assert query(built.serving_path, "select value from mart_indicator_scorecard where "
                 "district_code = ? and indicator_code = ? and year = ?",
                 [ZIBO, indicator, year]) in ([], [(None,)])
    # the indicator page says "under review" where the value would be, and never shows it
    from citycheck.serving.site import write_site

    write_site(built)
    page = (built.reports_dir / "site" / "indicators" / indicator / f"{ZIBO}.html"
            ).read_text("utf-8")
    assert 'data-under-review="2022"' in page and ">0.49<" not in page


def test_a_round_cannot_close_while_a_build_is_running(built, accounts, capsys):
    """A build killed (SIGKILL) half-way stays 'running': the office cannot close on it, and
    is told what to do; after a complete build it can."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    run_dir = built.data_dir / "dbt" / "target" / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    env = dict(os.environ, CITYCHECK_DATA_DIR=str(built.data_dir))
    proc = subprocess.Popen([sys.executable, "-m", "citycheck.cli", "build", "--full-refresh"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not run_dir.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)           # as dbt writes its first model
    assert proc.wait() == -signal.SIGKILL
    code, _, err = out_of(capsys, ["round", "close", "--city", "371000", "--year", "2023",
                                   "--as", "wh_office"])
    assert code == 1 and "is running" in err and "cannot close while a build is running" in err
    build(built)
    validate(built)
    code, out, _ = out_of(capsys, ["round", "close", "--city", "371000", "--year", "2023",
                                   "--as", "wh_office"])
    assert code == 0 and "closed: every value received and reviewed" in out
