"""The main job through the real Airflow DAGs (dag.test) on the sample data."""
import json
from pathlib import Path

import duckdb
import pytest

from citycheck.devtools.demo import run_demo
from citycheck.publication.publish import parquet_location
from common.config import SAMPLE_DIR
from tests.browser import needs_chromium
from tests.helpers import query, sample_rows

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def demo(tmp_path_factory, airflow_db, portal_url):
    import os
    import subprocess
    import sys

    from tests.helpers import make_settings

    settings = make_settings(tmp_path_factory.mktemp("e2e") / "data")
    # as `make run` runs it: a process of its own, its output its own (not pytest's capture)
    proc = subprocess.run([sys.executable, "-m", "citycheck.devtools.demo"],
                          env=os.environ.copy(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, "a DAG run did not succeed:\n" + proc.stdout[-3000:] + \
        proc.stderr[-3000:]
    assert "pipeline finished in" in proc.stdout
    return settings


def test_city_total_of_a_sum_indicator_equals_the_sample_files(demo):
    districts = sample_rows("utility_tunnel_km", 2023)
    assert len(districts) == 7
    expected = round(sum(districts.values()), 6)
    assert expected == 40.6  # the figure seed 004 reports for Weihai by 2023
    (published,) = query(demo.serving_path, "select value, value_basis from mart_indicator_scorecard "
                         "where is_city_total and indicator_code = 'utility_tunnel_km' and year = 2023")
    assert published == (expected, "rollup_sum")


def test_scorecard_judges_known_targets(demo):
    rows = dict(query(demo.serving_path,
                      "select district_name_zh, target_met from mart_indicator_scorecard "
                      "where indicator_code = 'sewage_treatment_rate_pct' and year = 2020 "
                      "and not is_city_total"))
    # Central city target 98 %: 文登区 reported 97.4; 荣成市 and 乳山市 only need 90 %.
    assert rows["文登区"] is False
    assert rows["环翠区"] is True and rows["乳山市"] is True
    (bridges,) = query(demo.serving_path,
                       "select compared_value, target_value, target_met from "
                       "mart_indicator_scorecard where is_city_total and "
                       "indicator_code = 'pedestrian_bridges_cum' and year = 2020")
    assert bridges == (8.0, 9.0, False)  # 8 bridges built during 2020 against 9 planned


def test_ranks_honour_direction_and_open_data_arrived(demo):
    ranked = query(demo.serving_path,
                   "select district_code, value, rank_in_city from mart_indicator_scorecard "
                   "where indicator_code = 'resident_population_10k' and year = 2019 "
                   "and not is_city_total order by rank_in_city")
    assert [r[2] for r in ranked] == list(range(1, 8))
    assert ranked[0][:2] == ("371082", 71.4)  # 荣成市 is the most populous (higher is better)
    (total,) = query(demo.serving_path, "select value from mart_indicator_scorecard where "
                     "is_city_total and indicator_code = 'resident_population_10k' and year = 2019")
    assert total == (283.6,)  # seed 002: 283.6 万 resident population in 2019
    (aq,) = query(demo.serving_path, "select count(*) from fct_indicator_values "
                  "where indicator_code = 'air_quality_good_days'")
    assert aq == (35,)


def test_every_row_is_accounted_for_and_traceable(demo):
    files = query(demo.warehouse_path, "select original_name, rows_read, rows_accepted, "
                  "rows_rejected, rows_ignored from raw.submission_files")
    assert len(files) == len(list((SAMPLE_DIR / "submissions").iterdir())) == 73
    for name, read, accepted, rejected, ignored in files:
        assert read == accepted + rejected + ignored, name
    (row,) = query(demo.serving_path,
                   "select f.source_row, s.source_name, s.source_location from "
                   "fct_indicator_values f join dim_source s on s.source_id = f.source_id "
                   "where f.indicator_code = 'sewage_treatment_rate_pct' and "
                   "f.district_code = '371003' and f.year = 2020")
    assert row[1] == "371000_water_2020.xlsx" and Path(row[2]).exists()


def test_the_dags_hold_the_sample_value_that_needs_review(demo):
    """The submissions DAG's mapped ingest tasks run in any order; each file is still judged
    against what arrived before it, so Zibo's 2022 tunnel figure (0.49 km after 4.5 km in 2021)
    waits for the office's review and is not published."""
    key = ["370303", "utility_tunnel_km", 2022]
    assert query(demo.serving_path, "select value, review_state from mart_review_queue where "
                 "district_code = ? and indicator_code = ? and year = ?", key) == [(0.49, "held")]
    assert query(demo.serving_path, "select value from fct_indicator_values where "
                 "district_code = ? and indicator_code = ? and year = ?", key) == []
    (held,) = query(demo.serving_path, "select values_held from mart_submission_status where "
                    "city_code = '370300' and department_code = 'housing' and year = 2022")
    assert held == (1,)


def test_parquet_and_serving_copy_agree(demo):
    n_serving = query(demo.serving_path, "select count(*) from mart_indicator_scorecard")[0][0]
    parquet = parquet_location(demo.published_dir / "parquet", "mart_indicator_scorecard")
    n_parquet = duckdb.sql(f"select count(*) from '{parquet}'").fetchall()[0][0]
    assert n_serving == n_parquet > 1000


def test_running_again_adds_nothing(demo):
    before = query(demo.warehouse_path, "select count(*) from marts.fct_indicator_value_versions")
    assert run_demo(demo)
    after = query(demo.warehouse_path, "select count(*) from marts.fct_indicator_value_versions")
    assert before == after
    statuses = query(demo.warehouse_path, "select status, count(*) from raw.open_data_fetches "
                     "group by 1 order by 1")
    # the JSON APIs answered the same payloads; the CSV download answered 304 Not Modified
    assert dict(statuses) == {"loaded": 3, "unchanged": 2, "not_modified": 1}


def test_the_sample_correction_supersedes_and_is_flagged(demo):
    """The water bureau's wide-layout correction of 2022 (data/sample): one value changed, six
    restated; the newest wins, the first version stays, the scorecard flags the revision."""
    versions = query(demo.serving_path,
                     "select version_number, value, source_cell from fct_indicator_value_versions "
                     "where indicator_code = 'sewage_treatment_rate_pct' and district_code = "
                     "'371083' and year = 2022 order by version_number")
    assert [(v[0], v[1]) for v in versions] == [(1, 96.0), (2, 96.4)] and versions[1][2] == "F6"
    revised = query(demo.serving_path,
                    "select district_code from mart_indicator_scorecard where is_revised "
                    "and indicator_code = 'sewage_treatment_rate_pct' and year = 2022")
    assert revised == [("371083",)]
    (receipt,) = [json.loads(p.read_text("utf-8")) for p in demo.archive_dir.rglob("receipt.json")
                  if "correction" in p.read_text("utf-8")]
    assert receipt["layout"] == "wide" and receipt["rows_accepted"] == 7


def test_make_run_writes_the_data_dictionary(demo):
    page = demo.data_dir / "dbt" / "target" / "static_index.html"
    text = page.read_text("utf-8")
    assert "mart_target_progress" in text and "Open SDG" in text
    chinese = "城市体检"  # the bilingual descriptions reach the dictionary (as JSON escapes)
    assert chinese in text or json.dumps(chinese)[1:-1] in text


def test_the_warehouse_dag_writes_the_annual_reports_after_publishing(demo):
    """The reports task after publish: a report of every city-year with published values,
    HTML and PDF, each from the publication it names."""
    from tests.browser import CHROMIUM

    folder = demo.reports_dir / "annual"
    city_years = [f"{c}_{y}" for c, y in query(demo.serving_path, "select distinct city_code, "
                                               "year from mart_indicator_scorecard order by 1, 2")]
    assert {"371000_2023", "370300_2022"} <= set(city_years)
    assert sorted(p.stem for p in folder.glob("*_*.html")) == city_years
    if CHROMIUM:
        assert sorted(p.stem for p in folder.glob("*.pdf")) == city_years
    # and the index people open them from, each final or provisional as its round is
    index = (folder / "index.html").read_text("utf-8")
    assert all(f'data-report="{cy}"' in index for cy in city_years)
    # each names the publication it was made from (a later publication of the same data
    # leaves the reports as they are)
    import re

    page = (folder / "371000_2023.html").read_text("utf-8")
    named = re.search(r"publication (\d{8}T\d{6}-[0-9a-f]+)", page)
    assert query(demo.warehouse_path, "select count(*) from audit.publications where "
                 f"publication_id = '{named[1]}'") == [(1,)]
    # ... and the indicator pages, one per indicator
    (indicators,) = query(demo.serving_path, "select count(*) from dim_indicator")
    pages = demo.reports_dir / "site" / "indicators"
    assert (demo.reports_dir / "site" / "index.html").exists()
    assert len(list(pages.glob("*.html"))) == len(list(pages.glob("*.csv"))) == indicators[0]


def test_the_run_summary_says_what_layout_rows_are_where_receipts_are_and_what_passed(
        demo, capsys):
    from citycheck.devtools.demo import print_validation
    from citycheck.serving.summary import print_intake

    print_intake(demo)
    print_validation(demo)
    out = capsys.readouterr().out
    assert "layout" in out and "titles, headers, blank, totals and footer rows" in out
    assert f"{demo.archive_dir}/<sha256[:2]>/<sha256>/receipt.txt" in out
    assert any((demo.archive_dir).glob("*/*/receipt.txt"))
    assert "passed" in out and "checks" in out and "latest.html" in out


def _first_run_task_logs(dag_id: str) -> list[tuple]:
    """(task instance, its log) for each task of the DAG's first run (the fixture's make
    run), as Airflow's log reader (the one behind the UI's Logs tab) gives it."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    reader = TaskLogReader()
    with create_session() as session:
        run = (session.query(DagRun).filter(DagRun.dag_id == dag_id)
               .order_by(DagRun.run_after).first())
        out = []
        for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                     TaskInstance.run_id == run.run_id):
            logs, _ = reader.read_log_chunks(ti, ti.try_number, {})
            out.append((ti, "\n".join(m.event for m in logs)))
        session.expunge_all()
        return out


def test_each_task_of_the_run_has_its_own_log_where_airflow_reads_it(demo):
    """dag.test() writes no task log files; make run writes each task's part of its output
    where Airflow's reader looks, so the UI (make airflow-ui) shows it."""
    ingests = [(ti, text) for ti, text in _first_run_task_logs("citycheck_submissions")
               if ti.task_id == "ingest"]
    assert len(ingests) == len(list((SAMPLE_DIR / "submissions").iterdir()))
    for ti, text in ingests:
        assert f"starting task_id=ingest map_index={ti.map_index}\n" in text + "\n", ti
        assert text.count("[DAG TEST] starting task_id=") == 1    # this task's part only
        assert "receipt for " in text and "Done. Returned value was:" in text
    tasks = {ti.task_id: text for ti, text in _first_run_task_logs("citycheck_warehouse")}
    assert "Done. PASS=" in tasks["dbt_build"]
    assert "checks passed" in tasks["validate"]
    assert all(text.count("[DAG TEST] starting task_id=") == 1 for text in tasks.values())


@pytest.fixture(scope="module")
def airflow_ui(demo, tmp_path_factory):
    """make airflow-ui: the api-server alone on the run's metadata."""
    import os

    from citycheck.devtools import airflow_ui as ui
    from tests.helpers import free_port

    home = Path(os.environ["AIRFLOW_HOME"])
    port = free_port()
    proc = ui.start(home, port, tmp_path_factory.mktemp("ui") / "api-server.log")
    try:
        yield f"http://127.0.0.1:{port}", ui.USER, ui.password(home)
    finally:
        ui.stop(proc)


def test_make_airflow_ui_serves_the_task_logs_of_the_run(airflow_ui):
    import urllib.parse

    import requests

    base, user, password = airflow_ui
    token = requests.post(f"{base}/auth/token", json={"username": user, "password": password},
                          timeout=10).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    (ti,) = [ti for ti, _ in _first_run_task_logs("citycheck_warehouse")
             if ti.task_id == "dbt_build"]
    run = urllib.parse.quote(ti.run_id, safe="")
    r = requests.get(f"{base}/api/v2/dags/citycheck_warehouse/dagRuns/{run}/taskInstances/"
                     f"dbt_build/logs/{ti.try_number}", headers=headers, timeout=30)
    assert r.status_code == 200, r.text[:500]
    events = [m["event"] for m in r.json()["content"]]
    assert any("Done. PASS=" in e for e in events)
    # each record carries its level, so the UI can filter by it
    assert any(m.get("level") == "info" for m in r.json()["content"])
    assert requests.get(f"{base}/api/v2/dags", timeout=10).status_code == 401   # not open


@needs_chromium
def test_the_airflow_ui_shows_a_task_log_in_a_real_browser(airflow_ui, tmp_path):
    import urllib.parse

    from tests.browser import shows_something
    from tests.cdp import Browser

    base, user, password = airflow_ui
    (ti,) = [ti for ti, _ in _first_run_task_logs("citycheck_warehouse")
             if ti.task_id == "validate"]
    browser = Browser(width=1400, height=900)
    try:
        browser.goto(f"{base}/")
        browser.wait_for("document.querySelector('input[name=password]')")
        browser.type_into("input[name=username]", user)
        browser.type_into("input[name=password]", password)
        browser.click("button[type=submit]")
        browser.wait_for("!location.pathname.startsWith('/auth')")
        browser.goto(f"{base}/dags/citycheck_warehouse/runs/"
                     f"{urllib.parse.quote(ti.run_id, safe='')}/tasks/validate")
        browser.wait_for("document.body.innerText.includes('checks passed')", seconds=60)
        browser.screenshot(tmp_path / "task-log.png")
        assert shows_something(tmp_path / "task-log.png")
    finally:
        browser.close()


def test_make_airflow_ui_says_so_when_its_port_is_taken(airflow_db, tmp_path):
    """Another server on the port would answer the health check for the UI's own, which
    could not start: it says which port, and how to choose another, before starting."""
    import socket

    from citycheck.devtools import airflow_ui as ui

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port} on 127.0.0.1 is in use.*"
                                             "CITYCHECK_AIRFLOW_UI_PORT"):
            ui.start(airflow_db, port, tmp_path / "api-server.log")
    assert not (tmp_path / "api-server.log").exists()     # nothing was started
