"""The weekly bulletin (通报) during collection: every Monday at 08:00 (Beijing), one bulletin
per city for its round in collection (its latest round not closed), issued from the current
publication (docs/assessment.md, "Bulletins"). Off by default: set
CITYCHECK_WEEKLY_BULLETIN=1 to issue them.

    issue_weekly

Each bulletin is numbered in turn per city and round and kept (never rewritten); the office
page and the departments it names list it. A run with the setting off issues nothing and
says so.
"""
from airflow.sdk import CronTriggerTimetable, dag, task

from citycheck.operations.orchestration import DEFAULT_ARGS, START_DATE, TIMEZONE


@dag(
    dag_id="citycheck_bulletins",
    # Mondays 08:00 Beijing time, after the daily rounds DAG's reminders
    schedule=CronTriggerTimetable("0 8 * * 1", timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["citycheck", "rounds", "bulletins"],
    doc_md=__doc__,
)
def citycheck_bulletins():
    @task    # reads the publication only: outside the warehouse pool
    def issue_weekly() -> list[str]:
        from citycheck.serving.bulletin import issue_weekly_bulletins
        from common.config import Settings

        issued = issue_weekly_bulletins(Settings.from_env())
        for name in issued:
            print(f"issued {name}")
        return issued

    issue_weekly()


citycheck_bulletins()
