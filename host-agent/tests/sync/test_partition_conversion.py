"""A database the agent syncs into, converted to monthly partitions: no row lost or doubled,
the agent keeps syncing (during the conversion too), retention drops whole old months."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import pytest

from host_agent.store.tables import FILE_CHANGE_EVENTS
from host_agent.sync.table_sync import PgStatements
from tests.support.rows import file_event
from tests.support.waiting import eventually

DB_BIN = Path(sys.executable).parent / "reprospective-db"
NOW = int(datetime.now(timezone.utc).timestamp())
DAY = 86_400
#: Times over 20 months, and two clocks gone wrong (1970, 2100).
TIMES = [NOW - DAY * (30 * m + d) for m in range(20) for d in (2, 11)] + [86_400, 4_100_000_000]


def reprospective_db(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DB_BIN), *args], capture_output=True, text=True, timeout=120)


async def rows(pg) -> dict:
    return {
        table: [tuple(r) for r in await pg.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in ("desktop_activity_sessions", "file_change_events")
    }


async def rollups_are_exact(pg) -> bool:
    """The rollups kept by the triggers equal the ones rebuilt from the raw rows (host_table_totals:
    its row counts; its first and last times are the extremes ever seen, see 10_host_totals.sql)."""
    queries = [f"SELECT * FROM {t} WHERE {nonzero}" for t, nonzero in (
        ("session_rollup_15m", "active_us <> 0 OR sessions_started <> 0"), ("file_project_rollup_15m", "events <> 0"),
        ("activity_totals_1h", "active_us <> 0 OR sessions_started <> 0 OR file_events <> 0"),
    )] + ["SELECT origin_id, host_identifier, table_name, rows FROM host_table_totals WHERE rows <> 0"]  # fmt: skip
    kept = [sorted(map(tuple, await pg.fetch(q))) for q in queries]
    async with pg.transaction():
        await pg.execute("SELECT rebuild_activity_rollups()")
        rebuilt = [sorted(map(tuple, await pg.fetch(q))) for q in queries]
    return kept == rebuilt


def record(desktop_db, files_db, times, start: int = 0) -> list[int]:
    sessions = []
    for i, t in enumerate(times):
        sessions.append(desktop_db.start_session(f"app{i % 3}", f"title {start + i}", t))
        if i % 2:
            desktop_db.end_session(sessions[-1], t + 300)
    files_db.save_events(file_event(start + i, event_time=t) for i, t in enumerate(times))
    return sessions


async def test_a_synced_database_converted_keeps_every_row_and_goes_on_syncing(
    desktop_db, files_db, pg_url, pg, manager_factory
):
    open_sessions = record(desktop_db, files_db, TIMES)[::2]
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    before = await rows(pg)
    assert len(before["desktop_activity_sessions"]) == len(TIMES)

    done = reprospective_db("partition", "--database-url", pg_url)
    assert done.returncode == 0, done.stderr
    assert await rows(pg) == before
    assert await pg.fetchval("SELECT count(*) FROM pg_partitioned_table") == 2
    assert await rollups_are_exact(pg)

    # New rows (COPY) and sessions closed since (the merge, a higher revision) through the same agent.
    record(desktop_db, files_db, [NOW - 60, NOW - 30], start=1000)
    for sid in open_sessions[:5]:
        desktop_db.end_session(sid, NOW)
    result = await manager.sync_all()
    assert result["desktop_activity_sessions"].records_synced == 2 + 5
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions") == len(TIMES) + 2
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == len(TIMES) + 2
    assert await pg.fetchval(
        "SELECT count(*) FROM desktop_activity_sessions WHERE local_id = ANY($1) AND end_time IS NOT NULL",
        open_sessions[:5],
    ) == 5
    assert await rollups_are_exact(pg)

    # Retention: the months before the cut go whole; the rows of 1970 (DEFAULT partition) stay.
    old = await pg.fetchval(
        "SELECT count(*) FROM file_change_events WHERE event_time < date_trunc('month', now(), 'UTC') "
        "- interval '13 months' AND event_time > '1971-01-01'"
    )
    assert old > 0
    done = reprospective_db("retention", "--older-than", "13months", "--database-url", pg_url)
    assert done.returncode == 0, done.stderr
    assert "dropped file_change_events_p" in done.stdout
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == len(TIMES) + 2 - old
    assert await pg.fetchval("SELECT count(*) FROM file_change_events WHERE event_time < '1971-01-01'") == 1


async def test_a_sync_batch_waiting_on_the_conversion_goes_into_the_new_table(files_db, pg_url, pg, manager_factory):
    files_db.save_events(file_event(i, event_time=NOW - (i % 90) * DAY) for i in range(500))
    manager = await manager_factory(pg_url, batch_size=100)
    await manager.sync_all()
    files_db.save_events(file_event(i, event_time=NOW - (i % 90) * DAY) for i in range(500, 3000))
    waiting = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'file_change_events' AND NOT l.granted"
    )
    holder = await asyncpg.connect(pg_url)  # another host's batch in flight: the conversion waits for it
    try:
        held = holder.transaction()
        await held.start()
        await holder.execute("LOCK TABLE file_change_events IN ROW EXCLUSIVE MODE")
        conversion = asyncio.create_task(asyncio.to_thread(reprospective_db, "partition", "--database-url", pg_url))
        await eventually(lambda: pg.fetchval(waiting), timeout=60, what="the conversion waiting for its lock")
        sync = asyncio.create_task(manager.sync_all())  # its COPY queues behind the conversion
        await eventually(
            lambda: pg.fetchval(waiting + " AND l.pid <> (SELECT pid FROM pg_locks WHERE NOT granted LIMIT 1)"),
            timeout=60, what="the agent's batch waiting behind the conversion",
        )  # fmt: skip
        await held.rollback()
    finally:
        await holder.close()
    done = await conversion
    assert done.returncode == 0, done.stderr
    result = (await sync)["file_change_events"]
    assert result.status == "success" and result.records_synced == 2500
    assert await pg.fetchval("SELECT count(*) FROM pg_partitioned_table") == 2
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 3000
    assert await pg.fetchval("SELECT count(DISTINCT local_id) FROM file_change_events") == 3000
    assert await rollups_are_exact(pg)


@pytest.mark.both_layouts
async def test_a_start_time_edited_in_the_local_file_replaces_the_stored_session(
    data_dir, desktop_db, pg_url, pg, manager_factory
):
    sid = desktop_db.start_session("code", "main.py", NOW - 40 * DAY)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    with sqlite3.connect(data_dir / "desktop_activity.db") as conn:  # a hand edit: another month
        conn.execute("UPDATE desktop_activity_sessions SET start_time = ? WHERE id = ?", (NOW - DAY, sid))
    await manager.sync_all()
    stored = await pg.fetch("SELECT start_time FROM desktop_activity_sessions")
    assert [r["start_time"] for r in stored] == [datetime.fromtimestamp(NOW - DAY, timezone.utc)]
    assert await rollups_are_exact(pg)



@pytest.mark.parametrize(
    ("unique_keys", "expected"),
    [
        ([["id"], ["origin_id", "local_id"]], ("origin_id", "local_id")),  # plain
        ([["id", "start_time"], ["origin_id", "local_id", "start_time"]], ("origin_id", "local_id", "start_time")),
        ([["origin_id", "local_id", "event_time", "id"], ["origin_id", "local_id", "event_time"]],
         ("origin_id", "local_id", "event_time")),  # the narrowest one
        ([["id"]], ("origin_id", "local_id")),  # none: PostgreSQL names what is missing
    ],
)
def test_the_merge_targets_the_narrowest_unique_key_holding_the_origin(unique_keys, expected):
    assert PgStatements.conflict_key(unique_keys) == expected
    moved = PgStatements(FILE_CHANGE_EVENTS).moved_rows_sql(expected)
    assert (moved is None) == (len(expected) == 2)
