"""``SyncManager``: moves waiting rows from the local SQLite stores into PostgreSQL.

Guarantees (see ``README.md``, "How sync works"):

- every row arrives exactly once in effect: rows carry ``(origin_id, local_id)``, PostgreSQL
  merges on that key, and SQLite marks rows only after PostgreSQL committed;
- the backlog streams batch by batch (bounded memory), each batch one transaction with COPY;
- PostgreSQL being away is never fatal: runs fail softly, are journaled locally, and the loop
  retries with exponential backoff and jitter;
- a row PostgreSQL refuses is held back with its reason and never blocks the others.

It syncs whatever tables it is given (:class:`~host_agent.store.tables.LocalTable`: a table
description and its database file); the plan's ``DataSyncManager`` is this class with the plan's
constructor. Only this layer talks to PostgreSQL for rows, and only the loop here retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncpg
from reprospective_db import schema as pg_schema
from reprospective_db.connections import ASYNCPG_OPTIONS
from reprospective_db.secrets import describe_url, redact

from host_agent.core.errors import StoreError, SyncError
from host_agent.core import identity
from host_agent.core.identity import host_identifier as default_host_identifier
from host_agent.store.journal import RunProgress
from host_agent.store.retention import purge_stores
from host_agent.store.tables import LocalTable
from host_agent.sync.errors import ErrorKind, classify, describe, is_crowded
from host_agent.sync.hosts import HostRecord
from host_agent.sync.lock import SyncLocks
from host_agent.sync.result import TableResult
from host_agent.sync.pipeline import BatchPipeline
from host_agent.sync.table_sync import BatchOutcome, TableSync

log = logging.getLogger(__name__)

#: asyncpg pool bounds. A run uses two connections at most (the batch pipeline's two lanes), so
#: the pool holds no more: a fleet of N hosts syncing at once asks PostgreSQL for 2N at most.
#: min_size=0 means creating the pool never connects (PostgreSQL being down at start-up is not
#: an error), and no host keeps a connection open between runs.
POOL_MAX_SIZE = 2
#: A pooled connection idle this long is closed (a server restart then costs no failed query).
POOL_IDLE_SECONDS = 60

#: A host clock further than this from PostgreSQL's is worth a warning (and a line in status).
CLOCK_OFFSET_WARNING = 60.0
#: After a run is abandoned, how long it may take to notice before its connections are cut.
ABANDON_SECONDS = 5
#: How long a run waits for its second connection before going on with one.
SECOND_CONNECTION_TIMEOUT = 2.0
#: How long a run waits for a connection slot on a full server ("too many clients") before it
#: counts as an outage; the attempts in between start this far apart, doubling, with jitter.
SLOT_WAIT_SECONDS = 60.0
SLOT_RETRY_FIRST_SECONDS = 0.25
SLOT_RETRY_MAX_SECONDS = 5.0

ProgressCallback = Callable[[str, int, int], None]  # (table_name, rows done, rows waiting at start)


class SyncManager:
    """Syncs the given local tables to PostgreSQL, once (:meth:`sync_all`) or in a loop."""

    def __init__(
        self,
        postgres_url: str,
        tables: Sequence[LocalTable],
        *,
        batch_size: int = 5000,
        sync_interval: float = 300,
        max_retries: int = 5,
        retry_backoff_seconds: float = 30,
        connect_timeout: float = 10,
        statement_timeout: float = 60,
        run_timeout: float = 1800,
        host_identifier: str | None = None,
        upgrade_schema: bool = True,
        progress: ProgressCallback | None = None,
        retention_days: int = 0,
        data_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        slot_wait: float = SLOT_WAIT_SECONDS,
    ) -> None:
        if not postgres_url or not postgres_url.startswith(("postgresql://", "postgres://")):
            raise SyncError("postgres_url must be a postgresql:// URL")
        if batch_size < 1 or sync_interval <= 0 or max_retries < 0 or retry_backoff_seconds <= 0:
            raise SyncError("batch_size, sync_interval and retry_backoff_seconds must be positive, max_retries >= 0")
        if len({t.name for t in tables}) != len(tables):
            raise SyncError("each table may be given once")
        self._url = postgres_url
        self.local_tables = list(tables)
        self.batch_size = batch_size
        self.sync_interval = sync_interval
        self.max_retries = max_retries
        self.retry_backoff_seconds = retry_backoff_seconds
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.run_timeout = run_timeout
        self.host_identifier = host_identifier or default_host_identifier()
        self.upgrade_schema = upgrade_schema
        self.progress = progress
        self.retention_days = retention_days  # 0: keep synced rows locally forever
        #: Where this host's id is kept (core/identity.py); default: the first database's folder.
        self.data_dir = Path(data_dir) if data_dir else (Path(tables[0].db_path).parent if tables else None)
        self._clock = clock  # this host's clock, as compared with PostgreSQL's (a seam for tests)
        self.host: HostRecord | None = None
        self.slot_wait = slot_wait

        self._pool: asyncpg.Pool | None = None
        self._schema_ready = False
        self._tables: dict[str, TableSync] = {}
        self._run_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._fatal_logged: set[tuple[str, str]] = set()
        self._in_use: set[asyncpg.Connection] = set()
        self._crowded_logged = False  # "no free connection slot" said once per crowded spell
        self.consecutive_failures = 0
        self.last_results: dict[str, TableResult] = {}
        #: When the run in progress started (epoch seconds); None between runs.
        self.run_started_at: float | None = None
        #: This host's clock minus PostgreSQL's, measured at each run (round trip halved); None
        #: until a run reached the server. Rows keep the host's own times either way.
        self.clock_offset: float | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target} tables={[t.name for t in self.local_tables]}>"

    @property
    def target(self) -> str:
        """The PostgreSQL URL without its password, for messages."""
        return describe_url(self._url)

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        """Open the local stores and the connection pool. PostgreSQL being down is not an error."""
        if self._tables:
            return
        stores = await asyncio.gather(
            *(asyncio.to_thread(local.table.store, local.db_path) for local in self.local_tables)
        )
        for local, store in zip(self.local_tables, stores, strict=True):
            self._tables[local.name] = TableSync(local.table, store, self.host_identifier)
        if self.data_dir is not None:
            host_id = await asyncio.to_thread(identity.host_id, self.data_dir)
            self.host = HostRecord(host_id, self.host_identifier, redact=self._safe)
        self._pool = await asyncpg.create_pool(
            self._url,
            min_size=0,
            max_size=POOL_MAX_SIZE,
            timeout=self.connect_timeout,
            # Client-side timeouts (a cancel request past them), never a session SET: both hold
            # through a pooler.
            command_timeout=self.statement_timeout,
            max_inactive_connection_lifetime=POOL_IDLE_SECONDS,
            **ASYNCPG_OPTIONS,  # no named prepared statements: they do not hold through PgBouncer
        )
        try:
            async with self.connection() as conn:
                await self._ensure_schema(conn)
            log.info("PostgreSQL reachable at %s", self.target)
        except Exception as exc:
            if classify(exc) is ErrorKind.FATAL:
                log.error("PostgreSQL at %s: %s", self.target, self._safe(describe(exc)))
            elif is_crowded(exc):  # reachable, only full: many hosts at once
                self._note_crowded(exc)
            else:
                log.warning(
                    "PostgreSQL unreachable at %s (%s): rows stay in the local databases until it is back",
                    self.target,
                    self._safe(describe(exc)),
                )

    async def close(self) -> None:
        """Stop the loop, close the pool and the local stores."""
        try:
            await asyncio.wait_for(self.stop_sync_loop(), timeout=5)
        except asyncio.TimeoutError:  # a run stuck on a server that stopped answering
            self.terminate()
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=5)
            except (asyncio.TimeoutError, OSError, asyncpg.InterfaceError):
                self._pool.terminate()
            self._pool = None
        for table in self._tables.values():
            await asyncio.to_thread(table.store.close)
        self._tables = {}

    def terminate(self) -> None:
        """Close every connection at once, without waiting on the server (shutdown's last resort):
        whatever runs on them fails, and its rows stay queued locally."""
        if self._pool is not None:
            self._pool.terminate()

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
                delay = backoff_delay(retries, self.retry_backoff_seconds, self.sync_interval)
                log.debug("sync: retry %d/%d in %.1f s", retries, self.max_retries, delay)
            else:
                if transient:
                    log.debug("sync: still failing after %d retries; next attempt in %.0f s", retries, self.sync_interval)
                retries = 0
                delay = self.sync_interval
            await self._sleep(delay)

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
        async with self._run_lock, SyncLocks([t.store.db_path for t in self._tables.values()]):
            self.run_started_at = time.time()
            deadline = time.monotonic() + self.run_timeout
            try:
                await self._measure_clock()
                results = {}
                for name in self._tables:
                    results[name] = await self._sync_table_by(name, deadline)
                if self.retention_days:
                    await self._apply_retention()
                if self.host and results and all(r.status == "success" for r in results.values()):
                    await self._record_host_synced()
            finally:
                self.run_started_at = None
        self._note_outcome(results)
        self.last_results = results
        return results

    async def _sync_table_by(self, name: str, deadline: float) -> TableResult:
        """:meth:`sync_table`, abandoned at ``deadline`` (``run_timeout_seconds``): what it committed
        stays synced; the rest waits for the next run, as after an outage."""
        task = asyncio.create_task(self.sync_table(name), name=f"sync-{name}")
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        if done:
            return task.result()
        log.warning(
            "sync: %s: the run took longer than %.0f s (run_timeout_seconds); abandoned, the rest waits for the next run",
            name,
            self.run_timeout,
        )
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=ABANDON_SECONDS)
        if not done:  # stuck on a server that does not answer even a cancel: cut its connections
            for conn in list(self._in_use):
                conn.terminate()
        try:
            await task
        except BaseException as exc:  # cancelled or failed: either way this run is over for the table
            log.debug("sync: %s abandoned (%s)", name, type(exc).__name__)
        table = self._tables[name]
        result = TableResult(name, started_at=self.run_started_at or time.time(), error_kind=ErrorKind.TRANSIENT)
        result.error = f"run abandoned after {self.run_timeout:.0f} s (run_timeout_seconds)"
        with contextlib.suppress(Exception):
            result.records_left = await asyncio.to_thread(table.count_waiting)
        result.finish(time.time())
        await self._journal_result(result)
        return result

    async def sync_table(self, name: str) -> TableResult:
        """Sync one table's backlog (up to the newest row present when the run starts)."""
        table = self._tables[name]
        result = TableResult(name, started_at=time.time())
        run = RunProgress(result.started_at)
        try:
            await asyncio.to_thread(table.start_run)
            waiting = await asyncio.to_thread(table.count_waiting) if self.progress else 0
            upto = await asyncio.to_thread(table.last_id)  # a run is bounded: later rows wait
            async with self.connection(wait_for_slot=True) as conn, self._second_connection() as second:
                await self._ensure_schema(conn)
                await self._ship_journal(name, conn)
                await self._drain(table, [conn, second] if second else [conn], upto, result, run, waiting)
            self._fatal_logged = {key for key in self._fatal_logged if key[0] != name}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result.error_kind = classify(exc)
            result.error = self._safe(describe(exc))
            if result.error_kind is ErrorKind.FATAL:
                self._log_fatal(name, result.error, exc)
            with contextlib.suppress(Exception):
                result.records_left = await asyncio.to_thread(table.count_waiting)
        result.finish(time.time())
        if result.worth_logging:
            await self._journal_result(result, run)
        return result

    async def _drain(
        self,
        table: TableSync,
        conns: list[asyncpg.Connection],
        upto: int,
        result: TableResult,
        run: RunProgress,
        waiting: int,
    ) -> None:
        def committed(outcome: BatchOutcome) -> None:
            result.records_synced += len(outcome.synced)
            result.records_held += len(outcome.held)
            for _row, reason in outcome.held:
                result.held.append(self._safe(reason))
                log.warning("sync: %s row held back: %s", table.name, result.held[-1])
            if self.progress:
                self.progress(table.name, result.records_synced + result.records_held, waiting)

        pipeline = BatchPipeline(table, conns, self.batch_size, self.statement_timeout, run, committed)
        try:
            await pipeline.run(upto)
        finally:
            if pipeline.mark_error is not None:  # the rows stay waiting and are re-sent, harmlessly
                result.error_kind = result.error_kind or ErrorKind.FATAL
                result.error = result.error or self._safe(f"marking synced rows failed: {describe(pipeline.mark_error)}")
                log.error("sync: %s: %s", table.name, result.error)

    @contextlib.asynccontextmanager
    async def _second_connection(self):
        """A second connection for the pipeline, if the pool (and the server) has one to spare
        quickly; without it, batches simply take turns on one connection."""
        assert self._pool is not None
        try:
            conn = await self._pool.acquire(timeout=SECOND_CONNECTION_TIMEOUT)
        except Exception as exc:  # too many clients, a busy pool: not worth failing a run for
            log.debug("sync: one connection only (%s)", self._safe(describe(exc)))
            yield None
            return
        async with self._lent(conn):
            yield conn

    @contextlib.asynccontextmanager
    async def _lent(self, conn: asyncpg.Connection):
        """``conn``, taken from the pool, in use until the block ends (``terminate()`` closes
        connections in use outright), then given back."""
        assert self._pool is not None
        self._in_use.add(conn)
        try:
            yield conn
        finally:
            self._in_use.discard(conn)
            await self._pool.release(conn)

    async def _measure_clock(self) -> None:
        """Compare this host's clock with PostgreSQL's; a PostgreSQL that is away is the run's
        business, not this one's."""
        try:
            async with self.connection() as conn:
                sent = self._clock()
                server = await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8", timeout=self.connect_timeout)
                received = self._clock()
                if self.host is not None:  # on the same connection: this host, its origins, this offset
                    await self._ensure_schema(conn)
                    await self.host.register(conn, [t.origin_id for t in self._tables.values()],
                                             (sent + received) / 2 - server, self.statement_timeout)
        except Exception as exc:
            log.debug("clock not compared with PostgreSQL's (%s)", self._safe(describe(exc)))
            return
        offset = (sent + received) / 2 - server
        if abs(offset) > CLOCK_OFFSET_WARNING and (self.clock_offset is None or abs(self.clock_offset) <= CLOCK_OFFSET_WARNING):
            log.warning(
                "this host's clock is %.0f s %s PostgreSQL's: its rows may land in the wrong hour or day",
                abs(offset),
                "ahead of" if offset > 0 else "behind",
            )
        self.clock_offset = offset

    async def _record_host_synced(self) -> None:
        assert self.host is not None
        try:
            async with self.connection() as conn:
                await self.host.synced(conn, self.statement_timeout)
        except Exception as exc:  # PostgreSQL gone since the run ended: the next run says it again
            log.debug("hosts.last_sync_at not written (%s)", self._safe(describe(exc)))

    def _log_fatal(self, name: str, error: str, exc: BaseException) -> None:
        """A permanent error (a revoked grant, a read-only database) is logged in full once, then
        in one line per run until that table syncs again."""
        key = (name, error)
        if key in self._fatal_logged:
            log.error("sync: %s still failing: %s", name, error)
            return
        self._fatal_logged.add(key)
        log.error("sync: %s failed: %s", name, error, exc_info=exc)

    async def _apply_retention(self) -> None:
        stores = [(table.table, table.store) for table in self._tables.values()]
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
                waiting = sum(r.records_left for r in transient)
                log.warning(
                    "sync: PostgreSQL unreachable at %s (%s); %d rows stay local and will be retried",
                    self.target,
                    transient[0].error,
                    waiting,
                )
            return
        if self.consecutive_failures:
            log.info("sync: PostgreSQL reachable again after %d failed runs", self.consecutive_failures)
            self.consecutive_failures = 0
        moved = [r for r in results.values() if r.records_synced or r.records_held]
        if moved:
            log.info("sync: %s", "; ".join(r.summary() for r in moved))

    async def _journal_result(self, result: TableResult, run: RunProgress | None = None) -> None:
        """Journal the run locally, then ship the journal to ``sync_logs`` if PostgreSQL is there."""
        await asyncio.to_thread(self._tables[result.table_name].journal.record, result, run)
        if result.transient_failure:
            return
        try:
            async with self.connection() as conn:
                await self._ship_journal(result.table_name, conn)
        except Exception as exc:  # stays journaled; shipped by a later run
            log.debug("sync_logs not written yet (%s); kept in the local journal", self._safe(describe(exc)))

    async def _ship_journal(self, name: str, conn: asyncpg.Connection) -> None:
        journal = self._tables[name].journal
        entries = await asyncio.to_thread(journal.pending)
        if not entries:
            return
        await conn.executemany(
            "INSERT INTO sync_logs (sync_started_at, sync_completed_at, table_name, records_synced, "
            "records_failed, status, error_message, host_identifier) "
            "VALUES (to_timestamp($1), to_timestamp($2), $3, $4, $5, $6, $7, $8)",
            [(*entry.sync_logs_values(), self.host_identifier) for entry in entries],
            timeout=self.statement_timeout,
        )
        await asyncio.to_thread(journal.forget, [entry.id for entry in entries])

    # -- held-back rows --------------------------------------------------------------------

    def held_rows(self, name: str) -> list[tuple[int, int, str, int]]:
        """``(row id, revision, reason, held at)`` of the rows of ``name`` held back now."""
        return [tuple(row) for row in self._tables[name].held_rows()]

    def release_held(self, name: str | None = None) -> int:
        """Forget held-back marks (of one table, or all) so the next run tries those rows again."""
        return sum(t.release_held() for n, t in self._tables.items() if name in (None, n))

    # -- PostgreSQL plumbing -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connection(self, *, wait_for_slot: bool = False):
        """A connection from the sync's pool.

        ``wait_for_slot``: on a server with no free connection slot, wait for one (see
        :meth:`_acquire_waiting_for_slot`) instead of failing at once."""
        if self._pool is None:
            raise SyncError("the sync manager is not initialised")
        if wait_for_slot:
            conn = await self._acquire_waiting_for_slot()
        else:
            conn = await self._pool.acquire(timeout=self.connect_timeout)
        async with self._lent(conn):
            yield conn

    async def _acquire_waiting_for_slot(self) -> asyncpg.Connection:
        """A full server ("too many clients", "remaining connection slots are reserved") is many
        hosts syncing at once, not an outage: try again, further apart each time and with jitter
        (so that the hosts do not return together), for up to ``slot_wait`` seconds. One log line
        per crowded spell; past ``slot_wait`` the refusal is the run's error, an outage."""
        assert self._pool is not None
        deadline = time.monotonic() + self.slot_wait
        attempt = 0
        while True:
            try:
                conn = await self._pool.acquire(timeout=self.connect_timeout)
            except Exception as exc:
                left = deadline - time.monotonic()
                if not is_crowded(exc) or left <= 0:
                    raise
                attempt += 1
                self._note_crowded(exc)
                delay = backoff_delay(attempt, SLOT_RETRY_FIRST_SECONDS, SLOT_RETRY_MAX_SECONDS)
                await asyncio.sleep(min(delay, left))
                continue
            if attempt:
                log.debug("sync: connection slot found after %d attempts", attempt + 1)
            else:
                self._crowded_logged = False
            return conn

    def _note_crowded(self, exc: BaseException) -> None:
        if self._crowded_logged:
            return
        self._crowded_logged = True
        log.warning(
            "sync: PostgreSQL at %s has no free connection slot (%s); runs wait for one, up to %.0f s each",
            self.target,
            self._safe(describe(exc)),
            self.slot_wait,
        )

    async def _ensure_schema(self, conn: asyncpg.Connection) -> None:
        if self._schema_ready or not self.upgrade_schema:
            return
        await pg_schema.upgrade_schema(conn)
        self._schema_ready = True

    def _safe(self, text: str) -> str:
        return redact(text, self._url)


def backoff_delay(attempt: int, first: float, cap: float, jitter: Callable[[float, float], float] = random.uniform) -> float:
    """``first * 2**(attempt-1)``, capped at ``cap``, with ±20 % jitter (so that many agents do
    not return at the same instant after an outage)."""
    base = min(first * 2 ** (attempt - 1), cap)
    return base * jitter(0.8, 1.2)
