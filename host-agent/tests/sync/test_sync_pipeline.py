"""The batch pipeline (read the next batch, COPY this one, mark the last one) under writers:
a backlog of many batches, sessions closing and events arriving while it runs, ends with
PostgreSQL equal to SQLite row for row, each row once, at its latest revision."""

from __future__ import annotations

import threading

from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase

from tests.support.rows import BASE_TIME, add_file_events, file_event


async def test_a_large_backlog_synced_while_collectors_write_arrives_row_for_row(data_dir, pg_url, pg, manager_factory):
    with FileChangeDatabase(data_dir / "file_changes.db") as files:
        add_file_events(files, 20_000)
    with DesktopActivityDatabase(data_dir / "desktop_activity.db") as desktop:
        open_sessions = [desktop.start_session("editor", f"file {i}.py", BASE_TIME + i) for i in range(2_000)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def collectors():
        # Each with a connection of its own, as the real collectors have.
        with FileChangeDatabase(data_dir / "file_changes.db") as files, DesktopActivityDatabase(
            data_dir / "desktop_activity.db"
        ) as desktop:
            i = 0
            while not stop.is_set() and i < len(open_sessions):
                try:
                    desktop.end_session(open_sessions[i], BASE_TIME + i + 30)  # a new revision of a row
                    files.save_events([file_event(50_000 + i)])
                except BaseException as exc:  # recorded and asserted below
                    errors.append(exc)
                    return
                i += 1

    thread = threading.Thread(target=collectors, name="collectors")
    thread.start()
    manager = await manager_factory(pg_url, batch_size=500)
    try:
        while thread.is_alive():
            await manager.sync_all()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    await manager.sync_all()  # what the writers added after the last run

    def local(path, sql):
        with FileChangeDatabase(path) if "file" in path.name else DesktopActivityDatabase(path) as db, db.reading() as conn:
            return [tuple(r) for r in conn.execute(sql)]

    local_files = local(data_dir / "file_changes.db", "SELECT id, sync_revision, file_path FROM file_change_events ORDER BY id")
    remote_files = [tuple(r) for r in await pg.fetch(
        "SELECT local_id, local_revision, file_path FROM file_change_events ORDER BY local_id"
    )]  # fmt: skip
    assert remote_files == local_files
    local_sessions = local(
        data_dir / "desktop_activity.db",
        "SELECT id, sync_revision, end_time - start_time FROM desktop_activity_sessions ORDER BY id",
    )
    remote_sessions = [tuple(r) for r in await pg.fetch(
        "SELECT local_id, local_revision, duration_seconds FROM desktop_activity_sessions ORDER BY local_id"
    )]  # fmt: skip
    assert remote_sessions == local_sessions
    assert len(local_files) > 20_000 and all(duration == 30 for _id, _rev, duration in remote_sessions)
    waiting = local(data_dir / "file_changes.db", "SELECT count(*) FROM file_change_events WHERE synced_at IS NULL")
    assert waiting == [(0,)]
