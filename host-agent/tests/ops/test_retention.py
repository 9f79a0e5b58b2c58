"""Local retention: rows synced more than ``retention_days`` ago go; nothing waiting ever does."""

from __future__ import annotations

import sqlite3
import time

from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase
from host_agent.store.retention import purge_stores, purge_synced
from host_agent.store.tables import DESKTOP_ACTIVITY_SESSIONS, FILE_CHANGE_EVENTS

from tests.ops.conftest import cli
from tests.support.rows import add_file_events

DAY = 86_400


def set_synced_at(db_path, table, ids, synced_at):
    with sqlite3.connect(db_path) as conn:
        conn.executemany(f"UPDATE {table} SET synced_at = ? WHERE id = ?", [(synced_at, i) for i in ids])
    conn.close()


def remaining_ids(db_path, table):
    with sqlite3.connect(db_path) as conn:
        ids = [row[0] for row in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
    conn.close()
    return ids


def test_purge_deletes_only_rows_synced_before_the_cutoff_in_batches(data_dir):
    db_path = data_dir / "file_changes.db"
    add_file_events(db_path, 10)  # ids 1..10, all waiting (synced_at NULL)
    now = time.time()
    set_synced_at(db_path, "file_change_events", range(1, 6), int(now - 31 * DAY))  # old and synced: go
    set_synced_at(db_path, "file_change_events", [6, 7], int(now - 29 * DAY))  # synced recently: stay
    # ids 8..10 never synced: stay, however old they are
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE file_change_events SET created_at = ? WHERE id >= 8", (int(now - 400 * DAY),))
    conn.close()

    assert purge_synced(db_path, FILE_CHANGE_EVENTS, 30, batch_size=2, now=now) == 5
    assert remaining_ids(db_path, "file_change_events") == [6, 7, 8, 9, 10]
    assert purge_synced(db_path, FILE_CHANGE_EVENTS, 30, batch_size=2, now=now) == 0


def test_purge_keeps_everything_when_retention_days_is_zero(data_dir):
    db_path = data_dir / "file_changes.db"
    add_file_events(db_path, 3)
    set_synced_at(db_path, "file_change_events", [1, 2, 3], 1)  # synced in 1970
    assert purge_synced(db_path, FILE_CHANGE_EVENTS, 0) == 0
    assert remaining_ids(db_path, "file_change_events") == [1, 2, 3]


def test_purge_on_an_open_store_keeps_sessions_still_open(data_dir):
    now = time.time()
    with DesktopActivityDatabase(data_dir / "desktop_activity.db") as store:
        closed = store.start_session("editor", "a.py", int(now - 40 * DAY))
        store.end_session(closed, int(now - 40 * DAY + 60))
        still_open = store.start_session("browser", "docs", int(now - 40 * DAY))
        set_synced_at(store.db_path, "desktop_activity_sessions", [closed, still_open], int(now - 35 * DAY))
        assert purge_synced(store, DESKTOP_ACTIVITY_SESSIONS, 30, now=now) == 1
        assert [s["id"] for s in store.get_open_sessions()] == [still_open]
        assert remaining_ids(store.db_path, "desktop_activity_sessions") == [still_open]


def test_purge_command_applies_the_configured_retention(make_config, pg_url):
    config = make_config(pg_url, retention_days=7)
    add_file_events(config.file_events_db, 4)
    set_synced_at(config.file_events_db, "file_change_events", [1, 2], int(time.time() - 8 * DAY))
    done = cli("purge", "--config", str(config.path))
    assert done.returncode == 0, done.stderr
    assert "file_change_events: deleted 2 row(s) synced more than 7 days ago" in done.stdout
    assert remaining_ids(config.file_events_db, "file_change_events") == [3, 4]


def test_purge_stores_applies_retention_to_each_open_store(data_dir):
    now = time.time()
    with FileChangeDatabase(data_dir / "file_changes.db") as files, DesktopActivityDatabase(
        data_dir / "desktop_activity.db"
    ) as desktop:
        files.save_events(
            [{"event_time": int(now), "event_type": "created", "file_path": f"/p/{i}", "file_name": str(i),
              "monitored_root": "/p"} for i in range(3)]
        )  # fmt: skip
        set_synced_at(files.db_path, "file_change_events", [1, 2], int(now - 31 * DAY))
        stores = [(FILE_CHANGE_EVENTS, files), (DESKTOP_ACTIVITY_SESSIONS, desktop)]
        assert purge_stores(stores, 30, now=now) == {"file_change_events": 2, "desktop_activity_sessions": 0}
        assert remaining_ids(files.db_path, "file_change_events") == [3]
