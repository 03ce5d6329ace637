"""Freshness: dbt source freshness on the raw tables, overdue departments and open-data
sources, and the alert that names them."""
from datetime import date

import duckdb

from citycheck.operations.freshness import check_freshness, last_year_due


def test_the_year_due_follows_the_deadline(monkeypatch):
    assert last_year_due(date(2026, 3, 31)) == 2024   # 2025's figures are due after today
    assert last_year_due(date(2026, 4, 1)) == 2025
    monkeypatch.setenv("CITYCHECK_SUBMISSION_DEADLINE", "06-30")
    assert last_year_due(date(2026, 4, 1)) == 2024


def test_nothing_is_overdue_while_the_latest_year_is_in(built, webhook):
    # the sample holds Weihai's 2019-2023; on 2024-03-01 the last year due is 2022, and
    # Weihai owes nothing. Zibo's 2022 round (due 2023-03-31) still lacks the education
    # bureau's figures and one of the commerce bureau's: those two are chased.
    report = check_freshness(built, today=date(2024, 3, 1))
    assert [o for o in report.overdue if o.city_code == "371000"] == []
    late = {o.owner: o for o in report.overdue}
    assert set(late) == {"education", "commerce"}
    assert late["education"].detail == "owes 2022: 22 values; 336 days overdue"
    assert late["commerce"].detail == "owes 2022: 1 values; 336 days overdue"
    assert {t.table: t.status for t in report.tables} == {
        "open_data_fetches": "pass", "submission_files": "pass"}
    (alert,) = webhook
    assert {o["owner"] for o in alert["overdue"]} == {"education", "commerce"}


def test_overdue_departments_and_a_stale_source_are_named_in_one_alert(built, webhook):
    con = duckdb.connect(str(built.warehouse_path))
    # the portals have not answered for three days (a copy: raw is never rewritten for real)
    con.execute("update raw.open_data_fetches set fetched_at = fetched_at - interval 3 day")
    con.close()

    report = check_freshness(built, today=date(2025, 5, 1))   # 2024's figures were due 03-31
    overdue = {(o.kind, o.owner): o for o in report.overdue}
    water = overdue[("department", "water")]
    assert water.city_code == "371000" and water.last_received == "2024"
    # the seven districts' sewage rates and, from 2024, the city's waterlogging points
    assert water.detail == "owes 2024: 8 values; 31 days overdue"
    # the statistics bureau is fed by its API, and is judged by what that delivered
    assert "owes 2024" in overdue[("department", "statistics")].detail
    # every city with a programme is chased, whatever it has sent
    assert {o.city_code for o in report.overdue if o.kind == "department"} == {
        "371000", "370300"}
    stale = overdue[("open_data_source", "weihai_statistics_population")]
    assert "limit 48 h" in stale.detail
    assert {t.table: t.status for t in report.tables}["open_data_fetches"] == "warn"

    (alert,) = webhook
    assert alert["event"] == "data_overdue" and alert["ok"] is False
    owners = {(o["kind"], o["owner"]) for o in alert["overdue"]}
    assert ("department", "water") in owners
    assert ("open_data_source", "weihai_air_quality") in owners


def test_without_a_webhook_the_cli_says_so_in_one_short_line(built, monkeypatch):
    """`citycheck freshness` with no webhook configured: a one-line warning naming the setting
    and the summary, then the readable report — not kilobytes of JSON."""
    from tests.faults import cli

    proc = cli(built, "freshness", env={"CITYCHECK_ALERT_WEBHOOK_URL": ""})
    warnings = [line for line in proc.stderr.splitlines() if "alert not sent" in line]
    assert len(warnings) == 1, proc.stderr
    assert "CITYCHECK_ALERT_WEBHOOK_URL" in warnings[0] and "overdue" in warnings[0]
    assert len(warnings[0]) < 300 and "{" not in warnings[0]
    assert proc.returncode == 3
    # the report is a table: a header, then one aligned row per late department
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if "what is late" in line)
    late = [line for line in lines if line.startswith("OVERDUE")]
    assert late and all(line.index("department") == header.index("kind") for line in late)
    assert all(line[header.index("what is late"):].startswith("owes ") for line in late)


def test_a_table_never_loaded_is_said_once_as_never(tmp_path, portal_url):
    """A new data dir: every raw table is stale. `citycheck freshness` says so in its own
    table, "never" loaded (not dbt's year 1, "739957 days ago"), without dbt's own lines for
    each stale table before it."""
    from tests.faults import cli
    from tests.helpers import make_settings

    fresh = make_settings(tmp_path / "new", portal_url=portal_url)
    proc = cli(fresh, "freshness", env={"CITYCHECK_ALERT_WEBHOOK_URL": ""})
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()
            if line.startswith("raw.")}
    assert rows and all(row == ["error", "never"] for row in rows.values()), proc.stdout
    assert "freshness of raw." not in proc.stdout + proc.stderr, proc.stdout
    assert "Traceback" not in proc.stderr
