"""What a user checks first: every row arrives, with the right values, once."""

from __future__ import annotations

import pytest

import shutil
import sqlite3
from datetime import datetime, timezone

from host_agent.common.data_sync import DataSyncManager
from host_agent.core.identity import host_identifier
from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase
from host_agent.store.tables import FILE_CHANGE_EVENTS

from tests.foundation.test_stores import make_phase1_database
from tests.support.rows import BASE_TIME, add_file_events, file_event

pytestmark = pytest.mark.both_layouts  # each test using the database runs on the plain and partitioned layouts


async def test_a_phase1_desktop_database_is_synced_end_to_end(data_dir, pg_url, pg, manager_factory):
    make_phase1_database(data_dir / "desktop_activity.db")
    manager = await manager_factory(pg_url)
    results = await manager.sync_all()
    assert results["desktop_activity_sessions"].as_dict() == {
        "table_name": "desktop_activity_sessions",
        "records_synced": 1,
        "records_held": 0,
        "records_left": 0,
        "records_failed": 0,
        "status": "success",
        "error_message": None,
    }
    row = await pg.fetchrow("SELECT * FROM desktop_activity_sessions")
    assert row["application_name"] == "firefox" and row["window_title"] == "Docs"
    assert row["start_time"] == datetime(2026, 5, 28, 20, 26, 40, tzinfo=timezone.utc)
    assert row["end_time"] == datetime(2026, 5, 28, 20, 27, 40, tzinfo=timezone.utc)
    assert row["duration_seconds"] == 60
    assert row["local_id"] == 1 and row["synced_at"] is not None
    assert row["host_identifier"] == host_identifier()
    conn = sqlite3.connect(data_dir / "desktop_activity.db")
    assert conn.execute("SELECT synced_at IS NOT NULL FROM desktop_activity_sessions").fetchone()[0] == 1
    conn.close()


async def test_file_events_arrive_with_every_column_converted(files_db, pg_url, pg, manager_factory):
    files_db.save_event(file_event(0, is_symlink=True, file_extension=None, file_size=None))
    files_db.save_event(file_event(1, event_type="moved", old_file_path="/home/me/src/app/old.py"))
    await (await manager_factory(pg_url)).sync_all()
    rows = await pg.fetch("SELECT * FROM file_change_events ORDER BY local_id")
    assert [r["event_time"] for r in rows] == [
        datetime.fromtimestamp(BASE_TIME, timezone.utc),
        datetime.fromtimestamp(BASE_TIME + 1, timezone.utc),
    ]
    assert (rows[0]["is_symlink"], rows[0]["file_extension"], rows[0]["file_size"]) == (True, None, None)
    assert (rows[1]["is_symlink"], rows[1]["event_type"], rows[1]["old_file_path"]) == (
        False, "moved", "/home/me/src/app/old.py",
    )  # fmt: skip
    assert {r["origin_id"] for r in rows} == {__import__("uuid").UUID(files_db.origin_id)}


async def test_a_second_run_sends_nothing_again(files_db, pg_url, pg, manager_factory):
    add_file_events(files_db, 250)
    manager = await manager_factory(pg_url)
    assert (await manager.sync_all())["file_change_events"].records_synced == 250
    again = await manager.sync_all()
    assert again["file_change_events"].records_synced == 0
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 250
    # and only runs that moved rows are logged
    assert await pg.fetchval("SELECT count(*) FROM sync_logs WHERE table_name = 'file_change_events'") == 1


def test_waiting_rows_are_found_through_the_synced_at_index(files_db):
    with files_db.reading() as conn:
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + FILE_CHANGE_EVENTS.select_waiting_sql(), ("h", "o", 0, 0, 100, 10)))
    assert "USING INDEX idx_file_synced_at (synced_at=? AND rowid>? AND rowid<?)" in plan
    assert "SCAN file_change_events" not in plan


def test_a_batch_is_read_through_the_synced_at_index_up_to_a_last_id_found_once(files_db):
    def plan(sql: str) -> list[str]:
        with files_db.reading() as conn:
            return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, ("h", "o", 0, 0, 100, 10))]

    steps = plan(FILE_CHANGE_EVENTS.select_batch_sql(skip_held=False))  # a run that found no held rows
    assert steps[0] == "SEARCH t USING INDEX idx_file_synced_at (synced_at=? AND rowid>? AND rowid<?)"
    assert "SEARCH t USING COVERING INDEX idx_file_synced_at (synced_at=? AND rowid>? AND rowid<?)" in steps
    assert not any("SCAN" in step or "CORRELATED" in step for step in steps), steps
    steps = plan(FILE_CHANGE_EVENTS.select_batch_sql())  # held rows: each row's check looks one up
    assert not any("SCAN" in step for step in steps), steps
    assert len([step for step in steps if "CORRELATED" in step]) == 2, steps  # the held-rows check, twice


