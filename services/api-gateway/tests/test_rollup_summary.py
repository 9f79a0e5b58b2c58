"""Summaries read from the rollups equal the raw-row aggregation, on random data, in zones with
quarter-hour offsets and DST, after sessions gain their end and rows are re-sent; and the rollups
the triggers keep equal the ones rebuilt from the raw rows."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from api_gateway.params import local_midnight
from api_gateway.periods import periods_between
from api_gateway.summary import on_buckets, summarize, whole_utc_days
from reprospective_db.testing import origin_key
from conftest import utc

ZONES = ["UTC", "Asia/Kathmandu", "America/St_Johns", "Europe/Paris", "Australia/Eucla", "Pacific/Chatham",
         "Asia/Kolkata"]
#: Every rollup table and its key columns; the figures are the other columns.
ROLLUPS = {
    "session_rollup_15m": ("bucket", "origin_id", "host_identifier", "application_name"),
    "file_project_rollup_15m": ("bucket", "origin_id", "host_identifier", "project_name"),
    "file_extension_rollup_15m": ("bucket", "origin_id", "host_identifier", "file_extension"),
    "activity_totals_1h": ("hour", "origin_id", "host_identifier"),
    "activity_totals_all_1h": ("hour",),
    "application_totals_all_1h": ("hour", "application_name"),
    "project_totals_all_1h": ("hour", "project_name"),
    "project_totals_all_1d": ("day", "project_name"),
    "host_table_totals": ("origin_id", "host_identifier", "table_name"),
}


async def _random_rows(seed, rng, base=utc(2026, 10, 20)):
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


async def test_lord_howe_half_hour_dst_splits_hours_and_stays_exact(pg, seed):
    # Lord Howe moves from +10:30 to +11:00 on 2026-10-04: its midnights fall on :30, then on :00.
    rng = random.Random("lord howe")
    await _random_rows(seed, rng, base=utc(2026, 9, 27))
    tz = ZoneInfo("Australia/Lord_Howe")
    periods = periods_between(local_midnight(datetime(2026, 9, 28).date(), tz),
                              local_midnight(datetime(2026, 10, 12).date(), tz), "day", tz)
    assert {p.start.minute for p in periods} == {0, 30}
    for group in ("application", "project", "none"):
        raw = await summarize(pg, periods, group, None, use_rollups=False)
        rolled = await summarize(pg, periods, group, None, use_rollups=True)
        assert _rounded(rolled) == _rounded(raw), group
        assert sum(p["active_seconds"] for p in rolled) > 0


async def _rollup_rows(pg) -> dict[str, set]:
    """Each rollup's rows with any figure other than zero, as tuples."""
    found = {}
    for table, key in ROLLUPS.items():
        rows = await pg.fetch(f"SELECT * FROM {table}")
        found[table] = {tuple(r.items()) for r in rows
                        if any(v not in (0, None) for k, v in r.items() if k not in key and k not in (
                            "first_seen", "last_seen", "newest_synced_at"))}
    return found


@pytest.mark.both_layouts  # the merge's key holds start_time on the partitioned layout
async def test_rollups_kept_by_the_triggers_equal_the_rebuilt_ones_after_updates_resends_and_deletes(
    pg, seed, pg_layout
):
    rng = random.Random("rebuild")
    ids = await _random_rows(seed, rng)
    await pg.execute("UPDATE desktop_activity_sessions SET end_time = start_time + interval '17 minutes', "
                     "local_revision = local_revision + 1 WHERE end_time IS NULL")
    # The sync's merge of re-sent rows: a newer revision replaces the stored row, an older one does not.
    await pg.execute(
        "INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, application_name, window_title, "
        "duration_seconds, host_identifier, origin_id, local_id, local_revision, synced_at) "
        "SELECT start_time, end_time + interval '3 minutes', start_time_iso, 'Zoom', window_title, duration_seconds, "
        "host_identifier, origin_id, local_id, local_revision + (id % 2) * 2 - 1, synced_at "
        "FROM desktop_activity_sessions WHERE id = ANY($1::bigint[]) "
        f"ON CONFLICT ({origin_key(pg_layout, 'desktop_activity_sessions')}) DO UPDATE SET end_time = EXCLUDED.end_time, "
        "application_name = EXCLUDED.application_name, local_revision = EXCLUDED.local_revision "
        "WHERE desktop_activity_sessions.local_revision < EXCLUDED.local_revision", ids[::3])
    await pg.execute("DELETE FROM desktop_activity_sessions WHERE id = ANY($1::bigint[])", ids[1::7])
    await pg.execute("DELETE FROM file_change_events WHERE id % 5 = 0")
    await pg.execute("UPDATE file_change_events SET project_name = 'moved', event_type = 'deleted' WHERE id % 3 = 0")
    kept = await _rollup_rows(pg)
    assert all(kept.values())
    await pg.execute("SELECT rebuild_activity_rollups(), rebuild_project_days()")
    rebuilt = await _rollup_rows(pg)
    assert {t: len(rows) for t, rows in kept.items()} == {t: len(rows) for t, rows in rebuilt.items()}
    for table in ROLLUPS:
        if table != "host_table_totals":  # its first and last seen are the extremes ever seen (10)
            assert kept[table] == rebuilt[table], table


async def test_truncating_the_raw_tables_empties_every_rollup(pg, seed):
    await _random_rows(seed, random.Random("truncate"))
    await pg.execute("TRUNCATE desktop_activity_sessions")
    await pg.execute("TRUNCATE file_change_events")
    assert {t: rows for t, rows in (await _rollup_rows(pg)).items() if rows} == {}


def test_whole_utc_days_inside_periods_are_read_by_the_day_and_the_edges_by_the_hour():
    paris = ZoneInfo("Europe/Paris")
    month = periods_between(local_midnight(datetime(2026, 6, 1).date(), paris),
                            local_midnight(datetime(2026, 7, 1).date(), paris), "month", paris)
    assert whole_utc_days(month) == ([(utc(2026, 6, 1), utc(2026, 6, 30))],
                                     [(utc(2026, 5, 31, 22), utc(2026, 6, 1)), (utc(2026, 6, 30), utc(2026, 6, 30, 22))])
    kathmandu = ZoneInfo("Asia/Kathmandu")  # +5:45: no UTC day lies inside a local day
    days = periods_between(local_midnight(datetime(2026, 6, 1).date(), kathmandu),
                           local_midnight(datetime(2026, 6, 4).date(), kathmandu), "day", kathmandu)
    assert whole_utc_days(days) == ([], [(days[0].start, days[-1].end)])
    utc_days = periods_between(utc(2026, 6, 1), utc(2026, 6, 3), "day", ZoneInfo("UTC"))
    assert whole_utc_days(utc_days) == ([(utc(2026, 6, 1), utc(2026, 6, 2)), (utc(2026, 6, 2), utc(2026, 6, 3))], [])
