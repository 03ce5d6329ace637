"""The reporting rounds, daily: open the rounds the programmes' calendar has reached, then
remind who is overdue, one alert per round (docs/operations.md, "Running a round").

    open_due_rounds (in the warehouse pool) -> any_opened -> announce (asset raw/rounds)
                                            -> remind

`open_due_rounds` appends an `opened` event for every round whose day has come
(seeds/programmes.csv). When it opened one, `announce` emits the raw/rounds asset: the
warehouse DAG builds, and the new round's values are owed from that day (on other days it is
skipped, and nothing is built). `remind` posts to the alert hook (CITYCHECK_ALERT_WEBHOOK_URL)
one `round_overdue` alert per round past its due date and not closed, naming each department
that still owes values, with the reminder text ready to send.
"""
from airflow.sdk import CronTriggerTimetable, dag, task

from citycheck.operations.orchestration import (
    DEFAULT_ARGS,
    RAW_ROUNDS,
    START_DATE,
    TIMEZONE,
    WAREHOUSE_POOL,
)


@dag(
    dag_id="citycheck_rounds",
    # 07:00 Beijing time every day, before the office's working day
    schedule=CronTriggerTimetable("0 7 * * *", timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["citycheck", "rounds"],
    doc_md=__doc__,
)
def citycheck_rounds():
    @task(pool=WAREHOUSE_POOL)
    def open_due_rounds() -> list[str]:
        from citycheck.operations.rounds import open_due
        from common.config import Settings

        opened = open_due(Settings.from_env())
        for name in opened:
            print(f"opened the {name} round")
        return opened

    @task.short_circuit
    def any_opened(opened: list[str]) -> bool:
        return bool(opened)

    @task(outlets=[RAW_ROUNDS])
    def announce(opened: list[str]) -> list[str]:
        return opened

    @task(pool=WAREHOUSE_POOL)    # reads the warehouse file: a reader blocks DuckDB's writer
    def remind(opened: list[str]) -> list[dict]:
        from citycheck.operations.rounds import remind_overdue
        from common.config import Settings

        sent = remind_overdue(Settings.from_env())
        for alert in sent:
            print(alert["summary"])
        return [{"round": a["round_id"], "departments": len(a["departments"])} for a in sent]

    opened = open_due_rounds()
    any_opened(opened) >> announce(opened)
    remind(opened)


citycheck_rounds()
