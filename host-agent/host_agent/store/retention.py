"""Local retention: rows synced to PostgreSQL more than ``retention_days`` ago are deleted locally.

PostgreSQL keeps them; the local databases only need what is not synced yet, plus a margin.
A row whose ``synced_at`` is NULL (waiting, or held back) is never deleted, and neither is a
session still open (it will change again). Deletes run in small batches, each its own short
transaction, so a collector writing at the same time waits milliseconds at most.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from host_agent.core.errors import StoreError
from host_agent.store.sqlite_store import BUSY_TIMEOUT_MS, SQLiteStore
from host_agent.store.tables import SyncedTable

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400

def purge_synced(
    store: SQLiteStore | str | os.PathLike[str],
    table: SyncedTable,
    retention_days: int,
    batch_size: int = 1000,
    *,
    now: float | None = None,
) -> int:
    """Delete rows of ``table`` synced more than ``retention_days`` ago; returns how many.

    ``store`` is an open store (its connection and lock are used) or a database path (opened
    without migrations, for ``purge`` while no agent runs).
    ``retention_days`` 0 keeps everything.
    """
    if retention_days <= 0:
        return 0
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = int((time.time() if now is None else now) - retention_days * SECONDS_PER_DAY)
    sql = table.purge_sql()
    deleted = 0
    with _transactions(store) as atomic:
        while True:
            with atomic() as conn:
                count = conn.execute(sql, (cutoff, batch_size)).rowcount
            deleted += count
            if count < batch_size:
                break
    if deleted:
        log.info("retention: deleted %d %s rows synced more than %d days ago", deleted, table.name, retention_days)
    return deleted


def purge_stores(
    stores: Iterable[tuple[SyncedTable, SQLiteStore]],
    retention_days: int,
    batch_size: int = 1000,
    *,
    now: float | None = None,
) -> dict[str, int]:
    """Apply retention to open stores: for the sync engine, after a run. Keyed by table name."""
    return {table.name: purge_synced(store, table, retention_days, batch_size, now=now) for table, store in stores}


@contextlib.contextmanager
def _transactions(store: SQLiteStore | str | os.PathLike[str]) -> Iterator:
    if isinstance(store, SQLiteStore):
        yield store.atomic
        return
    path = Path(store)
    if not path.exists():
        raise StoreError(f"local database {path} does not exist")
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open local database {path}: {exc}") from exc

    @contextlib.contextmanager
    def atomic() -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    try:
        yield atomic
    except sqlite3.Error as exc:
        raise StoreError(f"retention on {path} failed: {exc}") from exc
    finally:
        conn.close()
