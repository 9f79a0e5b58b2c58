"""Pure period rules: days, weeks and months of the viewer's zone, and sessions clipped at their edges."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from api_gateway.params import local_midnight
from api_gateway.periods import periods_between, split_by_period
from api_gateway.timeline import MERGE_GAPS, Bar, Session, chain, fit_day, lanes, merge_close, runs

UTC = ZoneInfo("UTC")


def u(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_a_session_crossing_midnight_counts_its_part_to_each_day():
    days = periods_between(u(2026, 11, 29), u(2026, 12, 1), "day", UTC)
    assert split_by_period(u(2026, 11, 29, 23, 50), u(2026, 11, 30, 0, 20), days) == {"2026-11-29": 600,
                                                                                   "2026-11-30": 1200}


def test_midnight_is_the_viewers_midnight():
    tokyo = ZoneInfo("Asia/Tokyo")
    days = periods_between(local_midnight(datetime(2026, 11, 29).date(), tokyo),
                           local_midnight(datetime(2026, 12, 1).date(), tokyo), "day", tokyo)
    # 14:50–15:20 UTC is 23:50–00:20 in Tokyo.
    assert split_by_period(u(2026, 11, 29, 14, 50), u(2026, 11, 29, 15, 20), days) == {"2026-11-29": 600,
                                                                                    "2026-11-30": 1200}


def test_a_quarter_hour_offset_zone_cuts_at_its_own_midnight():
    kathmandu = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
    days = periods_between(u(2026, 11, 28), u(2026, 12, 2), "day", kathmandu)
    assert days[0].label == "2026-11-28" and days[0].start == u(2026, 11, 28)  # clipped to the range
    assert days[1].label == "2026-11-29" and days[1].start == u(2026, 11, 28, 18, 15)


def test_weeks_start_on_monday_and_months_on_the_first_and_are_clipped_to_the_range():
    weeks = periods_between(u(2026, 11, 25), u(2026, 12, 10), "week", UTC)
    assert [(w.label, w.start, w.end) for w in weeks] == [
        ("2026-W48", u(2026, 11, 25), u(2026, 11, 30)), ("2026-W49", u(2026, 11, 30), u(2026, 12, 7)),
        ("2026-W50", u(2026, 12, 7), u(2026, 12, 10)),
    ]
    months = periods_between(u(2026, 11, 15), u(2027, 1, 5), "month", UTC)
    assert [m.label for m in months] == ["2026-11", "2026-12", "2027-01"]


def test_a_dst_day_is_23_hours_long():
    paris = ZoneInfo("Europe/Paris")
    days = periods_between(u(2026, 3, 28, 23), u(2026, 3, 29, 22), "day", paris)
    assert [(d.label, d.end - d.start) for d in days] == [("2026-03-29", timedelta(hours=23))]


def _s(i, start, seconds, app="Emacs", host="a"):
    return Session(i, host, app, f"title {i}", start, start + timedelta(seconds=seconds))


def test_runs_of_short_sessions_merge_into_one_segment_named_for_the_main_application():
    t = u(2026, 11, 30, 9)
    sessions = [_s(1, t, 600), _s(2, t + timedelta(seconds=600), 5, "Firefox"), _s(3, t + timedelta(seconds=605), 10),
                _s(4, t + timedelta(seconds=615), 20), _s(5, t + timedelta(seconds=635), 900, "Firefox")]
    segments = chain(sessions)
    assert [(s.application, s.count) for s in segments] == [("Emacs", 1), ("Emacs", 3), ("Firefox", 1)]
    assert segments[1].as_json()["title"] is None and segments[0].as_json()["title"] == "title 1"


def test_short_sessions_far_apart_stay_separate_and_sessions_of_a_minute_stay_whole():
    t = u(2026, 11, 30, 9)
    segments = chain([_s(1, t, 5), _s(2, t + timedelta(hours=1), 5), _s(3, t + timedelta(hours=1, seconds=5), 60),
                      _s(4, t + timedelta(hours=1, seconds=65), 60)])
    assert [s.count for s in segments] == [1, 1, 1, 1]


def test_sessions_under_a_second_are_kept_merged_into_their_run_or_alone():
    t = u(2026, 11, 30, 9)
    zero = Session(3, "a", "Slack", "ping", t + timedelta(seconds=1), t + timedelta(seconds=1))
    segments = chain([_s(1, t, 0.4, "Firefox"), _s(2, t + timedelta(seconds=0.5), 0.2), zero,
                      _s(4, t + timedelta(hours=2), 0.3, "Zoom")])
    assert [(s.count, s.application) for s in segments] == [(3, "Firefox"), (1, "Zoom")]
    day = lanes([zero], u(2026, 11, 30), u(2026, 12, 1))["a"]
    assert [(s.start, s.end, s.title) for s in day] == [(zero.start, zero.start, "ping")]


def test_overlapping_sessions_are_one_segment():
    t = u(2026, 11, 30, 9)
    segments = chain([_s(1, t, 600), _s(2, t + timedelta(seconds=300), 900, "Firefox"),
                      _s(3, t + timedelta(seconds=1200), 600)])
    assert [(s.count, s.application, s.end) for s in segments] == [(2, "Firefox", t + timedelta(seconds=1200)),
                                                                   (1, "Emacs", t + timedelta(seconds=1800))]


def test_lanes_are_per_host_and_clip_segments_to_the_day():
    day = u(2026, 11, 30)
    result = lanes([_s(1, day - timedelta(minutes=10), 1200, host="b"), _s(2, day + timedelta(hours=1), 300, host="a")],
                   day, day + timedelta(days=1))
    assert list(result) == ["a", "b"]
    assert (result["b"][0].start, result["b"][0].end) == (day, day + timedelta(minutes=10))
    assert lanes([_s(1, day - timedelta(minutes=10), 600)], day, day + timedelta(days=1)) == {}


def test_a_run_of_short_sessions_does_not_depend_on_the_day_it_is_seen_in():
    midnight = local_midnight(datetime(2026, 11, 30).date(), ZoneInfo("Asia/Kathmandu"))  # 18:15 UTC
    hour = midnight - timedelta(minutes=15)
    sessions = [_s(i, hour + timedelta(seconds=40 * i), 30) for i in range(80)]
    before, after = (lanes(sessions, lo, hi)["a"] for lo, hi in ((midnight - timedelta(days=1), midnight),
                                                                 (midnight, midnight + timedelta(days=1))))
    assert len(before) == len(after) == 1 and before[0].count == after[0].count == 80
    assert (before[0].end, after[0].start) == (midnight, midnight)


def test_runs_are_chained_within_the_utc_hour_they_start_in():
    t = u(2026, 11, 30, 9, 58)
    segments = runs([_s(i, t + timedelta(seconds=30 * i), 20) for i in range(8)])[("", "a")]
    assert [(s.start, s.count) for s in segments] == [(t, 4), (u(2026, 11, 30, 10), 4)]


def _bar(first_id, start, seconds, app="Emacs", title="t", sessions=1):
    return Bar(start, start + timedelta(seconds=seconds), app, title, sessions, first_id)


T = u(2026, 11, 30, 9)


@pytest.mark.parametrize("gap, drawn", [
    # bars: 0–600 Emacs, 600–610 Firefox (touching), 605–700 Firefox (overlapping), 730–760 Slack, 1000–1100 Emacs
    (0, [(0, 700, "Emacs", None, 4), (730, 760, "Slack", "t", 1), (1000, 1100, "Emacs", "t", 1)]),
    (30, [(0, 760, "Emacs", None, 5), (1000, 1100, "Emacs", "t", 1)]),
    (239, [(0, 760, "Emacs", None, 5), (1000, 1100, "Emacs", "t", 1)]),
    (240, [(0, 1100, "Emacs", None, 6)]),
])
def test_close_bars_of_a_lane_are_drawn_as_one_named_for_the_application_covering_most(gap, drawn):
    bars = [_bar(1, T, 600), _bar(2, T + timedelta(seconds=600), 10, "Firefox"),
            _bar(3, T + timedelta(seconds=605), 95, "Firefox", sessions=2),
            _bar(5, T + timedelta(seconds=730), 30, "Slack"), _bar(6, T + timedelta(seconds=1000), 100)]
    merged = merge_close(bars, timedelta(seconds=gap))
    assert [((b.start - T).total_seconds(), (b.end - T).total_seconds(), b.application, b.title, b.sessions)
            for b in merged] == drawn
    assert merged[0].first_id == 1 and sum(b.sessions for b in merged) == 6
    assert (bars[0].end, bars[0].sessions) == (T + timedelta(seconds=600), 1)  # the bars given are left as they were


def test_a_day_that_fits_is_left_as_it_is():
    lanes_ = [[_bar(i, T + timedelta(seconds=100 * i), 90) for i in range(10)]]
    assert fit_day(lanes_, max_bytes=10_000) == (lanes_, None)


@pytest.mark.parametrize("max_bytes, gap", [(30_000, None), (10_000, 30), (1_000, 30), (200, MERGE_GAPS[-1].total_seconds())])
def test_a_day_too_large_merges_within_the_smallest_gap_that_fits(max_bytes, gap):
    """Two lanes of 90 s sessions 10 s apart, an hour off between 09:00 and 10:00 in the first."""
    first = [_bar(i, T + timedelta(seconds=100 * i), 90) for i in range(36)]
    first += [_bar(100 + i, T + timedelta(hours=2, seconds=100 * i), 90, "Firefox") for i in range(36)]
    second = [_bar(200 + i, T + timedelta(seconds=100 * i), 90, "Slack") for i in range(36)]
    fitted, used = fit_day([first, second], max_bytes)
    assert (used.total_seconds() if used is not None else None) == gap
    if gap is None:
        return
    assert sum(b.json_bytes() for lane in fitted for b in lane) <= max(max_bytes, 2 * 400)
    drawn = [[(b.application, b.sessions) for b in lane] for lane in fitted]
    if gap == 30:  # each run of activity one bar
        assert drawn == [[("Emacs", 36), ("Firefox", 36)], [("Slack", 36)]]
    else:  # not even runs an hour apart fit: a bar per lane
        assert drawn == [[("Emacs", 72)], [("Slack", 36)]]
