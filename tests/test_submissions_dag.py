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


ZIBO_HOUSING = [f"370300_housing_{year}.xlsx" for year in (2020, 2021, 2022)]
WARNINGS = ("select f.original_name, w.cell, w.district_code, w.indicator_code, w.year, w.rule, "
            "w.action, w.compared_with from raw.submission_warnings as w "
            "join raw.submission_files as f using (file_hash) order by all")


def _zibo_housing_inbox(settings, start: float) -> None:
    """Zibo's housing files in the inbox, arrived a minute apart from `start`, 2020 first."""
    import os
    import shutil

    from common.config import SAMPLE_DIR

    for i, name in enumerate(ZIBO_HOUSING):
        target = settings.inbox_dir / name
        shutil.copyfile(SAMPLE_DIR / "submissions" / name, target)
        os.utime(target, (start + 60 * i, start + 60 * i))


def test_mapped_ingest_tasks_in_any_order_judge_each_file_against_what_arrived_before(
        tmp_path, monkeypatch, portal_url):
    """`make run` ran the mapped ingest tasks as map_index 51, 57, 54, ...: Zibo's 2022 file
    landed before its 2021 file, so 370303's 0.49 km of utility tunnel in 2022 (4.5 in 2021)
    was never compared with 2021 and went to publication instead of the office's review. On
    DuckDB a task now lands the older files still waiting before its own."""
    import json
    import time

    from extract.submissions import ingest_inbox, ingest_inbox_file, queue_inbox
    from tests.helpers import make_settings, query

    arrived = time.time() - 3600
    in_order = make_settings(tmp_path / "in-order", monkeypatch, portal_url)
    _zibo_housing_inbox(in_order, arrived)
    assert [r.status for r in ingest_inbox(in_order)] == ["loaded"] * 3

    settings = make_settings(tmp_path / "any-order", monkeypatch, portal_url)
    _zibo_housing_inbox(settings, arrived)
    entries = queue_inbox(settings)           # what the DAG's list task gives the mapped tasks
    landed, statuses = [], []
    for entry in reversed(entries):           # the newest file's task runs first
        receipt = ingest_inbox_file(
            entry, settings, each=lambda r: landed.append((r.file_name, r.status)))
        statuses.append((receipt.file_name, receipt.status))
    warnings = query(settings.warehouse_path, WARNINGS)
    held = [w for w in warnings if w[2:5] == ("370303", "utility_tunnel_km", 2022)]
    assert [w[5:] for w in held] == [("decrease", "hold", 4.5), ("yoy_factor", "hold", 4.5)]
    assert warnings == query(in_order.warehouse_path, WARNINGS)
    # the first task lands all three, oldest first; the others find theirs gone
    assert landed == [(name, "loaded") for name in ZIBO_HOUSING] + [
        (ZIBO_HOUSING[1], "skipped"), (ZIBO_HOUSING[0], "skipped")]
    assert statuses == [(ZIBO_HOUSING[2], "loaded"), (ZIBO_HOUSING[1], "skipped"),
                        (ZIBO_HOUSING[0], "skipped")]
    assert not list(settings.inbox_dir.iterdir())


    def receipts(s) -> dict:
        found = {}
        for (text,) in query(s.warehouse_path, "select receipt_json from raw.submission_receipts"):
            r = json.loads(text)
            r.pop("archived_path")
            found[r["file_name"]] = r
        return found
    assert receipts(settings) == receipts(in_order)
