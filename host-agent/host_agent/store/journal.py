"""The local journal of sync runs, shipped to PostgreSQL's ``sync_logs`` when it is reachable.

Every run that moved or failed rows is written here first, inside the database it describes.
While PostgreSQL is away the entries wait; consecutive failed runs with the same error are
folded into one entry with an attempt count, so a long outage is one line in ``sync_logs``,
not thousands (the first error message is kept). :func:`read_journal` is the one way to read
it, for the sync engine (to ship it) and for ``status`` (read-only).

A run that moves rows has its entry from its first committed batch on: each batch's marks and
the entry's counts change in the same SQLite transaction, so even a run killed midway leaves an
entry accounting for every row it marked. Such an entry (still ``running`` when the next run
starts) reaches ``sync_logs`` as an interrupted run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

from host_agent.store.sqlite_store import SQLiteStore


#: The status of the entry of a run still under way (or killed before it could finish).
RUNNING = "running"
INTERRUPTED = "run interrupted before it finished (the agent stopped or was killed)"


@dataclass
class RunProgress:
    """The journal entry of one run of one table, made by its first committed batch."""

    started_at: float
    entry_id: int | None = None


class RunResult(Protocol):
    table_name: str
    records_synced: int
    records_failed: int
    status: str
    error_message: str | None
    started_at: float
    completed_at: float


@dataclass(frozen=True)
class JournalEntry:
    """A sync run recorded locally and not yet written to PostgreSQL's ``sync_logs``."""

    id: int
    table_name: str
    started_at: float
    completed_at: float | None
    records_synced: int
    records_failed: int
    status: str
    error_message: str | None
    attempts: int

    @property
    def message(self) -> str | None:
        """The error message as ``sync_logs`` keeps it: folded attempts are counted."""
        if self.error_message and self.attempts > 1:
            return f"{self.error_message} ({self.attempts} attempts)"
        return self.error_message

    def sync_logs_values(self) -> tuple[Any, ...]:
        """``sync_logs`` columns in INSERT order, without ``host_identifier``."""
        status, message = self.status, self.message
        if status == RUNNING:  # its process died midway: what it marked, it did move
            status = "partial_success" if self.records_synced else "failed"
            message = INTERRUPTED
        return (
            self.started_at,
            self.completed_at,
            self.table_name,
            self.records_synced,
            self.records_failed,
            status,
            message,
        )


def read_journal(conn: sqlite3.Connection, table_name: str) -> list[JournalEntry]:
    rows = conn.execute(
        "SELECT id, table_name, sync_started_at, sync_completed_at, records_synced, records_failed, status, "
        "error_message, attempts FROM sync_journal WHERE table_name = ? ORDER BY id",
        (table_name,),
    ).fetchall()
    return [JournalEntry(*tuple(row)) for row in rows]


class SyncJournal:
    def __init__(self, store: SQLiteStore, table_name: str) -> None:
        self.store = store
        self.table_name = table_name

    def add_batch(self, conn: sqlite3.Connection, run: RunProgress, synced: int, held: int, now: float) -> None:
        """Count a committed batch into its run's entry, in the caller's (marking) transaction."""
        if run.entry_id is None:
            run.entry_id = conn.execute(
                "INSERT INTO sync_journal (table_name, sync_started_at, sync_completed_at, records_synced, "
                "records_failed, status) VALUES (?, ?, ?, ?, ?, ?)",
                (self.table_name, run.started_at, now, synced, held, RUNNING),
            ).lastrowid
            return
        conn.execute(
            "UPDATE sync_journal SET records_synced = records_synced + ?, records_failed = records_failed + ?, "
            "sync_completed_at = ? WHERE id = ?",
            (synced, held, now, run.entry_id),
        )

    def record(self, result: RunResult, run: RunProgress | None = None) -> None:
        """The run's final figures: into its entry, or a new one (folded into the last if both
        are failed runs that moved nothing)."""
        if run is not None and run.entry_id is not None:
            with self.store.atomic() as conn:
                conn.execute(
                    "UPDATE sync_journal SET sync_completed_at = ?, records_synced = ?, records_failed = ?, "
                    "status = ?, error_message = ? WHERE id = ?",
                    (
                        result.completed_at,
                        result.records_synced,
                        result.records_failed,
                        result.status,
                        result.error_message,
                        run.entry_id,
                    ),
                )
            return
        with self.store.atomic() as conn:
            last = conn.execute(
                "SELECT id, status, records_synced, error_message FROM sync_journal "
                "WHERE table_name = ? ORDER BY id DESC LIMIT 1",
                (self.table_name,),
            ).fetchone()
            repeat = (
                last is not None
                and result.status == "failed"
                and last["status"] == "failed"
                and last["records_synced"] == 0
                and result.records_synced == 0
            )
            if repeat:
                conn.execute(
                    "UPDATE sync_journal SET sync_completed_at = ?, records_failed = ?, attempts = attempts + 1 "
                    "WHERE id = ?",
                    (result.completed_at, result.records_failed, last["id"]),
                )
                return
            conn.execute(
                "INSERT INTO sync_journal (table_name, sync_started_at, sync_completed_at, records_synced, "
                "records_failed, status, error_message) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.table_name,
                    result.started_at,
                    result.completed_at,
                    result.records_synced,
                    result.records_failed,
                    result.status,
                    result.error_message,
                ),
            )

    def pending(self) -> list[JournalEntry]:
        with self.store.reading() as conn:
            return read_journal(conn, self.table_name)

    def forget(self, ids: list[int]) -> None:
        with self.store.atomic() as conn:
            conn.executemany("DELETE FROM sync_journal WHERE id = ?", [(i,) for i in ids])
