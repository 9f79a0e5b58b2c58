"""The 15-minute rollups equal the raw rows' aggregation, computed independently here, through
every way rows arrive and change: COPY, INSERT ... ON CONFLICT DO UPDATE with a higher revision
(a session gaining its end), re-sent rows that change nothing, deletes, TRUNCATE and a rebuild."""

from __future__ import annotations

import pytest

import random
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

from reprospective_db.testing import origin_key

pytestmark = pytest.mark.both_layouts  # each test using the database runs on the plain and partitioned layouts

BUCKET = timedelta(minutes=15)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ZERO = uuid.UUID(int=0)


def floor(moment: datetime) -> datetime:
    return EPOCH + (moment - EPOCH) // BUCKET * BUCKET


def expected_sessions(rows) -> dict:
    found: dict = defaultdict(lambda: [0, 0])
    for r in rows:
        end = r["end_time"] or r["start_time"] + timedelta(seconds=r["duration_seconds"] or 0)
        key = (r["origin_id"] or ZERO, r["host_identifier"] or "", r["application_name"])
        found[(floor(r["start_time"]), *key)][1] += 1
        bucket = floor(r["start_time"])
        while bucket < end:
            part = min(end, bucket + BUCKET) - max(r["start_time"], bucket)
            if part > timedelta(0):
                found[(bucket, *key)][0] += part // timedelta(microseconds=1)
            bucket += BUCKET
    return {k: tuple(v) for k, v in found.items() if v != [0, 0]}


async def actual_sessions(conn) -> dict:
    rows = await conn.fetch("SELECT * FROM session_rollup_15m WHERE active_us <> 0 OR sessions_started <> 0")
    return {(r["bucket"], r["origin_id"], r["host_identifier"], r["application_name"]):
            (r["active_us"], r["sessions_started"]) for r in rows}


