"""What the DAG files share: assets, default arguments, the writer pool. Light imports only:
DAG files import this at parse time."""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset

from citycheck.operations.alerts import task_failure_alert
from citycheck.operations.schedule import (
    ANNUAL_REVIEW_CRON,
    START_DATE,
    TIMEZONE,
    years_to_validate,
)
from common.config import WAREHOUSE_POOL

# Emitted when new raw data has landed; the warehouse DAG is scheduled on either.
RAW_SUBMISSIONS = Asset("citycheck://warehouse/raw/submissions", group="citycheck")
RAW_OPEN_DATA = Asset("citycheck://warehouse/raw/open_data", group="citycheck")
# Emitted when a round opened, closed or reopened, or a review step was taken (the calendar's
# daily task, the portal): the warehouse DAG builds and publishes what changed.
RAW_ROUNDS = Asset("citycheck://warehouse/raw/rounds", group="citycheck")
# Emitted when a validated build has been published (for downstream consumers).
PUBLISHED_MARTS = Asset("citycheck://published/marts", group="citycheck")

DEFAULT_ARGS = {
    "owner": "citycheck-data-engineering",
    "retries": 0,
    # after the last retry: a JSON alert to CITYCHECK_ALERT_WEBHOOK_URL (citycheck/operations/alerts.py)
    "on_failure_callback": task_failure_alert,
}
# Extraction talks to the outside world: retry with exponential backoff.
EXTRACT_ARGS = {
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}


__all__ = ["ANNUAL_REVIEW_CRON", "TIMEZONE", "years_to_validate",
           "RAW_SUBMISSIONS", "RAW_OPEN_DATA", "RAW_ROUNDS", "PUBLISHED_MARTS", "START_DATE", "DEFAULT_ARGS",
           "EXTRACT_ARGS", "WAREHOUSE_POOL"]
