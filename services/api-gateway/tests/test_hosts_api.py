"""Hosts by id: ``GET /api/v1/hosts``, which hosts a ``host`` parameter means, and clock offsets."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from api_gateway.hosts import clock_warning

from conftest import NOW, utc

pytestmark = pytest.mark.both_layouts  # each test using the database runs on the plain and partitioned layouts

DAY = {"start": "2026-11-30", "end": "2026-11-30", "tz": "UTC"}


async def register(pg, name: str, origins: list[uuid.UUID], *, previous: tuple[str, ...] = (),
                   clock: float | None = None) -> str:
    """A hosts row and its origins, as the agent's sync writes them."""
    host_id = uuid.uuid4()
    await pg.execute(
        "INSERT INTO hosts (host_id, host_identifier, previous_identifiers, agent_version, clock_offset_seconds, "
        "clock_measured_at, last_sync_at) VALUES ($1, $2, $3, '0.1.0', $4, $5, $5)",
        host_id, name, list(previous), clock, NOW - timedelta(minutes=1))
    await pg.executemany("INSERT INTO host_origins (origin_id, host_id) VALUES ($1, $2)",
                         [(o, host_id) for o in origins])
    return str(host_id)


async def sessions_of(api, host: str) -> list[str]:
    response = await api.get("/api/v1/activities/sessions", params=DAY | {"host": host})
    assert response.status_code == 200, response.text
    return sorted(item["application_name"] for item in response.json()["items"])


async def sessions_counted(api, host: str) -> int:
    response = await api.get("/api/v1/activities/summary", params=DAY | {"host": host, "group_by": "none"})
    assert response.status_code == 200, response.text
    return sum(p["sessions"] for p in response.json()["periods"])


async def test_a_host_parameter_is_an_id_or_a_name_of_one_or_more_hosts(api, seed, pg):
    start = utc(2026, 11, 30, 9)
    # "desk" renamed to "office": its rows carry both names, one origin.
    await seed.session(start, start + timedelta(minutes=5), app="OldName", host="desk")
    seed.origins["office"] = seed.origin("desk")
    await seed.session(start + timedelta(hours=1), start + timedelta(hours=1, minutes=5), app="NewName", host="office")
    office = await register(pg, "office", [seed.origin("desk")], previous=("desk",))
    # Two machines both called "twin".
    await seed.session(start, start + timedelta(minutes=1), app="TwinOne", host="twin")
    first_twin = await register(pg, "twin", [seed.origin("twin")])
    other = uuid.uuid4()
    seed.origins["twin"] = other
    await seed.session(start, start + timedelta(minutes=2), app="TwinTwo", host="twin")
    second_twin = await register(pg, "twin", [other])
    # An old agent's rows, no host registered for them; and rows from before origins (schema 4).
    await seed.session(start, start + timedelta(minutes=3), app="Legacy", host="old-box")
    for app, host in (("NoOrigin", "old-box"), ("NoOriginElsewhere", "office-2")):
        await pg.execute(
            "INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, application_name, "
            "host_identifier) VALUES ($1, $2, 'x', $3, $4)", start, start + timedelta(minutes=1), app, host)
    # A name that one host has now and another had before: only its current holder.
    await seed.session(start, start + timedelta(minutes=4), app="NowLab", host="lab")
    await register(pg, "lab", [seed.origin("lab")])
    seed.origins["lab"] = uuid.uuid4()
    await seed.session(start, start + timedelta(minutes=4), app="WasLab", host="lab")
    await register(pg, "studio", [seed.origin("lab")], previous=("lab",))

    assert await sessions_of(api, "office") == ["NewName", "OldName"]
    assert await sessions_of(api, office) == ["NewName", "OldName"]
    assert await sessions_of(api, office.upper()) == ["NewName", "OldName"]
    assert await sessions_of(api, "desk") == ["NewName", "OldName"]  # nobody is "desk" now: its former holder
    assert await sessions_counted(api, "office") == 2  # the rollups agree
    assert await sessions_of(api, "twin") == ["TwinOne", "TwinTwo"]  # a shared name: both hosts
    assert await sessions_of(api, first_twin) == ["TwinOne"]
    assert await sessions_of(api, second_twin) == ["TwinTwo"]
    assert await sessions_counted(api, second_twin) == 1
    assert await sessions_of(api, "old-box") == ["Legacy", "NoOrigin"]
    assert await sessions_counted(api, "old-box") == 2
    assert await sessions_of(api, "lab") == ["NowLab"]
    assert await sessions_of(api, "studio") == ["WasLab"]
    assert await sessions_of(api, "nobody") == []
    assert await sessions_of(api, str(uuid.uuid4())) == []

    timeline = (await api.get("/api/v1/activities/timeline", params={"date": "2026-11-30", "host": office})).json()
    # One lane for the renamed host, under its current name, with the rows of both names.
    assert [(lane["host_identifier"], lane["host_id"], [s["application"] for s in lane["segments"]])
            for lane in timeline["lanes"]] == [("office", office, ["OldName", "NewName"])]


