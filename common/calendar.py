"""The programmes' calendar: today's date where the programmes run, and when a reporting
round opens and is due. One definition for the rounds (citycheck/warehouse/rounds.py),
freshness and the reports.

Dates are read in the programmes' time zone (Asia/Shanghai): a round that opens on 1 January
opens at midnight Beijing time, not UTC. `CITYCHECK_TODAY` (YYYY-MM-DD) sets the date the
calendar reads, for demonstrations and tests of what the office sees on a given day; it is
never needed in production.
"""
from __future__ import annotations

import os
from datetime import date, datetime

TIMEZONE = "Asia/Shanghai"
DEADLINE_ENV = "CITYCHECK_SUBMISSION_DEADLINE"
TODAY_ENV = "CITYCHECK_TODAY"


def today() -> date:
    """Today in the programmes' time zone, or CITYCHECK_TODAY when set."""
    text = os.environ.get(TODAY_ENV, "").strip()
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            from common.config import ConfigError

            raise ConfigError(f"{TODAY_ENV}={text!r} is not a date like 2025-04-01") from None
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(TIMEZONE)).date()


def month_day(year: int, text: str, what: str) -> date:
    """'03-31' in `year` as a date; a clear error naming `what` when it is not a month-day."""
    try:
        month, day = (int(p) for p in text.strip().split("-"))
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a month-day like 03-31") from None


def due_date(year: int, deadline: str | None = None) -> date:
    """When the figures of reporting year `year` are due: the deadline (month-day; the
    programme's, else CITYCHECK_SUBMISSION_DEADLINE, default 03-31) of the next year."""
    deadline = deadline or os.environ.get(DEADLINE_ENV, "03-31")
    return month_day(year + 1, deadline, DEADLINE_ENV)


def opening_date(year: int, opens: str = "01-01") -> date:
    """When the round of reporting year `year` opens: `opens` (month-day) of the next year."""
    return month_day(year + 1, opens, "round_opens")


def last_year_due(on: date, deadline: str | None = None) -> int:
    """The latest reporting year whose figures were due by `on`: year Y is due on the
    deadline (month-day) of year Y + 1."""
    return on.year - 1 if on > due_date(on.year - 1, deadline) else on.year - 2
