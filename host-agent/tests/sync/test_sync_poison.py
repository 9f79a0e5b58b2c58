"""A row PostgreSQL refuses is held back with its reason; it never blocks the others."""

from __future__ import annotations

import pytest

from tests.support.rows import add_file_events, file_event

pytestmark = pytest.mark.both_layouts  # each test using the database runs on the plain and partitioned layouts


def insert_raw(files_db, **values) -> int:
    """Write a row the way a foreign program or a corrupted file might: no validation."""
    row = {**file_event(999), "event_time_iso": "2026-05-28T20:43:19+00:00", "created_at": 1_780_000_999, **values}
    columns = ", ".join(row)
    placeholders = ", ".join("CAST(X'C3FF' AS TEXT)" if v is INVALID_UTF8 else "?" for v in row.values())
    with files_db.atomic() as conn:
        return conn.execute(
            f"INSERT INTO file_change_events ({columns}) VALUES ({placeholders})",
            [v for v in row.values() if v is not INVALID_UTF8],
        ).lastrowid


INVALID_UTF8 = object()


def poison(files_db) -> dict[str, int]:
    add_file_events(files_db, 100)
    bad = {
        "nul": files_db.save_event(file_event(100, file_name="evil\x00name.py")),
        "check": insert_raw(files_db, event_type="renamed"),
        "utf8": insert_raw(files_db, file_path=INVALID_UTF8),
        "type": insert_raw(files_db, file_size="big"),
    }
    add_file_events(files_db, 100, start=200)
    return bad


async def test_bad_rows_are_held_back_and_the_good_rows_go_through(files_db, pg_url, pg, manager_factory):
    bad = poison(files_db)
    manager = await manager_factory(pg_url, batch_size=64)
    result = (await manager.sync_all())["file_change_events"]
    assert (result.records_synced, result.records_failed, result.status) == (200, 4, "partial_success")
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 200
    assert set(await pg.fetchval("SELECT array_agg(local_id) FROM file_change_events")).isdisjoint(bad.values())

    held = {row_id: reason for row_id, _rev, reason, _at in manager.held_rows("file_change_events")}
    assert set(held) == set(bad.values())
    assert "CharacterNotInRepertoireError [22021]" in held[bad["nul"]]
    assert "CheckViolationError [23514]" in held[bad["check"]]
    assert "surrogates not allowed" in held[bad["utf8"]]
    assert "RowEncodingError" in held[bad["type"]]
    for row_id, reason in held.items():
        assert reason.startswith(f"row id {row_id}: ")

    log = await pg.fetchrow("SELECT * FROM sync_logs WHERE table_name = 'file_change_events'")
    assert (log["records_synced"], log["records_failed"], log["status"]) == (200, 4, "partial_success")
    assert f"row id {bad['check']}: CheckViolationError" in log["error_message"]

    with files_db.reading() as conn:  # nothing deleted, nothing marked synced
        states = dict(conn.execute("SELECT id, synced_at FROM file_change_events").fetchall())
    assert len(states) == 204
    assert all(states[i] is None for i in bad.values())


async def test_held_rows_are_not_resent_every_run_but_can_be_retried_on_request(files_db, pg_url, manager_factory):
    bad = poison(files_db)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    again = (await manager.sync_all())["file_change_events"]
    assert (again.records_synced, again.records_failed, again.status) == (0, 0, "success")

    assert manager.release_held("file_change_events") == 4
    retried = (await manager.sync_all())["file_change_events"]
    assert (retried.records_synced, retried.records_failed) == (0, 4)
    assert len(manager.held_rows("file_change_events")) == len(bad)


async def test_a_held_row_that_is_corrected_locally_goes_through_on_the_next_run(files_db, pg_url, pg, manager_factory):
    bad = poison(files_db)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    with files_db.atomic() as conn:
        conn.execute("UPDATE file_change_events SET event_type = 'modified' WHERE id = ?", (bad["check"],))
    result = (await manager.sync_all())["file_change_events"]
    assert (result.records_synced, result.records_failed) == (1, 0)
    assert await pg.fetchval("SELECT event_type FROM file_change_events WHERE local_id = $1", bad["check"]) == "modified"
    assert bad["check"] not in {row[0] for row in manager.held_rows("file_change_events")}


async def test_a_batch_of_only_bad_rows_fails_without_stopping_the_run(files_db, pg_url, manager_factory):
    for _ in range(3):
        insert_raw(files_db, event_type="renamed")
    result = (await (await manager_factory(pg_url)).sync_all())["file_change_events"]
    assert (result.records_synced, result.records_failed, result.status) == (0, 3, "failed")