async def test_the_backlog_streams_in_batches_of_batch_size(files_db, pg_url, manager_factory):
    add_file_events(files_db, 1000)
    progress: list[int] = []
    manager = await manager_factory(
        pg_url, batch_size=64, progress=lambda table, done, waiting: progress.append(done) if table == "file_change_events" else None
    )
    await manager.sync_all()
    steps = [b - a for a, b in zip([0, *progress], progress)]
    assert max(steps) == 64 and sum(steps) == 1000 and len(steps) == 16


async def test_a_session_closed_after_it_was_first_synced_ends_up_closed_in_postgresql(
    desktop_db, pg_url, pg, manager_factory
):
    sid = desktop_db.start_session("code", "main.py — app", BASE_TIME)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    assert await pg.fetchval("SELECT end_time FROM desktop_activity_sessions") is None

    desktop_db.end_session(sid, BASE_TIME + 95)
    result = await manager.sync_all()
    assert result["desktop_activity_sessions"].records_synced == 1
    row = await pg.fetchrow("SELECT * FROM desktop_activity_sessions")
    assert row["end_time"] == datetime.fromtimestamp(BASE_TIME + 95, timezone.utc)
    assert row["duration_seconds"] == 95
    assert row["end_time_iso"] == desktop_db.get_recent_sessions()[0]["end_time_iso"]
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions") == 1


async def test_an_older_copy_of_a_session_never_overwrites_a_newer_one(data_dir, pg_url, pg, manager_factory):
    db_path = data_dir / "desktop_activity.db"
    with DesktopActivityDatabase(db_path) as db:
        sid = db.start_session("code", "main.py", BASE_TIME)
    shutil.copy(db_path, data_dir / "backup.db")  # the session while still open
    with DesktopActivityDatabase(db_path) as db:
        db.end_session(sid, BASE_TIME + 10)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    await manager.close()
    # The backup is restored: the older, open copy of the session is sent again.
    shutil.copy(data_dir / "backup.db", db_path)
    again = await manager_factory(pg_url)
    assert (await again.sync_all())["desktop_activity_sessions"].records_synced == 1
    assert await pg.fetchval("SELECT duration_seconds FROM desktop_activity_sessions") == 10
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions") == 1


async def test_sync_logs_gets_one_row_per_table_per_run_that_moved_rows(
    desktop_db, files_db, pg_url, pg, manager_factory
):
    desktop_db.start_session("kitty", "htop", BASE_TIME)
    add_file_events(files_db, 3)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    await manager.sync_all()  # nothing to do: no row
    rows = await pg.fetch("SELECT * FROM sync_logs ORDER BY table_name")
    assert [(r["table_name"], r["records_synced"], r["records_failed"], r["status"]) for r in rows] == [
        ("desktop_activity_sessions", 1, 0, "success"),
        ("file_change_events", 3, 0, "success"),
    ]
    assert {r["host_identifier"] for r in rows} == {host_identifier()}
    assert all(r["sync_completed_at"] >= r["sync_started_at"] for r in rows)


async def test_the_two_stores_may_live_in_different_folders(tmp_path, pg_url, pg):
    files = FileChangeDatabase(tmp_path / "a" / "files.db")
    add_file_events(files, 5)
    manager = DataSyncManager(pg_url, tmp_path / "b" / "desktop.db", tmp_path / "a" / "files.db")
    try:
        await manager.initialize()
        assert (await manager.sync_all())["file_change_events"].records_synced == 5
    finally:
        await manager.close()
        files.close()


async def test_each_run_deletes_local_rows_synced_longer_ago_than_retention_days(files_db, pg_url, pg, manager_factory):
    add_file_events(files_db, 30)
    manager = await manager_factory(pg_url, retention_days=7)
    await manager.sync_all()
    with files_db.atomic() as conn:  # the first ten were synced eight days ago
        conn.execute("UPDATE file_change_events SET synced_at = strftime('%s','now') - 8 * 86400 WHERE id <= 10")
    add_file_events(files_db, 5, start=30)  # waiting rows are never deleted
    await manager.sync_all()
    with files_db.reading() as conn:
        left = [r[0] for r in conn.execute("SELECT id FROM file_change_events ORDER BY id")]
    assert left == list(range(11, 36))
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 35  # PostgreSQL keeps them all


async def test_the_last_sync_after_the_loop_stopped_drains_the_whole_backlog(files_db, pg_url, pg, manager_factory):
    """The agent's shutdown stops the loop, then makes one last bounded-in-time sync of everything."""
    add_file_events(files_db, 100)
    manager = await manager_factory(pg_url, batch_size=10, sync_interval=3600)
    manager.start_sync_loop()
    await manager.stop_sync_loop()
    add_file_events(files_db, 100, start=100)
    result = (await manager.sync_all())["file_change_events"]
    assert result.status == "success"
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 200
