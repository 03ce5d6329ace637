"""Department submissions: every 15 minutes, land each file waiting in the inbox.

    recover -> list_inbox -> ingest (one mapped task per file, in the warehouse pool;
                                     asset raw/submissions)
            -> any_recovered -> announce_recovered (asset raw/submissions)

`recover` first lands whatever a stopped run left in the archive and writes any receipt a
crash left unwritten (docs/reliability.md); `announce_recovered` emits the asset only when it
landed something, so that a quarter hour with an empty inbox builds nothing.

Each file gets a receipt beside its archived original; a rejected file is the department's to
fix and does not fail the task. The asset event triggers citycheck_warehouse.

The mapped tasks may run in any order, yet each file is judged against what arrived before
it: on DuckDB (one writer) a task lands the older files still waiting before its own, and
their own tasks find them gone ("skipped"); on PostgreSQL a task waits for the older files of
its city and department (extract/submissions/inbox.py).
"""
from airflow.sdk import dag, task

from citycheck.operations.orchestration import (
    DEFAULT_ARGS,
    EXTRACT_ARGS,
    RAW_SUBMISSIONS,
    START_DATE,
    WAREHOUSE_POOL,
)


@dag(
    dag_id="citycheck_submissions",
    schedule="*/15 * * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["citycheck", "extract"],
    doc_md=__doc__,
)
def citycheck_submissions():
    @task(pool=WAREHOUSE_POOL)
    def recover() -> int:
        """Files landed now, plus 1 when the raw tables hold a landing no build has seen."""
        from citycheck.warehouse.audit import unbuilt
        from common.config import Settings
        from common.engine import engine_for
        from extract.submissions import recover_intake

        settings = Settings.from_env()
        landed = len(recover_intake(settings))
        with engine_for(settings).connect() as con:
            return landed + unbuilt(con)

    @task
    def list_inbox(recovered: int) -> list[str]:
        from common.config import Settings
        from extract.submissions import queue_inbox

        return [str(p) for p in queue_inbox(Settings.from_env())]

    @task(pool=WAREHOUSE_POOL, outlets=[RAW_SUBMISSIONS], map_index_template="{{ path }}",
          **EXTRACT_ARGS)
    def ingest(path: str) -> dict:
        import logging

        from common.config import Settings
        from extract.submissions import ingest_inbox_file

        log = logging.getLogger(__name__)
        # on DuckDB the task lands the older files still waiting first (ingest_inbox_file)
        receipt = ingest_inbox_file(
            path, Settings.from_env(),
            each=lambda r: log.info("receipt for %s:\n%s", r.file_name, r.to_text()))
        return {"file": receipt.file_name, "status": receipt.status,
                "accepted": receipt.rows_accepted, "rejected": receipt.rows_rejected}

    @task.short_circuit
    def any_recovered(recovered: int) -> bool:
        return recovered > 0

    @task(outlets=[RAW_SUBMISSIONS])
    def announce_recovered(recovered: int) -> int:
        return recovered

    recovered = recover()
    any_recovered(recovered) >> announce_recovered(recovered)
    ingest.expand(path=list_inbox(recovered))


citycheck_submissions()
