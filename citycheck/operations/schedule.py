"""When things run: the programmes' calendar and time zone, and which year a run reviews.
No Airflow import: the alerts and the DAGs' shared settings both read these."""
from __future__ import annotations

from datetime import datetime

from common.calendar import TIMEZONE  # the programmes' time zone: schedules are read in it

__all__ = ["ANNUAL_REVIEW_CRON", "ANNUAL_RUN_TYPES", "START_DATE", "TIMEZONE",
           "years_to_validate"]

# The first reporting year of the programmes: backfills can replay any year since (with
# catchup off, the scheduler itself never creates past runs).
START_DATE = datetime(2019, 1, 1)
# The annual review: the day after the submission deadline (citycheck/operations/freshness.py).
ANNUAL_REVIEW_CRON = "0 6 1 4 *"
# Runs whose logical date says which year to review (DagRunType values).
ANNUAL_RUN_TYPES = ("scheduled", "backfill")


def years_to_validate(years_param: str | None, logical_date, run_type: str | None = None
                      ) -> list[int] | None:
    """The `years` parameter if given; else, for the annual review and its backfills
    (scheduled and backfill runs), the reporting year before the logical date; else None:
    every loaded year (asset-triggered and manual runs, and dag.test())."""
    from common.config import parse_years

    years = parse_years(years_param)
    if years is None and logical_date is not None and str(run_type) in ANNUAL_RUN_TYPES:
        if logical_date.tzinfo is not None:
            from zoneinfo import ZoneInfo

            logical_date = logical_date.astimezone(ZoneInfo(TIMEZONE))
        years = [logical_date.year - 1]
    return years

