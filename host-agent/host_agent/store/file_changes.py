"""``file_changes.db``: file change events (the plan's ``FileChangeDatabase``).

The plan's table plus ``old_file_path`` (the source of a move), ``sync_revision``, the local
sync state (:func:`create_sync_state`), and how each row was found: ``detected_by`` is
``watcher`` (an inotify event, or a rescan after lost events) or ``reconciliation`` (a change
made while the tree was not watched, found when watching started again), ``detected_at`` when a
reconciliation found it (NULL for the watcher's rows: found at ``event_time``).
:func:`validate_event` is the one check of an event.

**Tree state.** ``file_tree_state`` holds each monitored tree's last known state: per file or
link (relative path, escaped as in the rows) its size, ``mtime_ns`` and inode, as the rows
written so far describe it. An event may carry the state changes it implies (``tree_state``:
``(root, relative path, (size, mtime_ns, inode) or None for gone)``); they are written in the
same transaction as the rows, so after a crash the state and the rows agree, and what the next
start finds different on disk is exactly what no row recorded. ``file_tree_roots`` lists the
trees whose state is complete (their first walk was stored).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from host_agent.core.errors import InvalidEventError
from host_agent.core.timeutil import iso_from_epoch, now_epoch
from host_agent.store.sqlite_store import SQLiteStore, add_column, add_revision_tracking, check_text, create_sync_state


EVENT_TYPES = frozenset({"created", "modified", "deleted", "moved"})
REQUIRED_EVENT_FIELDS = ("event_time", "event_type", "file_path", "file_name", "monitored_root")
OPTIONAL_EVENT_FIELDS = (
    "event_time_iso",
    "file_path_relative",
    "file_extension",
    "file_size",
    "is_symlink",
    "project_name",
    "old_file_path",
)
#: How a row was found (see the module docstring); added by migration 004.
DETECTION_FIELDS = ("detected_by", "detected_at")
DETECTED_BY = ("watcher", "reconciliation")
FILE_DATA_COLUMNS = [*REQUIRED_EVENT_FIELDS, *OPTIONAL_EVENT_FIELDS, *DETECTION_FIELDS]
#: The field of an event holding the tree state changes it implies; not a column.
TREE_STATE_FIELD = "tree_state"
#: Most tree state entries written per transaction when a tree's first walk is stored.
STATE_BATCH = 5000

#: A file's state as the tree state keeps it: (size, mtime_ns, inode); None: nothing there.
FileState = tuple[int, int, int]
#: One change of the tree state: (monitored root, relative path, both escaped; state or None).
StateChange = tuple[str, str, "FileState | None"]


def _create_file_tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS file_change_events (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               event_time INTEGER NOT NULL,
               event_time_iso TEXT NOT NULL,
               event_type TEXT NOT NULL,
               file_path TEXT NOT NULL,
               file_path_relative TEXT,
               file_name TEXT NOT NULL,
               file_extension TEXT,
               file_size INTEGER,
               is_symlink INTEGER DEFAULT 0,
               monitored_root TEXT NOT NULL,
               project_name TEXT,
               synced_at INTEGER,
               created_at INTEGER NOT NULL
           )"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS idx_file_event_time ON file_change_events(event_time)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_file_synced_at ON file_change_events(synced_at)")


def _add_old_file_path(conn: sqlite3.Connection) -> None:
    add_column(conn, "file_change_events", "old_file_path", "TEXT")


def _file_sync_state(conn: sqlite3.Connection) -> None:
    create_sync_state(conn)
    # The columns the table had then: the trigger names each one, and later ones are never edited.
    add_revision_tracking(conn, "file_change_events", [*REQUIRED_EVENT_FIELDS, *OPTIONAL_EVENT_FIELDS])


def _tree_reconciliation(conn: sqlite3.Connection) -> None:
    add_column(conn, "file_change_events", "detected_by", "TEXT NOT NULL DEFAULT 'watcher'")
    add_column(conn, "file_change_events", "detected_at", "INTEGER")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS file_tree_state (
               monitored_root TEXT NOT NULL,
               relative_path  TEXT NOT NULL,
               size           INTEGER NOT NULL,
               mtime_ns       INTEGER NOT NULL,
               inode          INTEGER NOT NULL,
               PRIMARY KEY (monitored_root, relative_path)
           ) WITHOUT ROWID"""
    )
    conn.execute(
        """CREATE TABLE IF NOT EXISTS file_tree_roots (
               monitored_root     TEXT PRIMARY KEY,
               first_watched_at   INTEGER NOT NULL,
               last_reconciled_at INTEGER
           )"""
    )


