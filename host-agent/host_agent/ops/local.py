"""Read-only views of the local SQLite stores: what waits, what is held back, what the journal holds.

The databases are opened read-only (``mode=ro``), so looking never creates a file, runs a
migration or takes a write lock away from the running agent.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host_agent.config import AgentConfig

#: For each synced table, the column telling since when a waiting row waits: a session waits
#: from its last change (closing a synced session makes it wait again), an event from its creation.
WAITING_SINCE = {
    "desktop_activity_sessions": "updated_at",
    "file_change_events": "created_at",
}

#: How long a read waits for a writer's lock (ms); writers hold it for milliseconds.
BUSY_TIMEOUT_MS = 10_000


@dataclass
class HeldRow:
    table_name: str
    row_id: int
    revision: int
    reason: str
    held_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "table_name": self.table_name,
            "row_id": self.row_id,
            "revision": self.revision,
            "reason": self.reason,
            "held_at": self.held_at,
        }


@dataclass
class JournalRow:
    """A sync run recorded locally and not yet written to PostgreSQL's ``sync_logs``."""

    table_name: str
    started_at: float
    completed_at: float | None
    records_synced: int
    records_failed: int
    status: str
    error_message: str | None
    attempts: int


@dataclass
class LocalTable:
    table_name: str
    db_path: Path
    exists: bool = False
    waiting: int = 0
    oldest_waiting_at: int | None = None
    last_synced_at: int | None = None
    held: list[HeldRow] = field(default_factory=list)
    journal: list[JournalRow] = field(default_factory=list)
    error: str | None = None  # the database exists but cannot be read


def table_paths(config: AgentConfig) -> dict[str, Path]:
    """Each synced table and the local database holding it."""
    return {
        "desktop_activity_sessions": config.desktop_db_path,
        "file_change_events": config.file_events_db_path,
    }


@contextlib.contextmanager
def read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.text_factory = lambda value: value.decode("utf-8", "replace")
    try:
        yield conn
    finally:
        conn.close()


def inspect_table(table_name: str, db_path: Path) -> LocalTable:
    """Count waiting rows, find the oldest, list held-back rows and the unshipped journal."""
    state = LocalTable(table_name, db_path)
    if not db_path.exists():
        return state
    state.exists = True
    since = WAITING_SINCE[table_name]
    # A held-back row counts as held only at the revision that was refused: once edited, it waits again.
    not_held = (
        "NOT EXISTS (SELECT 1 FROM sync_held_rows AS h WHERE h.table_name = :table "
        "AND h.row_id = t.id AND h.revision = t.sync_revision)"
    )
    try:
        with read_only(db_path) as conn:
            row = conn.execute(
                f"SELECT COUNT(*), MIN(t.{since}) FROM {table_name} AS t WHERE t.synced_at IS NULL AND {not_held}",
                {"table": table_name},
            ).fetchone()
            state.waiting, state.oldest_waiting_at = row[0], row[1]
            state.last_synced_at = conn.execute(f"SELECT MAX(synced_at) FROM {table_name}").fetchone()[0]
            state.held = [
                HeldRow(table_name, r["row_id"], r["revision"], r["reason"], r["held_at"])
                for r in conn.execute(
                    f"SELECT h.row_id, h.revision, h.reason, h.held_at FROM sync_held_rows AS h "
                    f"JOIN {table_name} AS t ON t.id = h.row_id AND t.sync_revision = h.revision "
                    f"WHERE h.table_name = :table AND t.synced_at IS NULL ORDER BY h.row_id",
                    {"table": table_name},
                )
            ]
            state.journal = [
                JournalRow(
                    table_name,
                    r["sync_started_at"],
                    r["sync_completed_at"],
                    r["records_synced"],
                    r["records_failed"],
                    r["status"],
                    r["error_message"],
                    r["attempts"],
                )
                for r in conn.execute("SELECT * FROM sync_journal WHERE table_name = ? ORDER BY id", (table_name,))
            ]
    except sqlite3.Error as exc:
        state.error = f"cannot read {db_path}: {exc}"
    return state


def inspect_all(config: AgentConfig) -> dict[str, LocalTable]:
    return {name: inspect_table(name, path) for name, path in table_paths(config).items()}
