"""Every DAG file imports, has no cycles, names an owner, and puts its writers in the pool."""
from pathlib import Path

import pytest

from common.config import WAREHOUSE_POOL

DAG_FILES = sorted((Path(__file__).resolve().parents[1] / "dags").glob("*.py"))
# Tasks that only read (they never open the warehouse file for writing).
# tasks that read the inbox or the publication and write no warehouse: outside the pool
READ_ONLY_TASKS = {"list_inbox", "reports", "any_opened", "announce", "issue_weekly",
                   "any_recovered", "announce_recovered"}


def _bag(path: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(path))


def test_the_expected_dags_exist():
    from citycheck.devtools.demo import load_dags

    dags = load_dags()
    assert {"citycheck_submissions", "citycheck_warehouse"} <= set(dags)
    assert any(d.startswith("citycheck_open_data_") for d in dags)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_cleanly(path):
    bag = _bag(path)
    assert not bag.import_errors, bag.import_errors  # a cycle is an import error too
    assert bag.dags, f"{path.name} defines no DAG"
    for dag in bag.dags.values():
        assert dag.owner == "citycheck-data-engineering"
        assert dag.max_active_runs == 1, "two runs at once would fight over the writer"
        assert dag.doc_md, "a DAG says what it does"
        for t in dag.tasks:
            if t.task_id not in READ_ONLY_TASKS:
                assert t.pool == WAREHOUSE_POOL, f"{dag.dag_id}.{t.task_id} writes outside the pool"


def test_extract_tasks_retry_with_backoff():
    from citycheck.devtools.demo import load_dags

    for dag in load_dags().values():
        for t in dag.tasks:
            if t.task_id.startswith("fetch_") or t.task_id == "ingest":
                assert t.retries >= 2 and t.retry_exponential_backoff, t.task_id


def test_warehouse_dag_is_triggered_by_raw_data_and_yearly_and_takes_years():
    from datetime import datetime

    from citycheck.devtools.demo import load_dags
    from citycheck.operations.orchestration import years_to_validate

    dag = load_dags()["citycheck_warehouse"]
    condition = dag.timetable.asset_condition  # AssetAny: either asset triggers a run
    uris = {asset.uri for asset in condition.objects}
    assert {"citycheck://warehouse/raw/submissions", "citycheck://warehouse/raw/open_data",
            "citycheck://warehouse/raw/rounds"} <= uris
    # ... and the annual review after the deadline, which backfills can replay year by year
    assert dag.timetable.timetable.expression == "0 6 1 4 *"
    assert "years" in dag.params
    assert [t.task_id for t in dag.topological_sort()] == [
        "check_freshness", "dbt_build", "validate", "publish", "reports"]
    assert years_to_validate("", datetime(2024, 4, 1), "scheduled") == [2023]
    assert years_to_validate("", datetime(2024, 4, 1), "backfill") == [2023]
    assert years_to_validate("2020-2021", datetime(2024, 4, 1), "backfill") == [2020, 2021]
    assert years_to_validate(None, None, "asset_triggered") is None
    # a manual run (and dag.test(), which gives it a logical date) validates every loaded year
    assert years_to_validate(None, datetime(2024, 4, 1), "manual") is None
    # 2024-04-01 06:00 in Beijing is still 31 March in UTC: the year is read in Beijing
    from datetime import UTC
    assert years_to_validate(None, datetime(2024, 3, 31, 22, tzinfo=UTC), "scheduled") == [2023]
    assert years_to_validate(None, datetime(2023, 12, 31, 20, tzinfo=UTC), "scheduled") == [2023]

    for task in dag.tasks:  # whoever is on call hears of any failure
        assert task.on_failure_callback, task.task_id


def test_the_rounds_dag_opens_rounds_daily_and_announces_only_what_it_opened():
    from citycheck.devtools.demo import load_dags

    dag = load_dags()["citycheck_rounds"]
    assert dag.timetable.expression == "0 7 * * *"
    announce = dag.get_task("announce")
    assert [o.uri for o in announce.outlets] == ["citycheck://warehouse/raw/rounds"]
    assert dag.get_task("any_opened").upstream_task_ids == {"open_due_rounds"}
    assert dag.get_task("remind").pool == WAREHOUSE_POOL
