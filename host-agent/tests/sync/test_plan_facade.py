"""The plan's DataSyncManager: its constructor and its per-table method names still work, each a
thin call into the one routine."""

from __future__ import annotations

from host_agent.common.data_sync import DataSyncManager
from host_agent.core.identity import host_identifier

from tests.support.rows import add_file_events


async def test_the_plans_method_names_read_mark_sync_and_log(data_dir, files_db, desktop_db, pg_url, pg):
    add_file_events(files_db, 7)
    desktop_db.start_session("editor", "plan.md", 1_780_000_000)
    manager = DataSyncManager(pg_url, data_dir / "desktop_activity.db", data_dir / "file_changes.db", 3, 300, 5)
    await manager.initialize()
    try:
        assert (manager.batch_size, manager.sync_interval, manager.max_retries) == (3, 300, 5)
        assert manager._get_host_identifier() == host_identifier()
        first = manager._get_unsynced_file_records()
        assert [row[0] for row in first] == [1, 2, 3]  # batch_size rows, oldest first
        assert [row[0] for row in manager._get_unsynced_file_records(after_id=3, limit=10)] == [4, 5, 6, 7]
        manager._update_file_synced_flags(first)  # as if PostgreSQL had them
        assert [row[0] for row in manager._get_unsynced_file_records(limit=10)] == [4, 5, 6, 7]

        files = await manager._sync_file_events()
        assert (files.table_name, files.records_synced, files.status) == ("file_change_events", 4, "success")
        desktop = await manager._sync_desktop_activity()
        assert desktop.records_synced == 1
        assert manager._get_unsynced_desktop_records() == []
        await manager._log_sync_result(files)
    finally:
        await manager.close()
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 4
    logged = await pg.fetch("SELECT records_synced FROM sync_logs WHERE table_name = 'file_change_events' ORDER BY id")
    assert [r["records_synced"] for r in logged] == [4, 4]  # the run, then the explicit _log_sync_result
