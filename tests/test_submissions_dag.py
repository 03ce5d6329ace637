"""The quarter-hourly submissions DAG triggers a build only when something landed: an empty
inbox builds nothing, and a landing no build has seen (a file taken in by hand, or an intake
killed after its commit, before its asset event) is announced by the next run."""
from __future__ import annotations

import pytest

from tests.faults import cli, killed
from tests.helpers import CORRECTION

ASSET = "citycheck://warehouse/raw/submissions"


def _run(dag):
    """dag.test(): the run's task states and the asset events it emitted."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run = dag.test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    with create_session() as session:
        events = session.scalars(
            select(AssetModel.uri).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == run.run_id)).all()
    return run.state, states, events


@pytest.mark.parametrize("landed_by", ["ingest", "killed after commit"])
def test_only_a_landing_no_build_has_seen_triggers_the_warehouse(built, airflow_db, tmp_path,
                                                                  landed_by):
    from citycheck.devtools.demo import load_dags

    dag = load_dags()["citycheck_submissions"]
    state, states, events = _run(dag)                 # a quarter hour with an empty inbox
    assert state == "success"
    assert states["any_recovered"] == "success" and states["announce_recovered"] == "skipped"
    assert events == []                               # no asset event: nothing is built

    src = tmp_path / "371000_water_2023_correction.csv"
    src.write_text(CORRECTION, encoding="utf-8")
    if landed_by == "ingest":                         # by hand: no DAG, no asset event
        assert cli(built, "ingest", str(src)).returncode == 0
    else:                                             # landed, and the process died at once
        assert killed(cli(built, "ingest", str(src), crash_at="ingest.after_commit"))
    state, states, events = _run(dag)
    assert state == "success" and states["announce_recovered"] == "success", states
    assert events == [ASSET]                          # the warehouse DAG builds it
