"""The day's lanes read from ``timeline_runs`` equal the Python rules of ``timeline.lanes`` on random
days in zones of every kind (overlapping sessions, open ones, sessions crossing midnight and
hours, runs of short ones, sessions under a second and of zero length, a renamed host's two
origins); and the segments the triggers keep equal a rebuild from the raw rows (and the rules)
after random batches of inserts, sessions gaining their end, re-sent rows and deletes."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api_gateway.day_lanes import day_lanes
from api_gateway.params import local_midnight
from api_gateway.search import SESSION_END
from api_gateway.timeline import UNKNOWN_HOST, Session, lanes, runs
from conftest import utc

ZERO = "00000000-0000-0000-0000-000000000000"
APPS = ["Emacs", "Firefox", "Slack", "Zoom"]
LENGTHS = [0, 0.3, 0.9, 2, 10, 45, 59, 59.999999, 60, 61, 300, 900, 4000, 90000]
GAPS = [0, 0, 0.5, 1, 5, 30, 200, 299, 300, 301, 400, 2000, 20000]

BATCH_SQL = """
INSERT INTO desktop_activity_sessions AS d (start_time, end_time, start_time_iso, end_time_iso, application_name,
    window_title, duration_seconds, host_identifier, origin_id, local_id, local_revision, synced_at)
SELECT s, e, s::text, e::text, app, title, secs, host, origin, local_id, rev, now()
FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[], $4::text[], $5::int[], $6::text[], $7::uuid[],
            $8::bigint[], $9::int[]) AS b(s, e, app, title, secs, host, origin, local_id, rev)
ORDER BY origin, local_id
ON CONFLICT (origin_id, local_id) DO UPDATE SET end_time = EXCLUDED.end_time, end_time_iso = EXCLUDED.end_time_iso,
    application_name = EXCLUDED.application_name, duration_seconds = EXCLUDED.duration_seconds,
    local_revision = EXCLUDED.local_revision
WHERE d.local_revision < EXCLUDED.local_revision
"""


class Host:
    """One host's sessions as its agent records them: back to back, overlapping at times, some open."""

    def __init__(self, rng: random.Random, name: str, origin: uuid.UUID, start: datetime) -> None:
        self.rng, self.name, self.origin, self.at, self.next_id = rng, name, origin, start, 1
        self.rows: dict[int, list] = {}  # local id -> [start, end, app, title, seconds, revision]

    def record(self, n: int) -> list[int]:
        ids = []
        for _ in range(n):
            rng = self.rng
            self.at += timedelta(seconds=rng.choice(GAPS), microseconds=rng.choice([0, rng.randrange(10**6)]))
            start = self.at - timedelta(seconds=rng.choice([0, 0, 0, 0, 30, 700])) if rng.random() < 0.1 else self.at
            length = timedelta(seconds=rng.choice(LENGTHS))
            end = None if rng.random() < 0.1 else start + length
            seconds = int(length.total_seconds()) if end else rng.choice([0, 3, 70])
            self.rows[self.next_id] = [start, end, rng.choice(APPS), f"t{rng.randrange(1000)}", seconds, 0]
            ids.append(self.next_id)
            self.next_id += 1
            if end is not None and rng.random() < 0.8:
                self.at = max(self.at, end)
        return ids

    def batch(self, ids) -> list:
        rows = [self.rows[i] for i in ids]
        return [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                [r[4] for r in rows], [self.name] * len(rows), [self.origin] * len(rows), list(ids),
                [r[5] for r in rows]]


async def _sync(pg, host: Host, ids) -> None:
    if ids:
        await pg.execute(BATCH_SQL, *host.batch(ids))


async def _random_history(pg, rng: random.Random, hosts: list[Host], rounds: int = 6) -> None:
    """Syncs in rounds: new rows, open sessions gaining their end (a newer revision), rows re-sent
    unchanged and with an older revision, a few deleted."""
    for _ in range(rounds):
        for h in hosts:
            new = h.record(rng.randrange(20, 60))
            ending = [i for i, r in h.rows.items() if r[1] is None and rng.random() < 0.6]
            for i in ending:
                r = h.rows[i]
                r[1] = r[0] + timedelta(seconds=rng.choice(LENGTHS))
                r[4], r[5] = int((r[1] - r[0]).total_seconds()), r[5] + 1
                if rng.random() < 0.3:
                    r[2] = rng.choice(APPS)
            resent = rng.sample(sorted(h.rows), min(len(h.rows), 8))
            await _sync(pg, h, sorted(set(new) | set(ending) | set(resent)))
            if rng.random() < 0.5:
                gone = rng.sample(sorted(h.rows), 3)
                await pg.execute("DELETE FROM desktop_activity_sessions WHERE origin_id = $1 AND local_id = ANY($2)",
                                 h.origin, gone)
                for i in gone:
                    del h.rows[i]


