"""Pure parsing of the shared query parameters: time ranges, time zones, limits and cursors.

Every function raises :class:`ParameterError` naming the parameter, which the app turns into a
422 response ``{"detail": [{"parameter": ..., "message": ...}]}``.

Ranges: ``start`` and ``end`` are a date (inclusive at both ends: ``end=2026-11-30`` runs to the
start of 1 December in the viewer's zone) or an ISO 8601 time (a time without an offset is read
in the viewer's zone). Storage is UTC; the result is a half-open UTC interval ``[start, end)``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: The longest range a raw-row search or export may cover; longer ones must be narrowed.
MAX_RANGE = timedelta(days=366 * 2)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")


class ParameterError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class TimeRange:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    tz: ZoneInfo


def parse_tz(value: str | None, parameter: str = "tz") -> ZoneInfo:
    """An IANA zone name (``Asia/Tokyo``); ``UTC`` when absent."""
    if value is None or value == "":
        return ZoneInfo("UTC")
    if len(value) > 64 or not _ZONE_NAME.match(value) or ".." in value:
        raise ParameterError(parameter, "not an IANA time zone name such as Europe/Paris")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ParameterError(parameter, f"unknown time zone {value!r}") from None


def parse_date(value: str, parameter: str) -> date:
    if not _DATE.match(value):
        raise ParameterError(parameter, "expected a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ParameterError(parameter, f"{value!r} is not a calendar date") from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` starts in ``tz`` (DST-safe: zoneinfo resolves the gap)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def parse_instant(value: str, parameter: str, tz: ZoneInfo, *, end_of_day: bool) -> datetime:
    """A date or an ISO time, as a UTC instant. A date given as an end means the day's end."""
    value = value.strip()
    if _DATE.match(value):
        day = parse_date(value, parameter)
        if end_of_day:
            if day == date.max:
                raise ParameterError(parameter, "date out of range")
            day += timedelta(days=1)
        return local_midnight(day, tz)
    try:
        # An unencoded "+09:00" in a query string arrives as " 09:00".
        text = value.replace(" ", "+") if "T" in value else value
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParameterError(parameter, "expected a date YYYY-MM-DD or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


def today_in(tz: ZoneInfo, now: datetime) -> date:
    return now.astimezone(tz).date()


def parse_range(
    start: str | None, end: str | None, tz: ZoneInfo, now: datetime, *, default_days: int = 7,
    max_range: timedelta = MAX_RANGE,
) -> TimeRange:
    """``[start, end)`` in UTC. Without ``end``: through today; without ``start``: ``default_days``
    days ending with ``end``'s day."""
    end_at = (
        parse_instant(end, "end", tz, end_of_day=True)
        if end
        else local_midnight(today_in(tz, now) + timedelta(days=1), tz)
    )
    if start:
        start_at = parse_instant(start, "start", tz, end_of_day=False)
    else:
        last_day = (end_at - timedelta(microseconds=1)).astimezone(tz).date()
        start_at = local_midnight(last_day - timedelta(days=default_days - 1), tz)
    if end_at <= start_at:
        raise ParameterError("end", "must be after start")
    if end_at - start_at > max_range:
        raise ParameterError("start", f"the range may cover at most {max_range.days} days")
    return TimeRange(start_at, end_at, tz)


def parse_limit(value: int | str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ParameterError("limit", "expected a whole number") from None
    if not 1 <= number <= MAX_LIMIT:
        raise ParameterError("limit", f"must be between 1 and {MAX_LIMIT}")
    return number


# -- cursors ------------------------------------------------------------------------------
#
# A cursor is the sort key of the last row of a page, wrapped so that clients treat it as
# opaque: base64url of a small JSON list [kind, epoch microseconds, id]. The kind stops a
# sessions cursor being replayed against file events.


#: The longest window a cursor may carry (a search's windows never grow past the range, two years).
MAX_CURSOR_WINDOW = MAX_RANGE


class Cursor(NamedTuple):
    """Where the next page starts: after the row ``(moment, row_id)``; for a search that stopped
    reading back (``row_id`` 0), the span of its last window, which the next page starts with."""

    moment: datetime
    row_id: int
    window: timedelta | None = None

    @property
    def position(self) -> tuple[datetime, int]:
        return self.moment, self.row_id


def encode_cursor(kind: str, moment: datetime, row_id: int, window: timedelta | None = None) -> str:
    micros = round(moment.timestamp() * 1_000_000)
    fields: list = [kind, micros, row_id]
    if window is not None:
        fields.append(round(min(window, MAX_CURSOR_WINDOW).total_seconds()))
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None, kind: str) -> Cursor | None:
    if value is None or value == "":
        return None
    if len(value) > 200:
        raise ParameterError("cursor", "not a cursor returned by this API")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        fields = json.loads(raw)
        if type(fields) is not list or len(fields) not in (3, 4):
            raise ValueError
        found_kind, micros, row_id, *rest = fields
        if found_kind != kind or type(micros) is not int or type(row_id) is not int:
            raise ValueError
        window = None
        if rest:
            if type(rest[0]) is not int or not 0 < rest[0] <= MAX_CURSOR_WINDOW.total_seconds():
                raise ValueError
            window = timedelta(seconds=rest[0])
        moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)
    except (binascii.Error, ValueError, TypeError, OverflowError, UnicodeDecodeError):
        raise ParameterError("cursor", "not a cursor returned by this API") from None
    return Cursor(moment, row_id, window)


def clean_text(value: str | None, parameter: str, max_length: int = 200) -> str | None:
    """A free-text filter: stripped, bounded, without NUL (PostgreSQL refuses it in text)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > max_length:
        raise ParameterError(parameter, f"at most {max_length} characters")
    if "\x00" in value:
        raise ParameterError(parameter, "may not contain a NUL character")
    return value
