"""Pure rules for cutting time into the viewer's days, weeks and months, and clipping sessions.

Storage is UTC. A period starts at local midnight in the viewer's zone (weeks on Monday, months
on the 1st), so a period is not always 24 h long (DST). A session crossing a period edge counts
in each period for the part inside it: 23:50–00:20 is 10 minutes to one day and 20 to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from api_gateway.params import local_midnight

PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Period:
    label: str  # 2026-11-30 (day), 2026-W49 (ISO week), 2026-11 (month)
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def next_period_start(day: date, period: str) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    if period == "month":
        return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    raise ValueError(f"unknown period {period!r}")


def label_of(day: date, period: str) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def periods_between(start: datetime, end: datetime, period: str, tz: ZoneInfo) -> list[Period]:
    """The periods of ``tz`` that overlap ``[start, end)``, each clipped to that range."""
    found = []
    day = period_start(start.astimezone(tz).date(), period)
    while True:
        begin, finish = local_midnight(day, tz), local_midnight(next_period_start(day, period), tz)
        if begin >= end:
            break
        found.append(Period(label_of(day, period), max(begin, start), min(finish, end)))
        day = next_period_start(day, period)
    return found


def clip(start: datetime, end: datetime, lower: datetime, upper: datetime) -> float:
    """Seconds of ``[start, end)`` inside ``[lower, upper)``; 0 when they do not overlap."""
    return max(0.0, (min(end, upper) - max(start, lower)).total_seconds())


def split_by_period(start: datetime, end: datetime, periods: list[Period]) -> dict[str, float]:
    """A session's seconds per period label (only the periods it touches)."""
    found = {}
    for period in periods:
        seconds = clip(start, end, period.start, period.end)
        if seconds > 0:
            found[period.label] = seconds
    return found
