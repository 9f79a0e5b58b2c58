"""Summaries read from the 15-minute rollups equal the raw-row aggregation, on random data, in
zones with quarter-hour offsets and DST, after sessions gain their end and rows are re-sent."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from api_gateway.params import local_midnight
from api_gateway.periods import periods_between
from api_gateway.summary import on_buckets, summarize
from conftest import utc

ZONES = ["UTC", "Asia/Kathmandu", "America/St_Johns", "Europe/Paris", "Australia/Eucla", "Pacific/Chatham"]


async def _random_rows(seed, rng):
    base = utc(2026, 10, 20)
    ids = []
    for _ in range(300):
        start = base + timedelta(seconds=rng.randrange(0, 14 * 86400), microseconds=rng.randrange(10**6))
        length = timedelta(seconds=rng.choice([3, 40, 600, 899, 3600, 20000]), microseconds=rng.randrange(10**6))
        end = None if rng.random() < 0.15 else start + length
        ids.append(await seed.session(start, end, app=rng.choice(["Emacs", "Firefox", "Slack"]),
                                      host=rng.choice(["laptop_me", "desk_you"])))
        await seed.file_event(start, f"/p/{rng.randrange(50)}.{rng.choice(['py', 'md'])}",
                              event_type=rng.choice(["created", "modified"]), project=rng.choice(["a", "b", None]),
                              host=rng.choice(["laptop_me", "desk_you"]))
    return ids


def _rounded(result):
    return [(p["label"], round(p["active_seconds"], 3), p["sessions"], p["file_events"],
             sorted((str(g["key"]), round(g["active_seconds"] or 0, 3), g["sessions"], g["file_events"])
                    for g in p["groups"])) for p in result]


@pytest.mark.parametrize("zone", ZONES)
async def test_rollups_equal_raw_rows_in_every_kind_of_zone(pg, seed, zone):
    rng = random.Random(zone)
    ids = await _random_rows(seed, rng)
    # Open sessions gain their end (the sync's upsert with a higher revision).
    await pg.execute("UPDATE desktop_activity_sessions SET end_time = start_time + interval '17 minutes', "
                     "local_revision = local_revision + 1 WHERE end_time IS NULL AND id = ANY($1::bigint[])", ids[::2])
    tz = ZoneInfo(zone)
    for period in ("day", "week", "month"):
        periods = periods_between(local_midnight(datetime(2026, 10, 19).date(), tz),
                                  local_midnight(datetime(2026, 11, 6).date(), tz), period, tz)
        assert on_buckets(periods)
        for group in ("application", "host", "project", "extension", "none"):
            for host in (None, "desk_you"):
                raw = await summarize(pg, periods, group, host, use_rollups=False)
                rolled = await summarize(pg, periods, group, host, use_rollups=True)
                assert _rounded(rolled) == _rounded(raw), (period, group, host)


async def test_a_range_off_the_quarter_hours_is_answered_from_raw_rows_with_the_same_rules(api, seed):
    await seed.session(utc(2026, 11, 30, 10, 0), utc(2026, 11, 30, 10, 30))
    body = (await api.get("/api/v1/activities/summary", params={
        "start": "2026-11-30T10:07:00Z", "end": "2026-11-30T10:20:00Z"})).json()
    assert [p["active_seconds"] for p in body["periods"]] == [780.0]
    periods = periods_between(datetime(2026, 11, 30, 10, 7, tzinfo=timezone.utc),
                              datetime(2026, 11, 30, 10, 20, tzinfo=timezone.utc), "day", ZoneInfo("UTC"))
    assert not on_buckets(periods)
