"""The plan's ``DataSyncManager``: :class:`~host_agent.sync.manager.SyncManager` with the plan's
constructor (``postgres_url, sqlite_desktop_db_path, sqlite_file_events_db_path, batch_size,
sync_interval, max_retries``) and the plan's per-table method names.

The per-table methods are thin: each is one call into the generic routine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from host_agent.core.identity import host_identifier
from host_agent.store.tables import DESKTOP_ACTIVITY_SESSIONS, FILE_CHANGE_EVENTS, LocalTable
from host_agent.sync.manager import SyncManager
from host_agent.sync.result import TableResult
from host_agent.sync.table_sync import BatchOutcome, Row

__all__ = ["DataSyncManager"]


class DataSyncManager(SyncManager):
    """Syncs ``desktop_activity_sessions`` and ``file_change_events`` to PostgreSQL."""

    def __init__(
        self,
        postgres_url: str,
        sqlite_desktop_db_path: str | os.PathLike[str],
        sqlite_file_events_db_path: str | os.PathLike[str],
        batch_size: int = 5000,
        sync_interval: float = 300,
        max_retries: int = 5,
        **options: Any,
    ) -> None:
        tables = [
            LocalTable(DESKTOP_ACTIVITY_SESSIONS, Path(sqlite_desktop_db_path)),
            LocalTable(FILE_CHANGE_EVENTS, Path(sqlite_file_events_db_path)),
        ]
        super().__init__(
            postgres_url, tables, batch_size=batch_size, sync_interval=sync_interval, max_retries=max_retries, **options
        )

    # -- the plan's per-table steps --------------------------------------------------------

    async def _sync_desktop_activity(self) -> TableResult:
        return await self.sync_table(DESKTOP_ACTIVITY_SESSIONS.name)

    async def _sync_file_events(self) -> TableResult:
        return await self.sync_table(FILE_CHANGE_EVENTS.name)

    def _get_unsynced_desktop_records(self, after_id: int = 0, limit: int | None = None) -> list[Row]:
        return self._unsynced(DESKTOP_ACTIVITY_SESSIONS.name, after_id, limit)

    def _get_unsynced_file_records(self, after_id: int = 0, limit: int | None = None) -> list[Row]:
        return self._unsynced(FILE_CHANGE_EVENTS.name, after_id, limit)

    def _update_desktop_synced_flags(self, rows: list[Row]) -> None:
        self._tables[DESKTOP_ACTIVITY_SESSIONS.name].mark(BatchOutcome(synced=rows))

    def _update_file_synced_flags(self, rows: list[Row]) -> None:
        self._tables[FILE_CHANGE_EVENTS.name].mark(BatchOutcome(synced=rows))

    async def _log_sync_result(self, result: TableResult) -> None:
        await self._journal_result(result)

    @staticmethod
    def _get_host_identifier() -> str:
        return host_identifier()

    def _unsynced(self, name: str, after_id: int, limit: int | None) -> list[Row]:
        table = self._tables[name]
        return table.read_batch(after_id, limit or self.batch_size, table.last_id()).rows()
