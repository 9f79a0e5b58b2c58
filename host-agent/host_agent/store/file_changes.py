"""``file_changes.db``: file change events (the plan's ``FileChangeDatabase``).

The plan's table plus ``old_file_path`` (the source of a move), ``sync_revision`` and the local
sync state (:func:`create_sync_state`). :func:`validate_event` is the one check of an event.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping
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
FILE_DATA_COLUMNS = [*REQUIRED_EVENT_FIELDS, *OPTIONAL_EVENT_FIELDS]


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
    add_revision_tracking(conn, "file_change_events", FILE_DATA_COLUMNS)


class FileChangeDatabase(SQLiteStore):
    """``file_changes.db``: one row per file change under a monitored directory."""

    MIGRATIONS = (
        ("001_file_change_events", _create_file_tables),
        ("002_add_old_file_path", _add_old_file_path),
        ("003_sync_state", _file_sync_state),
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

    def save_events(self, events: Iterable[Mapping[str, Any]]) -> list[int]:
        """Validate and store events in one transaction; nothing is stored if one is invalid."""
        now = now_epoch()
        rows = [validate_event(event, position=i) for i, event in enumerate(events)]
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
        return ids

    def get_recent_events(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.fetch_all("SELECT * FROM file_change_events ORDER BY event_time DESC, id DESC LIMIT ?", (limit,))
        return [dict(row) for row in rows]


def validate_event(event: Mapping[str, Any], *, position: int = 0) -> dict[str, Any]:
    """Check one file change event and fill the derived fields; names the field on error."""
    where = f"file change event #{position}"
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"{where}: expected a dict, got {type(event).__name__}")
    unknown = sorted(set(event) - set(FILE_DATA_COLUMNS))
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
    if not row["event_time_iso"]:
        row["event_time_iso"] = iso_from_epoch(row["event_time"])
    return row
