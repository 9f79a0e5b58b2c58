"""A day's lanes computed by PostgreSQL equal the Python rules of ``timeline.lanes`` on random days:
overlapping sessions, open ones, sessions crossing midnight, runs of short ones, equal durations."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from api_gateway.day_lanes import day_lanes
from api_gateway.search import SESSION_END
from api_gateway.timeline import Session, lanes
from conftest import utc


def _reference(rows, lower, upper, budget):
    sessions = [Session(r["id"], r["host_identifier"] or "(unknown host)", r["application_name"], r["window_title"],
                        r["start_time"], r["end_time"]) for r in rows]
    return [{"host_identifier": name, "active_seconds": round(sum((s.end - s.start).total_seconds() for s in segs), 3),
             "segments": [s.as_json() for s in segs]} for name, segs in lanes(sessions, lower, upper, budget=budget).items()]


@pytest.mark.parametrize("case", range(4))
async def test_sql_lanes_equal_the_python_rules(pg, seed, case):
    rng = random.Random(case)
    lower, upper = utc(2026, 11, 29, 23), utc(2026, 11, 30, 23)
    hosts = ["laptop_me", "desk_you", "build_box"][: 1 + case % 3]
    moment = {h: lower - timedelta(minutes=30) for h in hosts}
    for _ in range(400):
        host = rng.choice(hosts)
        moment[host] += timedelta(seconds=rng.choice([1, 5, 30, 200, 400, 2000]), microseconds=rng.randrange(10**6))
        length = timedelta(seconds=rng.choice([2, 10, 10, 45, 59, 60, 61, 300, 900, 4000]),
                           microseconds=rng.choice([0, rng.randrange(10**6)]))
        end = None if rng.random() < 0.05 else moment[host] + length
        await seed.session(moment[host], end, app=rng.choice(["Emacs", "Firefox", "Slack", "Zoom"]),
                           title=f"t{rng.randrange(1000)}", host=host)
    rows = await pg.fetch(
        f"SELECT s.id, s.host_identifier, s.application_name, s.window_title, s.start_time, {SESSION_END} AS end_time "
        "FROM desktop_activity_sessions s ORDER BY s.start_time, s.id")
    for budget in (1200, 60, 10):
        expected = _reference(rows, lower, upper, budget)
        got = await day_lanes(pg, lower, upper, None, budget=budget)
        assert got == expected, budget
        assert sum(len(lane["segments"]) for lane in got) > len(hosts)
    one = await day_lanes(pg, lower, upper, hosts[0])
    assert [lane["host_identifier"] for lane in one] == [hosts[0]]
    assert one == _reference([r for r in rows if r["host_identifier"] == hosts[0]], lower, upper, 1200)
