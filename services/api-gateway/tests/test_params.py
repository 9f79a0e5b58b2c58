"""Pure parsing of the shared parameters: ranges in the viewer's zone, limits, cursors."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from api_gateway.params import (
    ParameterError, decode_cursor, encode_cursor, parse_limit, parse_range, parse_tz,
)
from api_gateway.search import next_window

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
UTC = ZoneInfo("UTC")
TOKYO = ZoneInfo("Asia/Tokyo")


def u(*args):
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("start, end, tz, expected", [
    ("2026-11-01", "2026-11-30", UTC, (u(2026, 11, 1), u(2026, 12, 1))),  # both dates inclusive
    ("2026-11-30", "2026-11-30", TOKYO, (u(2026, 11, 29, 15), u(2026, 11, 30, 15))),  # a Tokyo day in UTC
    ("2026-11-30T10:00:00+09:00", "2026-11-30T11:00:00Z", UTC, (u(2026, 11, 30, 1), u(2026, 11, 30, 11))),
    ("2026-11-30T10:00:00", "2026-11-30T12:00:00", TOKYO, (u(2026, 11, 30, 1), u(2026, 11, 30, 3))),  # naive = viewer's zone
    ("2026-11-30T10:00:00 09:00", "2026-11-30", UTC, (u(2026, 11, 30, 1), u(2026, 12, 1))),  # unencoded '+'
    (None, None, UTC, (u(2026, 11, 24), u(2026, 12, 1))),  # default: the last 7 days through today
    (None, "2026-11-10", UTC, (u(2026, 11, 4), u(2026, 11, 11))),
])
def test_ranges_are_half_open_utc_intervals_cut_in_the_viewers_zone(start, end, tz, expected):
    r = parse_range(start, end, tz, NOW)
    assert (r.start, r.end) == expected


def test_a_day_of_a_dst_change_has_its_real_length():
    r = parse_range("2026-03-29", "2026-03-29", ZoneInfo("Europe/Paris"), NOW)
    assert (r.end - r.start).total_seconds() == 23 * 3600


@pytest.mark.parametrize("start, end, parameter", [
    ("2026-13-01", None, "start"), ("yesterday", None, "start"), (None, "2026-02-30", "end"),
    ("2026-11-30", "2026-11-01", "end"), ("2020-01-01", "2026-11-30", "start"),
])
def test_bad_ranges_name_the_parameter(start, end, parameter):
    with pytest.raises(ParameterError) as error:
        parse_range(start, end, UTC, NOW)
    assert error.value.parameter == parameter


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "Asia/Tokyo; DROP", "x" * 80])
def test_unknown_or_malformed_time_zones_are_refused(name):
    with pytest.raises(ParameterError) as error:
        parse_tz(name)
    assert error.value.parameter == "tz"


def test_iana_zones_and_the_default_are_accepted():
    assert parse_tz("America/Argentina/Buenos_Aires").key == "America/Argentina/Buenos_Aires"
    assert parse_tz(None).key == "UTC"


@pytest.mark.parametrize("value, expected", [(None, 100), ("1", 1), (1000, 1000)])
def test_limits_in_range_are_accepted(value, expected):
    assert parse_limit(value) == expected


@pytest.mark.parametrize("value", ["0", "1001", "-5", "ten"])
def test_limits_out_of_range_are_refused(value):
    with pytest.raises(ParameterError, match="limit"):
        parse_limit(value)


def test_a_cursor_round_trips_to_the_microsecond():
    moment = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert decode_cursor(encode_cursor("s", moment, 42), "s") == (moment, 42, None)
    assert decode_cursor(encode_cursor("s", moment, 0, timedelta(hours=36)), "s") == (moment, 0, timedelta(hours=36))
    assert decode_cursor(None, "s") is None


def _forged(*fields) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(fields)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", [
    "not-base64!", "bnVsbA", encode_cursor("f", NOW, 1), "W10", "x" * 300,
    _forged("s", 1, 0, 0), _forged("s", 1, 0, -3600), _forged("s", 1, 0, "6h"), _forged("s", 1, 0, 10**12),
    _forged("s", 1, 0, 3600, 1), _forged("s", 1),
])
def test_foreign_or_forged_cursors_are_refused(value):
    with pytest.raises(ParameterError) as error:
        decode_cursor(value, "s")
    assert error.value.parameter == "cursor"


@pytest.mark.parametrize("span_hours, took, left, expected_hours", [
    (6, 0.0, 0.5, 12),      # nothing measurable: twice the span
    (6, 0.01, 0.5, 12),     # fast: twice, no more
    (24, 0.2, 0.3, 36),     # twice would overrun the time left at this pace: what fits
    (24, 0.4, 0.01, 6),     # almost no time left: never under the first window
])
def test_a_windowed_search_grows_its_windows_as_the_time_left_allows(span_hours, took, left, expected_hours):
    assert next_window(timedelta(hours=span_hours), took, left) == timedelta(hours=expected_hours)
