"""Open data: one DAG per schedule in extract/sources.yml, one fetch task per source.

    fetch_<source> (in the warehouse pool, retried with backoff) -> asset raw/open_data

A source that fails fails only its own task; the others still land their data.
"""
from airflow.sdk import DAG, task

from citycheck.operations.orchestration import (
    DEFAULT_ARGS,
    EXTRACT_ARGS,
    RAW_OPEN_DATA,
    START_DATE,
    WAREHOUSE_POOL,
)
from extract.registry import load_sources, schedule_slug


def _fetch(source_name: str) -> dict:
    from common.config import Settings
    from extract.open_data import fetch_all

    (result,) = fetch_all(Settings.from_env(), [source_name])
    return {"source": result.source, "status": result.status, "records": result.records,
            "accepted": result.accepted, "rejected": result.rejected}


_by_schedule: dict[str, list] = {}
for _source in load_sources():
    _by_schedule.setdefault(_source.schedule, []).append(_source)

for _schedule, _sources in _by_schedule.items():
    with DAG(
        dag_id=f"citycheck_open_data_{schedule_slug(_schedule)}",
        schedule=_schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["citycheck", "extract", "open-data"],
        doc_md=__doc__,
    ) as _dag:
        for _source in _sources:
            task(_fetch, task_id=f"fetch_{_source.name}", pool=WAREHOUSE_POOL,
                 outlets=[RAW_OPEN_DATA], doc=_source.description, **EXTRACT_ARGS)(_source.name)
    globals()[_dag.dag_id] = _dag