async def check(conn) -> None:
    raw = await conn.fetch("SELECT * FROM desktop_activity_sessions")
    assert await actual_sessions(conn) == expected_sessions(raw)
    files = await conn.fetch("SELECT * FROM file_change_events")
    projects: dict = defaultdict(Counter)
    for f in files:
        key = (floor(f["event_time"]), f["origin_id"] or ZERO, f["host_identifier"] or "", f["project_name"] or "")
        projects[key]["events"] += 1
        projects[key][f["event_type"]] += 1
    got = {(r["bucket"], r["origin_id"], r["host_identifier"], r["project_name"]):
           Counter({k: r[k] for k in ("events", "created", "modified", "deleted", "moved") if r[k]})
           for r in await conn.fetch("SELECT * FROM file_project_rollup_15m WHERE events <> 0")}
    assert got == dict(projects)
    extensions = Counter((floor(f["event_time"]), f["origin_id"] or ZERO, f["host_identifier"] or "",
                          f["file_extension"] or "") for f in files)
    got = {(r["bucket"], r["origin_id"], r["host_identifier"], r["file_extension"]): r["events"]
           for r in await conn.fetch("SELECT * FROM file_extension_rollup_15m WHERE events <> 0")}
    assert got == dict(extensions)
    assert await conn.fetchval("SELECT count(*) FROM file_event_rollup_15m") == 0  # superseded by 09
    totals = Counter()
    for table, rows in (("desktop_activity_sessions", raw), ("file_change_events", files)):
        for r in rows:
            totals[(r["origin_id"] or ZERO, r["host_identifier"] or "", table)] += 1
    got = {(r["origin_id"], r["host_identifier"], r["table_name"]): r["rows"]
           for r in await conn.fetch("SELECT * FROM host_table_totals WHERE rows <> 0")}
    assert got == dict(totals)
    hourly: dict = defaultdict(lambda: [0, 0, 0])
    hour = timedelta(hours=1)
    for r in raw:
        end = r["end_time"] or r["start_time"] + timedelta(seconds=r["duration_seconds"] or 0)
        key = (r["origin_id"] or ZERO, r["host_identifier"] or "")
        first = EPOCH + (r["start_time"] - EPOCH) // hour * hour
        hourly[(first, *key)][1] += 1
        h = first
        while h < end:
            part = min(end, h + hour) - max(r["start_time"], h)
            if part > timedelta(0):
                hourly[(h, *key)][0] += part // timedelta(microseconds=1)
            h += hour
    for f in files:
        hourly[(EPOCH + (f["event_time"] - EPOCH) // hour * hour, f["origin_id"] or ZERO, f["host_identifier"] or "")][2] += 1
    got = {(r["hour"], r["origin_id"], r["host_identifier"]): [r["active_us"], r["sessions_started"], r["file_events"]]
           for r in await conn.fetch("SELECT * FROM activity_totals_1h WHERE active_us <> 0 OR sessions_started <> 0 "
                                     "OR file_events <> 0")}
    assert got == {k: v for k, v in hourly.items() if v != [0, 0, 0]}


def random_sessions(rng: random.Random, origin: uuid.UUID, host: str, first_id: int, n: int) -> list[tuple]:
    base = datetime(2026, 11, 28, tzinfo=timezone.utc)
    rows = []
    for i in range(n):
        start = base + timedelta(seconds=rng.randrange(0, 3 * 86400), microseconds=rng.randrange(10**6))
        length = timedelta(seconds=rng.choice([0, 1, 7, 59, 600, 899, 900, 3601, 30000]), microseconds=rng.randrange(10**6))
        open_ = rng.random() < 0.2
        rows.append((start, None if open_ else start + length, start.isoformat(), rng.choice(["Emacs", "Firefox", "Slack"]),
                     "t", None if open_ else int(length.total_seconds()), host, origin, first_id + i, 0))
    return rows


SESSION_COLUMNS = ["start_time", "end_time", "start_time_iso", "application_name", "window_title", "duration_seconds",
                   "host_identifier", "origin_id", "local_id", "local_revision"]


async def test_session_rollup_stays_equal_to_the_raw_rows_through_copy_upserts_and_deletes(pg, pg_layout):
    rng = random.Random(10)
    origins = [(uuid.uuid4(), "laptop_me"), (uuid.uuid4(), "desk_you")]
    batch = [r for o, h in origins for r in random_sessions(rng, o, h, 1, 150)]
    await pg.copy_records_to_table("desktop_activity_sessions", records=batch, columns=SESSION_COLUMNS)
    await check(pg)

    # The sync's merge path: open sessions re-sent with their end and a higher revision; closed ones
    # re-sent unchanged (the WHERE refuses them); one brand-new row in the same statement.
    resent = []
    for row in batch[:120]:
        start, end = row[0], row[1]
        if end is None:
            end = start + timedelta(seconds=rng.randrange(1, 5000))
            resent.append((start, end, row[2], row[3], row[4], int((end - start).total_seconds()), *row[6:9], 1))
        else:
            resent.append(row)
    resent += random_sessions(rng, origins[0][0], "laptop_me", 10_000, 1)
    key = origin_key(pg_layout, "desktop_activity_sessions")
    await pg.execute("CREATE TEMP TABLE staging (LIKE desktop_activity_sessions INCLUDING DEFAULTS)")
    await pg.copy_records_to_table("staging", records=resent, columns=SESSION_COLUMNS)
    await pg.execute(
        f"INSERT INTO desktop_activity_sessions ({', '.join(SESSION_COLUMNS)}) SELECT {', '.join(SESSION_COLUMNS)} "
        f"FROM staging ON CONFLICT ({key}) DO UPDATE SET end_time = EXCLUDED.end_time, "
        "duration_seconds = EXCLUDED.duration_seconds, local_revision = EXCLUDED.local_revision "
        "WHERE desktop_activity_sessions.local_revision < EXCLUDED.local_revision")
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions WHERE local_revision = 1") > 0
    await check(pg)

    await pg.execute("DELETE FROM desktop_activity_sessions WHERE local_id % 7 = 0")
    await check(pg)
    await pg.execute("UPDATE desktop_activity_sessions SET application_name = 'Renamed' WHERE local_id % 5 = 0")
    await check(pg)


async def test_file_rollups_count_per_bucket_and_project_by_type_and_per_extension(pg):
    rng = random.Random(11)
    base = datetime(2026, 11, 28, tzinfo=timezone.utc)
    origin = uuid.uuid4()
    rows = [(base + timedelta(seconds=rng.randrange(86400)), "x", rng.choice(["created", "modified", "deleted", "moved"]),
             f"/p/{i}", f"{i}", rng.choice(["py", "md", None]), "/p", rng.choice(["a", "b", None]), "h", origin, i)
            for i in range(500)]
    columns = ["event_time", "event_time_iso", "event_type", "file_path", "file_name", "file_extension", "monitored_root",
               "project_name", "host_identifier", "origin_id", "local_id"]
    await pg.copy_records_to_table("file_change_events", records=rows, columns=columns)
    await pg.execute("INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, "
                     "monitored_root) VALUES (now(), 'x', 'created', '/q', 'q', '/q')")  # no origin: a pre-04 row
    await check(pg)
    await pg.execute("DELETE FROM file_change_events WHERE local_id < 100")
    await check(pg)


async def test_truncate_empties_the_rollups_and_a_rebuild_recomputes_them(pg):
    rng = random.Random(12)
    await pg.copy_records_to_table("desktop_activity_sessions", records=random_sessions(rng, uuid.uuid4(), "h", 1, 50),
                                   columns=SESSION_COLUMNS)
    before = await actual_sessions(pg)
    await pg.execute("UPDATE session_rollup_15m SET active_us = active_us + 1")  # damage it
    await pg.execute("SELECT rebuild_activity_rollups()")
    assert await actual_sessions(pg) == before
    await pg.execute("TRUNCATE desktop_activity_sessions")
    assert await pg.fetchval("SELECT count(*) FROM session_rollup_15m") == 0


async def test_applying_every_file_again_keeps_the_rollups_exact(pg_server, pg_database, pg, pg_layout):
    from reprospective_db.schema import migrations_dir

    rng = random.Random(13)
    await pg.copy_records_to_table("desktop_activity_sessions", records=random_sessions(rng, uuid.uuid4(), "h", 1, 40),
                                   columns=SESSION_COLUMNS)
    for path in sorted(migrations_dir().glob("*.sql")):
        # On a partitioned table PostgreSQL refuses 04's unique index (origin_id, local_id) for lacking the
        # partition column before it looks whether IF NOT EXISTS skips it: 04 is not applied twice there
        # (upgrade_schema never applies a file twice; only a hand-run psql would).
        if pg_layout == "partitioned" and path.name.startswith("04_"):
            continue
        pg_server.psql(path, pg_database)
    await check(pg)
    await pg.copy_records_to_table("desktop_activity_sessions", records=random_sessions(rng, uuid.uuid4(), "h", 1, 40),
                                   columns=SESSION_COLUMNS)
    await check(pg)
