"""A third synced table is one new description: its store and a SyncedTable, nothing else.

The sync routine, the journal, held rows, retention and the read-only views all work on it
from the description alone.
"""

from __future__ import annotations

import sqlite3
import time

from host_agent.store.inspect import inspect_table
from host_agent.store.retention import purge_synced
from host_agent.store.sqlite_store import SQLiteStore, add_revision_tracking, create_sync_state
from host_agent.store.tables import LocalTable, SyncedTable
from host_agent.sync.manager import SyncManager


def _create_notes(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, "
        "created_at INTEGER NOT NULL, synced_at INTEGER)"
    )
    create_sync_state(conn)
    add_revision_tracking(conn, "notes", ["body"])


class NotesDatabase(SQLiteStore):
    MIGRATIONS = (("001_notes", _create_notes),)

    def add(self, body: str) -> int:
        with self.atomic() as conn:
            return int(conn.execute("INSERT INTO notes (body, created_at) VALUES (?, ?)", (body, int(time.time()))).lastrowid)


NOTES = SyncedTable(
    name="notes",
    store=NotesDatabase,
    columns=("body", "created_at"),
    times=frozenset({"created_at"}),
    config_path="notes_db",
    waiting_since="created_at",
)

PG_NOTES = """
CREATE TABLE notes (
    id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL CHECK (body <> 'refused'), created_at TIMESTAMPTZ NOT NULL,
    synced_at TIMESTAMPTZ, host_identifier TEXT, origin_id UUID, local_id BIGINT, local_revision INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX uq_notes_origin ON notes (origin_id, local_id);
"""


async def test_a_third_table_syncs_from_its_description_alone(tmp_path, pg_url, pg):
    await pg.execute(PG_NOTES)
    path = tmp_path / "notes.db"
    with NotesDatabase(path) as db:
        for body in ("first", "refused", "third"):
            db.add(body)
        db.add("edited later")

    manager = SyncManager(pg_url, [LocalTable(NOTES, path)], batch_size=2, host_identifier="host_me")
    await manager.initialize()
    try:
        result = (await manager.sync_all())["notes"]
        assert (result.records_synced, result.records_held, result.records_left) == (3, 1, 0)
        assert [row[0] for row in manager.held_rows("notes")] == [2]

        with NotesDatabase(path) as db, db.atomic() as conn:
            conn.execute("UPDATE notes SET body = 'edited' WHERE id = 4")
        assert (await manager.sync_all())["notes"].records_synced == 1
    finally:
        await manager.close()

    rows = await pg.fetch("SELECT local_id, body, host_identifier, local_revision FROM notes ORDER BY local_id")
    assert [tuple(r) for r in rows] == [(1, "first", "host_me", 0), (3, "third", "host_me", 0), (4, "edited", "host_me", 1)]
    logged = await pg.fetch("SELECT records_synced, records_failed, status FROM sync_logs WHERE table_name = 'notes'")
    assert [tuple(r) for r in logged] == [(3, 1, "partial_success"), (1, 0, "success")]

    state = inspect_table(LocalTable(NOTES, path))
    assert (state.waiting, [h.row_id for h in state.held]) == (0, [2])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE notes SET synced_at = 1 WHERE synced_at IS NOT NULL")  # synced in 1970
    conn.close()
    assert purge_synced(path, NOTES, 30) == 3  # the held-back row stays
