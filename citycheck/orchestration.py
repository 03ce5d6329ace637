"""What the DAG files share: assets, default arguments, the writer pool. Light imports only:
DAG files import this at parse time."""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset

from citycheck.alerts import task_failure_alert
from citycheck.config import WAREHOUSE_POOL

# Emitted when new raw data has landed; the warehouse DAG is scheduled on either.
RAW_SUBMISSIONS = Asset("citycheck://warehouse/raw/submissions", group="citycheck")
RAW_OPEN_DATA = Asset("citycheck://warehouse/raw/open_data", group="citycheck")
# Emitted when a validated build has been published (for downstream consumers).
PUBLISHED_MARTS = Asset("citycheck://published/marts", group="citycheck")

# The first reporting year of the programmes: backfills can replay any year since (with
# catchup off, the scheduler itself never creates past runs).
START_DATE = datetime(2019, 1, 1)
# The annual review: the day after the submission deadline (citycheck/freshness.py).
ANNUAL_REVIEW_CRON = "0 6 1 4 *"
# Runs whose logical date says which year to review (DagRunType values).
ANNUAL_RUN_TYPES = ("scheduled", "backfill")
# The programmes' time zone: schedules and the year of a logical date are read in it.
TIMEZONE = "Asia/Shanghai"
DEFAULT_ARGS = {
    "owner": "citycheck-data-engineering",
    "retries": 0,
    # after the last retry: a JSON alert to CITYCHECK_ALERT_WEBHOOK_URL (citycheck/alerts.py)
    "on_failure_callback": task_failure_alert,
}
# Extraction talks to the outside world: retry with exponential backoff.
EXTRACT_ARGS = {
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

def years_to_validate(years_param: str | None, logical_date, run_type: str | None = None
                      ) -> list[int] | None:
    """The `years` parameter if given; else, for the annual review and its backfills
    (scheduled and backfill runs), the reporting year before the logical date; else None:
    every loaded year (asset-triggered and manual runs, and dag.test())."""
    from citycheck.config import parse_years

    years = parse_years(years_param)
    if years is None and logical_date is not None and str(run_type) in ANNUAL_RUN_TYPES:
        if logical_date.tzinfo is not None:
            from zoneinfo import ZoneInfo

            logical_date = logical_date.astimezone(ZoneInfo(TIMEZONE))
        years = [logical_date.year - 1]
    return years


__all__ = ["ANNUAL_REVIEW_CRON", "TIMEZONE", "years_to_validate",
           "RAW_SUBMISSIONS", "RAW_OPEN_DATA", "PUBLISHED_MARTS", "START_DATE", "DEFAULT_ARGS",
           "EXTRACT_ARGS", "WAREHOUSE_POOL"]
