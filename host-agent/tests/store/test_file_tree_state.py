"""file_changes.db: the tree state written with the rows, and the detection columns (real SQLite files)."""

from __future__ import annotations

import sqlite3

import pytest

from host_agent.core.errors import InvalidEventError
from host_agent.store import file_changes
from host_agent.store.file_changes import FileChangeDatabase

ROOT = "/home/me/src"


def event(**overrides):
    base = dict(
        event_time=1_780_000_000,
        event_type="created",
        file_path=f"{ROOT}/a.py",
        file_path_relative="a.py",
        file_name="a.py",
        monitored_root=ROOT,
    )
    base.update(overrides)
    return base


def state(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return {r[0]: tuple(r[1:]) for r in conn.execute(
            "SELECT relative_path, size, mtime_ns, inode FROM file_tree_state ORDER BY relative_path"
        )}
    finally:
        conn.close()


OLD_SCHEMA = """
CREATE TABLE file_change_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_time INTEGER NOT NULL, event_time_iso TEXT NOT NULL,
    event_type TEXT NOT NULL, file_path TEXT NOT NULL, file_path_relative TEXT, file_name TEXT NOT NULL,
    file_extension TEXT, file_size INTEGER, is_symlink INTEGER DEFAULT 0, monitored_root TEXT NOT NULL,
    project_name TEXT, synced_at INTEGER, created_at INTEGER NOT NULL
);
INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, monitored_root, created_at)
VALUES (1780000000, '2026-05-28T20:26:40+00:00', 'created', '/home/me/src/old.py', 'old.py', '/home/me/src', 1780000000);
"""


def test_an_old_database_gains_the_columns_and_its_rows_read_as_found_by_the_watcher(tmp_path):
    path = tmp_path / "file_changes.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.close()
    with FileChangeDatabase(path) as db:
        [old] = db.get_recent_events()
        assert (old["detected_by"], old["detected_at"]) == ("watcher", None)
        db.save_event(event(detected_by="reconciliation", detected_at=1_780_000_100.7))
        newest = db.get_recent_events(1)[0]
    assert (newest["detected_by"], newest["detected_at"]) == ("reconciliation", 1_780_000_100)


def test_rows_and_the_state_they_imply_are_written_in_one_transaction(tmp_path):
    path = tmp_path / "file_changes.db"
    with FileChangeDatabase(path) as db:
        db.save_events([
            event(tree_state=[(ROOT, "a.py", (3, 10, 7))]),
            event(event_type="moved", file_path=f"{ROOT}/b.py", file_path_relative="b.py", file_name="b.py",
                  old_file_path=f"{ROOT}/a.py", tree_state=[(ROOT, "a.py", None), (ROOT, "b.py", (3, 10, 7))]),
        ], tree_state=[(ROOT, "c.py", (1, 2, 3))])
        assert state(path) == {"b.py": (3, 10, 7), "c.py": (1, 2, 3)}
        with pytest.raises(InvalidEventError, match="file change event #1: unknown event_type 'renamed'"):
            db.save_events([event(tree_state=[(ROOT, "d.py", (1, 1, 1))]), event(event_type="renamed")])
        assert state(path) == {"b.py": (3, 10, 7), "c.py": (1, 2, 3)}, "a refused batch moves no state"
        assert len(db.get_recent_events(10)) == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"detected_by": "guess"}, "unknown detected_by 'guess' (expected one of watcher, reconciliation)"),
        ({"detected_at": "yesterday"}, "'detected_at' must be UTC epoch seconds or None"),
        ({"tree_state": [(ROOT, "a.py", (1, -1, 1))]}, "file change event #0: a tree state change is (root, relative path"),
    ],
)
def test_bad_detection_fields_and_state_changes_are_refused_naming_the_field(tmp_path, overrides, message):
    with FileChangeDatabase(tmp_path / "file_changes.db") as db, pytest.raises(InvalidEventError) as caught:
        db.save_event(event(**overrides))
    assert message in str(caught.value)


def test_a_first_walk_is_stored_in_batches_skipping_paths_events_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(file_changes, "STATE_BATCH", 3)
    path = tmp_path / "file_changes.db"
    entries = [(f"f{i:02}", (i, i * 10, 100 + i)) for i in range(10)]
    with FileChangeDatabase(path) as db:
        assert not db.tree_known(ROOT)
        stored = db.store_first_state(ROOT, iter(entries), skip=lambda rel: rel == "f04")
        assert stored == 9 and db.tree_known(ROOT)
        read = list(db.tree_state(ROOT))  # read in pages of STATE_BATCH
        assert [r[0] for r in read] == [f"f{i:02}" for i in range(10) if i != 4]
        assert read[0] == ("f00", 0, 0, 100)
        assert list(db.tree_state("/elsewhere")) == []
        db.drop_tree_paths(ROOT, ["f00", "f01"])
        assert len(list(db.tree_state(ROOT))) == 7
        db.forget_tree(ROOT)
        assert not db.tree_known(ROOT) and list(db.tree_state(ROOT)) == []