class FileChangeDatabase(SQLiteStore):
    """``file_changes.db``: one row per file change under a monitored directory."""

    MIGRATIONS = (
        ("001_file_change_events", _create_file_tables),
        ("002_add_old_file_path", _add_old_file_path),
        ("003_sync_state", _file_sync_state),
        ("004_tree_reconciliation", _tree_reconciliation),
    )

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        super().__init__(db_path)

    def _create_tables(self) -> None:
        """Create ``file_change_events`` and its indexes (the constructor already does)."""
        with self.atomic() as conn:
            _create_file_tables(conn)
            _add_old_file_path(conn)

    def save_event(self, event_data: Mapping[str, Any]) -> int:
        """Validate and store one event; returns its id. Raises :class:`InvalidEventError`."""
        return self.save_events([event_data])[0]

    def save_events(
        self, events: Iterable[Mapping[str, Any]], *, tree_state: Iterable[StateChange] = ()
    ) -> list[int]:
        """Validate and store events in one transaction; nothing is stored if one is invalid.

        The tree state changes the events carry (``tree_state``), then ``tree_state``, are
        applied in the same transaction, in that order (a later change of a path wins)."""
        now = now_epoch()
        events = list(events)
        rows = [validate_event(event, position=i) for i, event in enumerate(events)]
        final: dict[tuple[str, str], FileState | None] = {}
        for i, event in enumerate(events):
            for change in event.get(TREE_STATE_FIELD) or ():
                _put_change(final, change, f"file change event #{i}")
        for change in tree_state:
            _put_change(final, change, "tree state")
        columns = [*FILE_DATA_COLUMNS, "created_at"]
        sql = (
            f"INSERT INTO file_change_events ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        ids = []
        with self.atomic() as conn:
            for row in rows:
                cursor = conn.execute(sql, [row[c] for c in FILE_DATA_COLUMNS] + [now])
                ids.append(int(cursor.lastrowid))
            _apply_state(conn, final)
        return ids

    # -- tree state ------------------------------------------------------------------------

    def tree_known(self, root: str) -> bool:
        """Whether ``root`` (escaped) has a complete stored state (its first walk was stored)."""
        with self.reading() as conn:
            return conn.execute("SELECT 1 FROM file_tree_roots WHERE monitored_root = ?", (root,)).fetchone() is not None

    def forget_tree(self, root: str) -> None:
        """Drop what an interrupted first walk of ``root`` stored (its state is incomplete)."""
        with self.atomic() as conn:
            conn.execute("DELETE FROM file_tree_state WHERE monitored_root = ?", (root,))
            conn.execute("DELETE FROM file_tree_roots WHERE monitored_root = ?", (root,))

    def store_first_state(
        self, root: str, entries: Iterable[tuple[str, FileState]], *, skip: Callable[[str], bool]
    ) -> int:
        """Store a tree's first walk as its state, in transactions of :data:`STATE_BATCH`;
        ``root`` is marked known in the last one. ``skip(relative)`` is asked inside each
        transaction: a path an event reported since the walk began has its state from that
        event (written before, or after this transaction). Returns the entries stored."""
        stored = 0
        batch: list[tuple[str, FileState]] = []

        def write(last: bool) -> None:
            nonlocal stored
            with self.atomic() as conn:
                kept = [(root, rel, *st) for rel, st in batch if not skip(rel)]
                conn.executemany(_UPSERT_STATE, kept)
                if last:
                    conn.execute(
                        "INSERT OR REPLACE INTO file_tree_roots (monitored_root, first_watched_at) VALUES (?, ?)",
                        (root, now_epoch()),
                    )
                stored += len(kept)
            batch.clear()

        for entry in entries:
            batch.append(entry)
            if len(batch) >= STATE_BATCH:
                write(False)
        write(True)
        return stored

    def tree_state(self, root: str) -> Iterator[tuple[str, int, int, int]]:
        """The stored state of ``root``: (relative path, size, mtime_ns, inode), read in pages."""
        after = ""
        while True:
            with self.reading() as conn:
                page = conn.execute(
                    "SELECT relative_path, size, mtime_ns, inode FROM file_tree_state "
                    "WHERE monitored_root = ? AND relative_path > ? ORDER BY relative_path LIMIT ?",
                    (root, after, STATE_BATCH),
                ).fetchall()
            yield from (tuple(row) for row in page)
            if len(page) < STATE_BATCH:
                return
            after = page[-1][0]

    def drop_tree_paths(self, root: str, relative_paths: Iterable[str]) -> None:
        """Forget state entries no row will ever describe (paths now excluded)."""
        with self.atomic() as conn:
            conn.executemany(_DELETE_STATE, [(root, rel) for rel in relative_paths])

    def mark_reconciled(self, root: str) -> None:
        with self.atomic() as conn:
            conn.execute(
                "UPDATE file_tree_roots SET last_reconciled_at = ? WHERE monitored_root = ?", (now_epoch(), root)
            )

    def get_recent_events(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.fetch_all("SELECT * FROM file_change_events ORDER BY event_time DESC, id DESC LIMIT ?", (limit,))
        return [dict(row) for row in rows]


_UPSERT_STATE = (
    "INSERT INTO file_tree_state (monitored_root, relative_path, size, mtime_ns, inode) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (monitored_root, relative_path) DO UPDATE SET "
    "size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode"
)
_DELETE_STATE = "DELETE FROM file_tree_state WHERE monitored_root = ? AND relative_path = ?"


def _put_change(final: dict[tuple[str, str], FileState | None], change: StateChange, where: str) -> None:
    try:
        root, relative, state = change
        valid = isinstance(root, str) and isinstance(relative, str) and (
            state is None or (len(state) == 3 and all(isinstance(v, int) and v >= 0 for v in state))
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise InvalidEventError(f"{where}: a tree state change is (root, relative path, (size, mtime_ns, inode) or None), got {change!r}")
    final[(root, relative)] = state


def _apply_state(conn: sqlite3.Connection, final: Mapping[tuple[str, str], FileState | None]) -> None:
    conn.executemany(_UPSERT_STATE, [(r, p, *st) for (r, p), st in final.items() if st is not None])
    conn.executemany(_DELETE_STATE, [(r, p) for (r, p), st in final.items() if st is None])


def validate_event(event: Mapping[str, Any], *, position: int = 0) -> dict[str, Any]:
    """Check one file change event and fill the derived fields; names the field on error."""
    where = f"file change event #{position}"
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"{where}: expected a dict, got {type(event).__name__}")
    unknown = sorted(set(event) - set(FILE_DATA_COLUMNS) - {TREE_STATE_FIELD})
    if unknown:
        raise InvalidEventError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    for field in REQUIRED_EVENT_FIELDS:
        if event.get(field) in (None, ""):
            raise InvalidEventError(f"{where}: missing required field {field!r}")
    row = {field: event.get(field) for field in FILE_DATA_COLUMNS}
    event_time = row["event_time"]
    if isinstance(event_time, bool) or not isinstance(event_time, (int, float)) or event_time < 0:
        raise InvalidEventError(f"{where}: 'event_time' must be UTC epoch seconds, got {event_time!r}")
    row["event_time"] = int(event_time)
    if row["event_type"] not in EVENT_TYPES:
        raise InvalidEventError(
            f"{where}: unknown event_type {row['event_type']!r} (expected one of {', '.join(sorted(EVENT_TYPES))})"
        )
    for field in ("file_path", "monitored_root"):
        if not isinstance(row[field], str) or not row[field].startswith("/"):
            raise InvalidEventError(f"{where}: {field!r} must be an absolute path, got {row[field]!r}")
    for field in FILE_DATA_COLUMNS:
        check_text(row[field], f"{where}: {field!r}")
    if row["event_type"] == "moved" and not row["old_file_path"]:
        raise InvalidEventError(f"{where}: a 'moved' event needs 'old_file_path'")
    size = row["file_size"]
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InvalidEventError(f"{where}: 'file_size' must be a non-negative integer or None, got {size!r}")
    row["is_symlink"] = 1 if row["is_symlink"] else 0
    if row["detected_by"] is None:
        row["detected_by"] = "watcher"
    if row["detected_by"] not in DETECTED_BY:
        raise InvalidEventError(
            f"{where}: unknown detected_by {row['detected_by']!r} (expected one of {', '.join(DETECTED_BY)})"
        )
    found = row["detected_at"]
    if found is not None:
        if isinstance(found, bool) or not isinstance(found, (int, float)) or found < 0:
            raise InvalidEventError(f"{where}: 'detected_at' must be UTC epoch seconds or None, got {found!r}")
        row["detected_at"] = int(found)
    if not row["event_time_iso"]:
        row["event_time_iso"] = iso_from_epoch(row["event_time"])
    return row
