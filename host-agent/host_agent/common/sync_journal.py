"""The local journal of sync runs, shipped to PostgreSQL's ``sync_logs`` when it is reachable.

Every run that moved or failed rows is written here first, inside the database it describes.
While PostgreSQL is away the entries wait; consecutive failed runs with the same error are
folded into one entry with an attempt count, so a long outage is one line in ``sync_logs``,
not thousands (the first error message is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from host_agent.common.sqlite_store import SQLiteStore


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
    id: int
    values: tuple[Any, ...]  # sync_logs columns, in INSERT order, without host_identifier


class SyncJournal:
    def __init__(self, store: SQLiteStore, table_name: str) -> None:
        self.store = store
        self.table_name = table_name

    def record(self, result: RunResult) -> None:
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
            rows = conn.execute(
                "SELECT * FROM sync_journal WHERE table_name = ? ORDER BY id", (self.table_name,)
            ).fetchall()
        entries = []
        for row in rows:
            message = row["error_message"]
            if message and row["attempts"] > 1:
                message = f"{message} ({row['attempts']} attempts)"
            values = (
                row["sync_started_at"],
                row["sync_completed_at"],
                row["table_name"],
                row["records_synced"],
                row["records_failed"],
                row["status"],
                message,
            )
            entries.append(JournalEntry(row["id"], values))
        return entries

    def forget(self, ids: list[int]) -> None:
        with self.store.atomic() as conn:
            conn.executemany("DELETE FROM sync_journal WHERE id = ?", [(i,) for i in ids])