async def _sessions(pg) -> list[Session]:
    rows = await pg.fetch(
        f"SELECT s.id, s.host_identifier, s.origin_id, s.application_name, s.window_title, s.start_time, "
        f"{SESSION_END} AS end_time FROM desktop_activity_sessions s")
    return [Session(r["id"], r["host_identifier"] or "", r["application_name"], r["window_title"], r["start_time"],
                    r["end_time"], str(r["origin_id"] or ZERO)) for r in rows]


async def _lane_names(pg):
    owners = {str(r["origin_id"]): (r["host_identifier"], str(r["host_id"])) for r in await pg.fetch(
        "SELECT o.origin_id, h.host_id, h.host_identifier FROM host_origins o JOIN hosts h USING (host_id)")}
    return lambda origin, host: owners.get(origin, (host or UNKNOWN_HOST, None))


def _expected(sessions, lower, upper, lane_of):
    found = lanes(sessions, lower, upper, lane_of)
    return [{"host_identifier": name, "host_id": host_id,
             "active_seconds": round(sum((s.end - s.start).total_seconds() for s in segs), 3),
             "segments": [s.as_json() for s in segs]}
            for (name, host_id), segs in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]


async def _stored(pg) -> list[tuple]:
    return [tuple(r) for r in await pg.fetch(
        "SELECT origin_id::text, host_identifier, start_time, end_time, last_start, application_name, window_title, "
        "sessions, first_id FROM timeline_runs ORDER BY 1, 2, 3, 9")]


def _from_rules(sessions) -> list[tuple]:
    return sorted((origin, host, s.start, s.end, s.last_start, s.application, s.title if s.count == 1 else None,
                   s.count, s.session_ids[0]) for (origin, host), segs in runs(sessions).items() for s in segs)


@pytest.mark.parametrize("case", range(4))
async def test_segments_kept_by_the_triggers_equal_a_rebuild_and_the_rules(pg, case):
    rng = random.Random(f"runs {case}")
    base = utc(2026, 11, 29, 22)
    hosts = [Host(rng, name, uuid.uuid4(), base) for name in ["laptop_me", "desk_you", "build_box"][: 1 + case % 3]]
    await _random_history(pg, rng, hosts)
    kept = await _stored(pg)
    sessions = await _sessions(pg)
    assert kept == _from_rules(sessions)
    await pg.execute("SELECT rebuild_timeline_runs()")
    assert await _stored(pg) == kept
    assert any(s[7] > 1 for s in kept) and any(s[7] == 1 for s in kept)


async def test_truncating_the_sessions_empties_the_segments(pg, seed):
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 9, 5))
    await pg.execute("TRUNCATE desktop_activity_sessions")
    assert await _stored(pg) == []


ZONES = ["UTC", "Asia/Kathmandu", "America/St_Johns", "Europe/Paris", "Pacific/Chatham"]


@pytest.mark.parametrize("case", range(len(ZONES)))
async def test_sql_lanes_equal_the_python_rules(pg, case):
    rng = random.Random(case)
    zone = ZoneInfo(ZONES[case])
    day = date(2026, 11, 30)
    lower, upper = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    hosts = [Host(rng, name, uuid.uuid4(), lower - timedelta(hours=2))
             for name in ["laptop_me", "desk_you", "build_box"][: 1 + case % 3]]
    if case % 2:  # the first host renamed: a second origin under its new name, one host id for both
        hosts.append(Host(rng, "laptop_renamed", uuid.uuid4(), lower + timedelta(hours=3)))
        host_id = uuid.uuid4()
        await pg.execute("INSERT INTO hosts (host_id, host_identifier, previous_identifiers) "
                         "VALUES ($1, 'laptop_renamed', '{laptop_me}')", host_id)
        await pg.execute("INSERT INTO host_origins (origin_id, host_id) VALUES ($1, $3), ($2, $3)",
                         hosts[0].origin, hosts[-1].origin, host_id)
    await _random_history(pg, rng, hosts, rounds=8)
    sessions, lane_of = await _sessions(pg), await _lane_names(pg)
    got = (await day_lanes(pg, lower, upper, None)).lanes
    assert got == _expected(sessions, lower, upper, lane_of)
    assert sum(len(lane["segments"]) for lane in got) > len(hosts)
    names = [lane["host_identifier"] for lane in got]
    assert len(names) == len(set(names)) and ("laptop_me" in names) != bool(case % 2)
    one = (await day_lanes(pg, lower, upper, "desk_you")).lanes
    assert one == _expected([s for s in sessions if s.host == "desk_you"], lower, upper, lane_of)
    for lane in got:  # a day's segments lie within the day
        assert all(lower <= datetime.fromisoformat(s["start"]) <= datetime.fromisoformat(s["end"]) <= upper
                   for s in lane["segments"])
