"""The local SQLite stores: migrations of old databases, privacy, concurrency, validation."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
import threading

import pytest
from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase
from host_agent.core.errors import InvalidEventError

PHASE1_SCHEMA = """
CREATE TABLE desktop_activity_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_time INTEGER NOT NULL, end_time INTEGER,
    start_time_iso TEXT NOT NULL, end_time_iso TEXT,
    application_name TEXT NOT NULL, window_title TEXT,
    duration_seconds INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX idx_start_time ON desktop_activity_sessions(start_time);
"""


def event(**overrides):
    base = dict(
        event_time=1_780_000_000,
        event_type="modified",
        file_path="/home/me/src/app/main.py",
        file_path_relative="app/main.py",
        file_name="main.py",
        file_extension=".py",
        file_size=120,
        monitored_root="/home/me/src",
        project_name="app",
    )
    base.update(overrides)
    return base


def make_phase1_database(path):
    conn = sqlite3.connect(path)
    conn.executescript(PHASE1_SCHEMA)
    conn.execute(
        "INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, end_time_iso, application_name, "
        "window_title, duration_seconds, created_at, updated_at) VALUES "
        "(1780000000, 1780000060, '2026-05-28T20:26:40+00:00', '2026-05-28T20:27:40+00:00', 'firefox', 'Docs', 60, "
        "1780000000, 1780000060)"
    )
    conn.commit()
    conn.close()


def columns(path, table):
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


def test_a_phase1_desktop_database_gains_synced_at_and_keeps_its_rows(tmp_path):
    path = tmp_path / "desktop_activity.db"
    make_phase1_database(path)
    assert "synced_at" not in columns(path, "desktop_activity_sessions")

    with DesktopActivityDatabase(path) as db:
        rows = db.get_recent_sessions()
        db.migrate_add_synced_at_column()  # a second run is harmless
        db.migrate_add_synced_at_column()
    assert "synced_at" in columns(path, "desktop_activity_sessions")
    assert [(r["application_name"], r["window_title"], r["duration_seconds"], r["synced_at"]) for r in rows] == [
        ("firefox", "Docs", 60, None)
    ]
    conn = sqlite3.connect(path)
    indexes = {row[1] for row in conn.execute("PRAGMA index_list(desktop_activity_sessions)")}
    conn.close()
    assert "idx_desktop_synced_at" in indexes


def test_reopening_a_database_keeps_its_origin_id_and_a_recreated_one_gets_a_new_one(tmp_path):
    path = tmp_path / "file_changes.db"
    with FileChangeDatabase(path) as db:
        first = db.origin_id
    with FileChangeDatabase(path) as db:
        assert db.origin_id == first
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    with FileChangeDatabase(path) as db:
        assert db.origin_id != first


def test_stores_create_their_folder_and_keep_files_private(tmp_path):
    path = tmp_path / "deep" / "er" / "file_changes.db"
    with FileChangeDatabase(path) as db:
        db.save_event(event())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_stores_use_wal_mode(tmp_path):
    with DesktopActivityDatabase(tmp_path / "d.db") as db, db.reading() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_save_event_fills_the_iso_time_and_reads_back_newest_first(tmp_path):
    with FileChangeDatabase(tmp_path / "f.db") as db:
        first = db.save_event(event(event_time=1_780_000_000))
        second = db.save_event(event(event_time=1_780_000_005, event_type="moved", old_file_path="/home/me/src/a.py"))
        recent = db.get_recent_events(limit=5)
    assert [r["id"] for r in recent] == [second, first]
    assert recent[1]["event_time_iso"].startswith("2026-05-2")
    assert recent[0]["old_file_path"] == "/home/me/src/a.py"
    assert recent[0]["synced_at"] is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"file_path": None}, "missing required field 'file_path'"),
        ({"event_type": "renamed"}, "unknown event_type 'renamed'"),
        ({"event_time": "yesterday"}, "'event_time' must be UTC epoch seconds"),
        ({"file_path": "relative/main.py"}, "'file_path' must be an absolute path"),
        ({"file_size": -1}, "'file_size' must be a non-negative integer"),
        ({"colour": "blue"}, "unknown field(s) 'colour'"),
        ({"event_type": "moved"}, "a 'moved' event needs 'old_file_path'"),
        ({"file_name": "caf\udce9.txt"}, "'file_name' is not valid UTF-8 text (character '\\udce9' at 3)"),
    ],
)
def test_save_event_rejects_bad_input_with_a_message_naming_the_field(tmp_path, bad, message):
    with FileChangeDatabase(tmp_path / "f.db") as db:
        with pytest.raises(InvalidEventError) as excinfo:
            db.save_event(event(**bad))
        assert message in str(excinfo.value)
        assert db.get_recent_events() == []


def test_save_events_stores_nothing_when_one_event_of_the_batch_is_bad(tmp_path):
    with FileChangeDatabase(tmp_path / "f.db") as db:
        with pytest.raises(InvalidEventError, match="event #1"):
            db.save_events([event(), event(event_type="bogus")])
        assert db.get_recent_events() == []


def test_ending_a_session_sets_its_end_and_duration(tmp_path):
    with DesktopActivityDatabase(tmp_path / "d.db") as db:
        sid = db.start_session("kitty", "vim notes.md", 1_780_000_000)
        assert [s["id"] for s in db.get_open_sessions()] == [sid]
        db.end_session(sid, 1_780_000_042)
        (session,) = db.get_recent_sessions()
    assert session["end_time"] == 1_780_000_042
    assert session["duration_seconds"] == 42
    assert session["end_time_iso"] and session["end_time_iso"] != session["start_time_iso"]


def _writer(path: str, count: int) -> None:
    with FileChangeDatabase(path) as db:
        for i in range(count):
            db.save_event(event(event_time=1_780_000_000 + i, file_path=f"/home/me/src/f{i}.py", file_name=f"f{i}.py"))


def test_a_writer_process_and_a_marking_reader_never_see_database_is_locked(tmp_path):
    path = tmp_path / "f.db"
    FileChangeDatabase(path).close()
    count = 1500
    writer = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(path), count))
    writer.start()
    marked = 0
    with FileChangeDatabase(path) as db:
        while writer.is_alive() or marked < count:
            with db.atomic() as conn:  # what the sync does: read waiting rows, mark them
                ids = [r[0] for r in conn.execute("SELECT id FROM file_change_events WHERE synced_at IS NULL LIMIT 50")]
                conn.executemany("UPDATE file_change_events SET synced_at = 1 WHERE id = ?", [(i,) for i in ids])
            marked += len(ids)
            if not ids and not writer.is_alive():
                break
    writer.join(timeout=60)
    assert writer.exitcode == 0
    assert marked == count



def test_stores_opened_on_a_new_database_at_the_same_moment_all_open_it_in_wal_mode_as_one_origin(tmp_path):
    # The sync engine and a collector open a new database together on a first start; SQLite
    # refuses one of two simultaneous switches to WAL at once, without waiting.
    opened_per_round = 4
    for round_ in range(150):
        path = tmp_path / f"f{round_}.db"
        start = threading.Barrier(opened_per_round)
        modes, origins, failures = [], set(), []

        def open_store():
            start.wait()
            try:
                with FileChangeDatabase(path) as db, db.reading() as conn:
                    modes.append(conn.execute("PRAGMA journal_mode").fetchone()[0])
                    origins.add(db.origin_id)
            except Exception as exc:  # noqa: BLE001 - the failure is what the test reports
                failures.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(opened_per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert modes == ["wal"] * opened_per_round
        assert len(origins) == 1


def test_a_window_title_that_is_not_utf8_is_refused_by_the_store_naming_the_field(tmp_path):
    with DesktopActivityDatabase(tmp_path / "d.db") as db:
        with pytest.raises(InvalidEventError) as excinfo:
            db.start_session("editor", "notes \udcff.txt", 1_780_000_000)
        assert "'window_title' is not valid UTF-8 text" in str(excinfo.value)
        assert db.get_recent_sessions() == []