async def test_the_hosts_list_is_by_id_with_current_names_and_marks_shared_ones(api, seed, pg):
    start = utc(2026, 11, 30, 9)
    await seed.session(start, start + timedelta(minutes=5), host="desk")
    seed.origins["office"] = seed.origin("desk")
    await seed.file_event(start, "/home/me/src/a.py", host="office")
    await seed.sync_log(NOW - timedelta(minutes=10), host="desk")
    await seed.sync_log(NOW - timedelta(minutes=5), host="office", status="failed", rows=0, error="refused")
    office = await register(pg, "office", [seed.origin("desk")], previous=("desk",), clock=-7200.0)
    await seed.session(start, start + timedelta(minutes=1), host="twin")
    one = await register(pg, "twin", [seed.origin("twin")], clock=12.0)
    seed.origins["twin"] = uuid.uuid4()
    await seed.session(start, start + timedelta(minutes=1), host="twin")
    await seed.session(start, start + timedelta(minutes=2), host="twin")
    two = await register(pg, "twin", [seed.origin("twin")])
    await seed.session(start, start + timedelta(minutes=3), host="old-box")

    body = (await api.get("/api/v1/hosts")).json()
    assert [(h["host_identifier"], h["host_id"]) for h in body] == [
        ("office", office), ("old-box", None), *sorted([("twin", one), ("twin", two)])]
    by_name = {h["host_id"] or h["host_identifier"]: h for h in body}
    desk = by_name[office]
    assert desk["previous_identifiers"] == ["desk"]
    assert desk["rows"] == {"desktop_activity_sessions": 1, "file_change_events": 1}
    assert desk["origins"] == [str(seed.origin("desk"))]
    assert desk["last_successful_sync"] == (NOW - timedelta(minutes=10, seconds=-2)).isoformat()  # run as "desk"
    assert desk["last_failure_message"] == "refused"
    assert desk["clock_offset_seconds"] == -7200.0
    assert desk["clock_warning"] == "clock 2.0 h behind PostgreSQL's: its rows may land in the wrong hour or day"
    assert desk["agent"]["version"] == "0.1.0"
    assert desk["shared_name"] is False
    assert [by_name[one]["shared_name"], by_name[two]["shared_name"]] == [True, True]
    assert by_name[one]["rows"]["desktop_activity_sessions"] == 1
    assert by_name[two]["rows"]["desktop_activity_sessions"] == 2
    assert by_name[one]["clock_warning"] is None
    assert by_name["old-box"]["agent"] is None and by_name["old-box"]["rows"]["desktop_activity_sessions"] == 1

    clocks = (await api.get("/api/v1/sync/status")).json()["clocks"]
    assert [(c["host_id"], c["clock_offset_seconds"]) for c in clocks] == [(office, -7200.0)]
    page = await api.get("/sync")
    assert "office: clock 2.0 h behind PostgreSQL&#39;s" in page.text


@pytest.mark.parametrize(
    ("offset", "warning"),
    [
        (None, None),
        (0.0, None),
        (59.9, None),
        (-60.0, None),
        (61.0, "clock 61 s ahead of PostgreSQL's: its rows may land in the wrong hour or day"),
        (-300.0, "clock 5 min behind PostgreSQL's: its rows may land in the wrong hour or day"),
        (3600.0, "clock 60 min ahead of PostgreSQL's: its rows may land in the wrong hour or day"),
        (-9000.0, "clock 2.5 h behind PostgreSQL's: its rows may land in the wrong hour or day"),
    ],
)  # fmt: skip
def test_a_clock_offset_warrants_a_warning_past_a_minute(offset, warning):
    assert clock_warning(offset) == warning
