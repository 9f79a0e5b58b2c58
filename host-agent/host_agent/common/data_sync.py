"""``DataSyncManager``: moves waiting rows from the local SQLite stores into PostgreSQL.

Guarantees (see ``README.md``, "How sync works"):

- every row arrives exactly once in effect: rows carry ``(origin_id, local_id)``, PostgreSQL
  merges on that key, and SQLite marks rows only after PostgreSQL committed;
- the backlog streams batch by batch (bounded memory), each batch one transaction with COPY;
- PostgreSQL being away is never fatal: runs fail softly, are journaled locally, and the loop
  retries with exponential backoff and jitter;
- a row PostgreSQL refuses is held back with its reason and never blocks the others.

Only this module and :mod:`host_agent.common.table_sync` talk to PostgreSQL for data, and only
the loop here retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from reprospective_db import schema as pg_schema
from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase
from host_agent.common.pg_codecs import register_sync_codecs
from host_agent.common.retention import purge_stores
from reprospective_db.secrets import describe_url, redact
from host_agent.common.sqlite_store import SQLiteStore
from host_agent.common.sync_errors import ErrorKind, classify, describe
from host_agent.common.sync_journal import SyncJournal
from host_agent.common.sync_lock import SyncLocks
from host_agent.common.sync_result import TableResult
from host_agent.common.table_sync import DESKTOP_ACTIVITY_SESSIONS, FILE_CHANGE_EVENTS, BatchOutcome, Row, TableSync
from host_agent.errors import StoreError, SyncError

log = logging.getLogger(__name__)

#: asyncpg pool bounds: the plan's "at most 5 connections". min_size=0 means creating the pool
#: never connects, so PostgreSQL being down at start-up is not an error.
POOL_MAX_SIZE = 5
#: A pooled connection idle this long is closed (a server restart then costs no failed query).
POOL_IDLE_SECONDS = 60

ProgressCallback = Callable[[str, int, int], None]  # (table_name, rows done, rows waiting at start)


class DataSyncManager:
    """Syncs ``desktop_activity_sessions`` and ``file_change_events`` to PostgreSQL."""

    def __init__(
        self,
        postgres_url: str,
        sqlite_desktop_db_path: str | os.PathLike[str],
        sqlite_file_events_db_path: str | os.PathLike[str],
        batch_size: int = 5000,
        sync_interval: float = 300,
        max_retries: int = 5,
        *,
        retry_backoff_seconds: float = 30,
        connect_timeout: float = 10,
        statement_timeout: float = 300,
        host_identifier: str | None = None,
        upgrade_schema: bool = True,
        progress: ProgressCallback | None = None,
        retention_days: int = 0,
    ) -> None:
        if not postgres_url or not postgres_url.startswith(("postgresql://", "postgres://")):
            raise SyncError("postgres_url must be a postgresql:// URL")
        if batch_size < 1 or sync_interval <= 0 or max_retries < 0 or retry_backoff_seconds <= 0:
            raise SyncError("batch_size, sync_interval and retry_backoff_seconds must be positive, max_retries >= 0")
        self._url = postgres_url
        self.desktop_db_path = Path(sqlite_desktop_db_path)
        self.file_events_db_path = Path(sqlite_file_events_db_path)
        self.batch_size = batch_size
        self.sync_interval = sync_interval
        self.max_retries = max_retries
        self.retry_backoff_seconds = retry_backoff_seconds
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.host_identifier = host_identifier or self._get_host_identifier()
        self.upgrade_schema = upgrade_schema
        self.progress = progress
        self.retention_days = retention_days  # 0: keep synced rows locally forever

        self._pool: asyncpg.Pool | None = None
        self._schema_ready = False
        self._tables: dict[str, TableSync] = {}
        self._journals: dict[str, SyncJournal] = {}
        self._run_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.consecutive_failures = 0
        self.last_results: dict[str, TableResult] = {}

    @property
    def _open_stores(self) -> list[SQLiteStore]:
        return [table.store for table in self._tables.values()]

    @property
    def target(self) -> str:
        """The PostgreSQL URL without its password, for messages."""
        return describe_url(self._url)

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        """Open the local stores and the connection pool. PostgreSQL being down is not an error."""
        if self._tables:
            return
        desktop, files = await asyncio.gather(
            asyncio.to_thread(DesktopActivityDatabase, self.desktop_db_path),
            asyncio.to_thread(FileChangeDatabase, self.file_events_db_path),
        )
        for spec, store in ((DESKTOP_ACTIVITY_SESSIONS, desktop), (FILE_CHANGE_EVENTS, files)):
            self._tables[spec.name] = TableSync(spec, store, self.host_identifier)
            self._journals[spec.name] = SyncJournal(store, spec.name)
        self._pool = await asyncpg.create_pool(
            self._url,
            min_size=0,
            max_size=POOL_MAX_SIZE,
            timeout=self.connect_timeout,
            command_timeout=self.statement_timeout,
            max_inactive_connection_lifetime=POOL_IDLE_SECONDS,
            init=register_sync_codecs,
        )
        try:
            async with self._connection() as conn:
                await self._ensure_schema(conn)
            log.info("PostgreSQL reachable at %s", self.target)
        except Exception as exc:
            if classify(exc) is ErrorKind.FATAL:
                log.error("PostgreSQL at %s: %s", self.target, self._safe(describe(exc)))
            else:
                log.warning(
                    "PostgreSQL unreachable at %s (%s): rows stay in the local databases until it is back",
                    self.target,
                    self._safe(describe(exc)),
                )

    async def close(self) -> None:
        """Stop the loop, close the pool and the local stores."""
        await self.stop_sync_loop()
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=5)
            except (asyncio.TimeoutError, OSError, asyncpg.InterfaceError):
                self._pool.terminate()
            self._pool = None
        for store in self._open_stores:
            await asyncio.to_thread(store.close)
        self._tables = {}
        self._journals = {}

    # -- the loop ----------------------------------------------------------------------

    def start_sync_loop(self) -> asyncio.Task[None]:
        """Run :meth:`sync_all` every ``sync_interval`` seconds until :meth:`close`."""
        if self._loop_task is None or self._loop_task.done():
            self._stop.clear()
            self._loop_task = asyncio.create_task(self._sync_loop(), name="data-sync-loop")
        return self._loop_task

    async def stop_sync_loop(self) -> None:
        self._stop.set()
        task, self._loop_task = self._loop_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def request_sync(self) -> None:
        """Wake the loop: sync now rather than at the end of the interval."""
        self._wake.set()

    async def _sync_loop(self) -> None:
        retries = 0
        while not self._stop.is_set():
            try:
                results = await self.sync_all()
            except Exception:  # a bug, not an outage: keep the loop alive and say so once per run
                log.exception("sync run failed unexpectedly; retrying at the next interval")
                results = {}
            transient = any(r.transient_failure for r in results.values())
            if transient and retries < self.max_retries:
                retries += 1
                delay = self._backoff(retries)
                log.debug("sync: retry %d/%d in %.1f s", retries, self.max_retries, delay)
            else:
                if transient:
                    log.debug("sync: still failing after %d retries; next attempt in %.0f s", retries, self.sync_interval)
                retries = 0
                delay = self.sync_interval
            await self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """``retry_backoff_seconds * 2**(attempt-1)``, capped at the interval, with ±20 % jitter
        (so that many agents do not return at the same instant after an outage)."""
        base = min(self.retry_backoff_seconds * 2 ** (attempt - 1), self.sync_interval)
        return base * random.uniform(0.8, 1.2)

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        stop = asyncio.ensure_future(self._stop.wait())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({stop, wake}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wake.cancel()

    # -- one run -----------------------------------------------------------------------

    async def sync_all(self) -> dict[str, TableResult]:
        """Sync every table once, draining its backlog. Never raises for PostgreSQL being away."""
        if not self._tables:
            await self.initialize()
        async with self._run_lock, SyncLocks([s.db_path for s in self._open_stores]):
            results = {}
            for name in self._tables:
                results[name] = await self._sync_table(name)
            if self.retention_days:
                await self._apply_retention()
        self._note_outcome(results)
        self.last_results = results
        return results

    async def _sync_desktop_activity(self) -> TableResult:
        return await self._sync_table(DESKTOP_ACTIVITY_SESSIONS.name)

    async def _sync_file_events(self) -> TableResult:
        return await self._sync_table(FILE_CHANGE_EVENTS.name)

    async def _sync_table(self, name: str) -> TableResult:
        table = self._tables[name]
        result = TableResult(name, started_at=time.time())
        read_ahead: asyncio.Task[list[Row]] | None = None
        marking: asyncio.Task[None] | None = None
        try:
            waiting = await asyncio.to_thread(table.count_waiting) if self.progress else 0
            upto = await asyncio.to_thread(table.last_id)  # a run is bounded: later rows wait
            async with self._connection() as conn:
                await self._ensure_schema(conn)
                await self._ship_journal(name, conn)
                read_ahead = asyncio.create_task(asyncio.to_thread(table.read_batch, 0, self.batch_size, upto))
                while True:
                    rows = await read_ahead
                    read_ahead = None
                    if not rows:
                        break
                    # Read the next batch from SQLite while PostgreSQL writes this one.
                    read_ahead = asyncio.create_task(
                        asyncio.to_thread(table.read_batch, rows[-1][0], self.batch_size, upto)
                    )
                    outcome = await table.write_batch(conn, rows, self.statement_timeout)
                    # Committed: mark it in SQLite while PostgreSQL takes the next batch.
                    if marking is not None:
                        await marking
                    marking = asyncio.create_task(asyncio.to_thread(table.mark, outcome))
                    result.records_synced += len(outcome.synced)
                    result.records_failed += len(outcome.held)
                    for _row, reason in outcome.held:
                        result.held.append(self._safe(reason))
                        log.warning("sync: %s row held back: %s", name, result.held[-1])
                    if self.progress:
                        self.progress(name, result.records_synced + result.records_failed, waiting)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result.error_kind = classify(exc)
            result.error = self._safe(describe(exc))
            if result.error_kind is ErrorKind.FATAL:
                log.error("sync: %s failed: %s", name, result.error, exc_info=exc)
            # Rows that could not be synced in this run: those still waiting.
            with contextlib.suppress(Exception):
                result.records_failed += await asyncio.to_thread(table.count_waiting)
        finally:
            if read_ahead is not None:
                read_ahead.cancel()
                with contextlib.suppress(BaseException):
                    await read_ahead
            if marking is not None:
                # Always let the marks of a committed batch land (the thread cannot be stopped anyway).
                try:
                    await asyncio.shield(marking)
                except Exception as exc:  # the rows stay waiting and are re-sent, harmlessly
                    result.error_kind = result.error_kind or ErrorKind.FATAL
                    result.error = result.error or self._safe(f"marking synced rows failed: {describe(exc)}")
        result.finish(time.time())
        if result.worth_logging:
            await self._log_sync_result(result)
        return result

    async def _apply_retention(self) -> None:
        stores = {name: table.store for name, table in self._tables.items()}
        try:
            await asyncio.to_thread(purge_stores, stores, self.retention_days)
        except StoreError as exc:  # the rows are synced either way; retention tries again next run
            log.warning("retention: %s", exc)

    def _note_outcome(self, results: dict[str, TableResult]) -> None:
        """One INFO line per run that moved rows; outage lines are rate-limited to its start and end."""
        transient = [r for r in results.values() if r.transient_failure]
        if transient:
            self.consecutive_failures += 1
            if self.consecutive_failures == 1:
                log.warning(
                    "sync: PostgreSQL unreachable at %s (%s); rows stay local and will be retried",
                    self.target,
                    transient[0].error,
                )
            return
        if self.consecutive_failures:
            log.info("sync: PostgreSQL reachable again after %d failed runs", self.consecutive_failures)
            self.consecutive_failures = 0
        moved = [r for r in results.values() if r.records_synced or r.records_failed]
        if moved:
            log.info(
                "sync: %s",
                "; ".join(f"{r.table_name} {r.records_synced} synced, {r.records_failed} held back" for r in moved),
            )

    # -- the plan's per-table steps (thin: the logic lives in TableSync) --------------------

    def _get_unsynced_desktop_records(self, after_id: int = 0, limit: int | None = None) -> list[Row]:
        table = self._tables[DESKTOP_ACTIVITY_SESSIONS.name]
        return table.read_batch(after_id, limit or self.batch_size, table.last_id())

    def _get_unsynced_file_records(self, after_id: int = 0, limit: int | None = None) -> list[Row]:
        table = self._tables[FILE_CHANGE_EVENTS.name]
        return table.read_batch(after_id, limit or self.batch_size, table.last_id())

    def _update_desktop_synced_flags(self, rows: list[Row]) -> None:
        self._tables[DESKTOP_ACTIVITY_SESSIONS.name].mark(BatchOutcome(synced=rows))

    def _update_file_synced_flags(self, rows: list[Row]) -> None:
        self._tables[FILE_CHANGE_EVENTS.name].mark(BatchOutcome(synced=rows))

    async def _log_sync_result(self, result: TableResult) -> None:
        """Journal the run locally, then ship the journal to ``sync_logs`` if PostgreSQL is there."""
        await asyncio.to_thread(self._journals[result.table_name].record, result)
        if result.transient_failure:
            return
        try:
            async with self._connection() as conn:
                await self._ship_journal(result.table_name, conn)
        except Exception as exc:  # stays journaled; shipped by a later run
            log.debug("sync_logs not written yet (%s); kept in the local journal", self._safe(describe(exc)))

    async def _ship_journal(self, name: str, conn: asyncpg.Connection) -> None:
        journal = self._journals[name]
        entries = await asyncio.to_thread(journal.pending)
        if not entries:
            return
        await conn.executemany(
            "INSERT INTO sync_logs (sync_started_at, sync_completed_at, table_name, records_synced, "
            "records_failed, status, error_message, host_identifier) "
            "VALUES (to_timestamp($1), to_timestamp($2), $3, $4, $5, $6, $7, $8)",
            [(*entry.values, self.host_identifier) for entry in entries],
            timeout=self.statement_timeout,
        )
        await asyncio.to_thread(journal.forget, [entry.id for entry in entries])

    @staticmethod
    def _get_host_identifier() -> str:
        """``hostname_username``, as the plan defines it."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return f"{socket.gethostname()}_{user}"

    # -- PostgreSQL plumbing -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self):
        if self._pool is None:
            raise SyncError("the sync manager is not initialised")
        async with self._pool.acquire(timeout=self.connect_timeout) as conn:
            yield conn

    async def _ensure_schema(self, conn: asyncpg.Connection) -> None:
        if self._schema_ready or not self.upgrade_schema:
            return
        await pg_schema.upgrade_schema(conn)
        self._schema_ready = True

    def _safe(self, text: str) -> str:
        return redact(text, self._url)
