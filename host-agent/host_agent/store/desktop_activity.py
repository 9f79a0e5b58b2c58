"""``desktop_activity.db``: desktop activity sessions (the plan's ``DesktopActivityDatabase``).

The plan's Phase-1 table plus what the sync needs: ``synced_at`` (UTC epoch seconds of the
PostgreSQL commit; NULL means waiting), a ``sync_revision`` bumped by a trigger when a row is
edited (a session gaining its end), and the local sync state (:func:`create_sync_state`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from host_agent.core.timeutil import iso_from_epoch, now_epoch
from host_agent.store.sqlite_store import SQLiteStore, add_column, add_revision_tracking, check_text, create_sync_state


DESKTOP_DATA_COLUMNS = [
    "start_time",
    "end_time",
    "start_time_iso",
    "end_time_iso",
    "application_name",
    "window_title",
    "duration_seconds",
]


def _create_desktop_tables(conn: sqlite3.Connection) -> None:
    # The Phase-1 table, as databases created before synchronisation existed hold it.
    conn.execute(
        """CREATE TABLE IF NOT EXISTS desktop_activity_sessions (
               id               INTEGER PRIMARY KEY AUTOINCREMENT,
               start_time       INTEGER NOT NULL,
               end_time         INTEGER,
               start_time_iso   TEXT NOT NULL,
               end_time_iso     TEXT,
               application_name TEXT NOT NULL,
               window_title     TEXT,
               duration_seconds INTEGER,
               created_at       INTEGER NOT NULL,
               updated_at       INTEGER NOT NULL
           )"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS idx_start_time ON desktop_activity_sessions(start_time)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_application ON desktop_activity_sessions(application_name)")


def _add_synced_at(conn: sqlite3.Connection) -> None:
    add_column(conn, "desktop_activity_sessions", "synced_at", "INTEGER")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_desktop_synced_at ON desktop_activity_sessions(synced_at)")


def _desktop_sync_state(conn: sqlite3.Connection) -> None:
    create_sync_state(conn)
    add_revision_tracking(conn, "desktop_activity_sessions", DESKTOP_DATA_COLUMNS)


#: ``agent_state`` key of the desktop monitor's heartbeat.
HEARTBEAT_KEY = "desktop_monitor_heartbeat"


def _create_agent_state(conn: sqlite3.Connection) -> None:
    # Small facts the agent keeps between runs (the desktop monitor's heartbeat); not synced.
    conn.execute("CREATE TABLE IF NOT EXISTS agent_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


class DesktopActivityDatabase(SQLiteStore):
    """``desktop_activity.db``: one row per session (same application and window title)."""

    MIGRATIONS = (
        ("001_desktop_activity_sessions", _create_desktop_tables),
        ("002_add_synced_at", _add_synced_at),
        ("003_sync_state", _desktop_sync_state),
        ("004_agent_state", _create_agent_state),
    )

    def migrate_add_synced_at_column(self) -> None:
        """Add ``synced_at`` and its index to a database created before they existed.

        Opening a database already runs it; running it again changes nothing.
        """
        with self.atomic() as conn:
            _add_synced_at(conn)

    def start_session(self, application_name: str, window_title: str | None, start_time: int) -> int:
        """Open a session; raises :class:`InvalidEventError` for text that is not valid UTF-8."""
        check_text(application_name, "desktop session: 'application_name'")
        check_text(window_title, "desktop session: 'window_title'")
        now = now_epoch()
        with self.atomic() as conn:
            cursor = conn.execute(
                """INSERT INTO desktop_activity_sessions
                       (start_time, start_time_iso, application_name, window_title, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (start_time, iso_from_epoch(start_time), application_name, window_title, now, now),
            )
            return int(cursor.lastrowid)

    def end_session(self, session_id: int, end_time: int) -> None:
        """Close an open session; an end before its start is clamped to the start (duration 0)."""
        with self.atomic() as conn:
            row = conn.execute(
                "SELECT start_time FROM desktop_activity_sessions WHERE id = ? AND end_time IS NULL", (session_id,)
            ).fetchone()
            if row is None:
                return
            end_time = max(int(end_time), row[0])
            conn.execute(
                """UPDATE desktop_activity_sessions
                   SET end_time = ?, end_time_iso = ?, duration_seconds = ?, updated_at = ?
                   WHERE id = ?""",
                (end_time, iso_from_epoch(end_time), end_time - row[0], now_epoch(), session_id),
            )

    def get_open_sessions(self) -> list[dict[str, Any]]:
        rows = self.fetch_all("SELECT * FROM desktop_activity_sessions WHERE end_time IS NULL ORDER BY id")
        return [dict(row) for row in rows]

    def get_recent_sessions(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.fetch_all(
            "SELECT * FROM desktop_activity_sessions ORDER BY start_time DESC, id DESC LIMIT ?", (limit,)
        )
        return [dict(row) for row in rows]

    def record_heartbeat(self, time: int) -> None:
        """Note that the open session was known to be current at ``time`` (UTC epoch seconds).

        After a crash or power loss, the session left open is closed at this time, not at the
        next start-up.
        """
        with self.atomic() as conn:
            conn.execute(
                "INSERT INTO agent_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (HEARTBEAT_KEY, str(int(time))),
            )

    def last_heartbeat(self) -> int | None:
        """The last time recorded by :meth:`record_heartbeat`, or None if there is none."""
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM agent_state WHERE key = ?", (HEARTBEAT_KEY,)).fetchone()
        return int(row[0]) if row is not None else None
