"""Time for the limits: an injectable clock and the UTC calendar windows.

Per-member requests per minute use a sliding window (a request counts for
60 seconds after it was admitted); token budgets use UTC calendar days and
months, so every server's day starts at 00:00 UTC.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

# Seconds since the epoch, as time.time() gives them; tests pass a clock they move.
Clock = Callable[[], float]

MINUTE = 60.0


def system_clock() -> float:
    return time.time()


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def day_of(at: float) -> date:
    """The UTC calendar day of an instant."""
    return utc(at).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_day(day: date) -> date:
    return day + timedelta(days=1)


def next_month(day: date) -> date:
    first = month_start(day)
    return (first + timedelta(days=32)).replace(day=1)


def epoch(day: date) -> float:
    """00:00 UTC of `day`, in seconds since the epoch."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def day_end(at: float) -> float:
    """When the UTC day of `at` ends."""
    return epoch(next_day(day_of(at)))


def month_end(at: float) -> float:
    """When the UTC month of `at` ends."""
    return epoch(next_month(day_of(at)))
