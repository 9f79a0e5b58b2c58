"""Read-only views of the local SQLite stores: what waits, what is held back, what the journal holds.

The databases are opened read-only (``mode=ro``), so looking never creates a file, runs a
migration or takes a write lock away from the running agent. The SQL comes from the table
descriptions (:mod:`host_agent.store.tables`), as the sync engine's does.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host_agent.core.config import AgentConfig
from host_agent.store.journal import JournalEntry, read_journal
from host_agent.store.tables import LocalTable, local_tables

#: How long a read waits for a writer's lock (ms); writers hold it for milliseconds.
BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
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
class TableState:
    table_name: str
    db_path: Path
    exists: bool = False
    waiting: int = 0
    oldest_waiting_at: int | None = None
    last_synced_at: int | None = None
    held: list[HeldRow] = field(default_factory=list)
    journal: list[JournalEntry] = field(default_factory=list)
    error: str | None = None  # the database exists but cannot be read


@contextlib.contextmanager
def read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.text_factory = lambda value: value.decode("utf-8", "replace")
    try:
        yield conn
    finally:
        conn.close()


def held_rows_in(conn: sqlite3.Connection, local: LocalTable) -> list[HeldRow]:
    return [HeldRow(local.name, *tuple(row)) for row in conn.execute(local.table.held_rows_sql())]


def inspect_table(local: LocalTable) -> TableState:
    """Count waiting rows, find the oldest, list held-back rows and the unshipped journal."""
    table = local.table
    state = TableState(table.name, local.db_path)
    if not local.db_path.exists():
        return state
    state.exists = True
    try:
        with read_only(local.db_path) as conn:
            state.waiting, state.oldest_waiting_at = conn.execute(table.waiting_sql()).fetchone()
            state.last_synced_at = conn.execute(table.last_synced_sql()).fetchone()[0]
            state.held = held_rows_in(conn, local)
            state.journal = read_journal(conn, table.name)
    except sqlite3.Error as exc:
        state.error = f"cannot read {local.db_path}: {exc}"
    return state


def inspect_all(config: AgentConfig) -> dict[str, TableState]:
    return {local.name: inspect_table(local) for local in local_tables(config)}
