"""The agent process: wires the collectors and the sync loop, owns signals and shutdown order.

Start-up: lock the data folder → PostgreSQL (the embedded cluster, or the configured URL) →
collectors → sync manager (``initialize()``, ``start_sync_loop()``).
Shutdown (SIGINT/SIGTERM): collectors stop (sessions closed, buffers flushed) → one last sync →
pool closed → embedded PostgreSQL stopped if this process started it. Stopping the sync loop and
the last sync together get ``data_sync.final_sync_timeout_seconds``, whatever PostgreSQL does (a
server that stops answering included): past it, the sync's connections are closed at once and
the rows stay queued locally. A second signal does that at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator

from reprospective_db.cluster import EmbeddedPostgres
from reprospective_db.secrets import describe_url

from host_agent.collectors.base import (
    COLLECTOR_STOP_TIMEOUT,
    COLLECTORS,
    RESTART_MAX_SECONDS,
    Collector,
    CollectorContext,
    CollectorKind,
    restart_delay,
)
from host_agent.collectors.files.directories import directory_source_for
from host_agent.common.data_sync import DataSyncManager
from host_agent.core import identity
from host_agent.core.agent_lock import AgentLock
from host_agent.core.config import AgentConfig
from host_agent.core.errors import AgentError
from host_agent.ops.control import ControlServer
from host_agent.ops.postgres import embedded_cluster
from host_agent.sync.errors import ErrorKind, classify, describe

log = logging.getLogger(__name__)

#: After the sync's connections were closed, how long its task may take to notice.
ABANDON_SECONDS = 5


class Agent:
    def __init__(self, config: AgentConfig, *, environ: dict[str, str] | None = None) -> None:
        self.config = config
        self.environ = dict(os.environ if environ is None else environ)
        self.stop_requested = asyncio.Event()
        self.sync_manager: DataSyncManager | None = None
        self._signals = 0
        self._final_sync: asyncio.Task | None = None
        self._embedded: EmbeddedPostgres | None = None
        self._started_embedded = False
        self._collector_tasks: dict[str, asyncio.Task] = {}
        self._collectors: dict[str, Collector] = {}  # the collectors running now
        self._collector_failures: dict[str, dict] = {}  # the failed ones, until restarted
        self._control = ControlServer(self)  # the local "sync now" / status socket; no I/O until start()

    async def run(self) -> int:
        config = self.config
        asyncio.get_running_loop().set_exception_handler(_quiet_connection_losses)
        with AgentLock(config.data_dir), self._signal_handlers():
            log.info(
                "Reprospective agent starting: config %s; data folder %s",
                config.source or "built-in defaults (no config file)",
                config.data_dir,
            )
            log.info("local databases: %s, %s", config.desktop_db_path, config.file_events_db_path)
            try:
                if config.data_sync.enabled:  # an unreadable host id stops the agent before anything starts
                    await asyncio.to_thread(identity.host_id, config.data_dir)
                postgres_url = await self._resolve_postgres()
                # Collectors first: recording must not wait on a PostgreSQL that may be away.
                self._start_collectors(postgres_url)
                await self._start_sync(postgres_url)
                await self._control.start()
                await self.stop_requested.wait()
                await self._control.stop()  # no new requests while shutting down
                log.info("stopping: closing sessions and flushing buffers")
                await self._stop_collectors()
                await self._last_sync()
            finally:
                await self._control.stop()  # idempotent; covers a failed start-up
                if self.sync_manager is not None:
                    await self.sync_manager.close()
                if self._started_embedded and self._embedded is not None:
                    await asyncio.to_thread(self._embedded.stop)
            log.info("Reprospective agent stopped")
        return 0

    def collector_states(self) -> dict[str, dict | None]:
        """For each known collector: None when it does not run, else its figures."""
        states: dict[str, dict | None] = {}
        for kind in COLLECTORS:
            task = self._collector_tasks.get(kind.section)
            collector = self._collectors.get(kind.section)
            running = task is not None and not task.done() and collector is not None
            states[kind.section] = collector.figures() if running else None
        return states

    def collector_failures(self) -> dict[str, dict]:
        """The collectors waiting to be restarted after a failure: the error, when, how many in a row."""
        return {section: dict(failure) for section, failure in self._collector_failures.items()}

    async def _resolve_postgres(self) -> str | None:
        if not self.config.data_sync.enabled:
            log.info("data sync disabled (data_sync.enabled: false): rows stay local")
            return self.config.postgres_url
        if not self.config.uses_embedded_postgres:
            log.info("PostgreSQL: %s", describe_url(self.config.postgres_url or ""))
            return self.config.postgres_url
        self._embedded = embedded_cluster(self.config)
        log.info("PostgreSQL: embedded cluster in %s (set DATABASE_URL to use another server)", self._embedded.cluster_dir)
        self._started_embedded = await asyncio.to_thread(self._embedded.start)
        await asyncio.to_thread(self._embedded.ensure_database)
        return self._embedded.url()

    async def _start_sync(self, postgres_url: str | None) -> None:
        settings = self.config.data_sync
        if not settings.enabled or postgres_url is None:
            return
        self.sync_manager = DataSyncManager(
            postgres_url,
            self.config.desktop_db_path,
            self.config.file_events_db_path,
            batch_size=settings.batch_size,
            sync_interval=settings.interval_seconds,
            max_retries=settings.max_retries,
            retry_backoff_seconds=settings.retry_backoff_seconds,
            statement_timeout=settings.statement_timeout_seconds,
            run_timeout=settings.run_timeout_seconds,
            retention_days=settings.retention_days,
            host_identifier=self.config.host_identifier,
            data_dir=self.config.data_dir,
        )
        await self.sync_manager.initialize()
        self.sync_manager.start_sync_loop()
        log.info("sync loop started: every %.0f s, batches of %d rows", settings.interval_seconds, settings.batch_size)

    def _start_collectors(self, postgres_url: str | None) -> None:
        self._collector_stop = asyncio.Event()
        context = CollectorContext(
            config=self.config,
            display_name=self.environ.get("DISPLAY") or None,
            directories=directory_source_for(self.config, postgres_url),
        )
        for kind in COLLECTORS:
            if not kind.enabled(self.config):
                log.info("%s disabled (%s.enabled: false)", kind.label, kind.section)
                continue
            try:
                collector = kind.create(context)
            except ImportError as exc:
                log.warning("%s unavailable: %s", kind.label, exc)
                continue
            self._collectors[kind.section] = collector
            self._collector_tasks[kind.section] = asyncio.create_task(
                self._supervise(kind, context, collector), name=f"collector-{kind.section}"
            )

    async def _supervise(self, kind: CollectorKind, context: CollectorContext, collector: Collector) -> None:
        """Run a collector until the agent stops; when it fails, build it again and restart it."""
        loop = asyncio.get_running_loop()
        stop = self._collector_stop
        current: Collector | None = collector
        failures, last_error = 0, None
        while True:
            started = loop.time()
            try:
                if current is None:
                    current = kind.create(context)
                    self._collectors[kind.section] = current
                    self._collector_failures.pop(kind.section, None)
                await current.run(stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                current = None
                self._collectors.pop(kind.section, None)
                if loop.time() - started >= RESTART_MAX_SECONDS:  # it had run a good while: a new failure
                    failures, last_error = 0, None
                failures += 1
                last_error = self._collector_failed(kind, exc, failures, last_error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), restart_delay(failures))
            if stop.is_set():
                return

    def _collector_failed(self, kind: CollectorKind, exc: Exception, failures: int, last_error: str | None) -> str:
        """Log a collector's failure and keep it for ``status``; returns the error's description.

        A new error is logged once with what went wrong (a traceback only for an error the agent
        did not raise on purpose); the same error again is one short line.
        """
        error, delay = describe(exc), restart_delay(failures)
        if error != last_error:
            log.error(
                "%s stopped unexpectedly: %s; the rest of the agent goes on, restarting it in %.0f s",
                kind.label, error, delay, exc_info=None if isinstance(exc, AgentError) else exc,
            )  # fmt: skip
        else:
            log.warning("%s failed again (%d in a row); next try in %.0f s", kind.label, failures, delay)
        self._collector_failures[kind.section] = {"error": error, "failed_at": time.time(), "failures": failures}
        return error

    async def _stop_collectors(self) -> None:
        self._collector_stop.set()
        tasks = self._collector_tasks.values()
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=COLLECTOR_STOP_TIMEOUT)
        for task in pending:
            log.warning("%s did not stop within %d s; cancelled", task.get_name(), COLLECTOR_STOP_TIMEOUT)
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _last_sync(self) -> None:
        """Stop the loop and make one last sync, within ``final_sync_timeout_seconds`` in all."""
        manager = self.sync_manager
        timeout = self.config.data_sync.final_sync_timeout_seconds
        if manager is None or timeout <= 0:
            return  # closing the manager stops its loop, bounded too
        log.info("last sync before exit (at most %.0f s; press Ctrl-C again to skip)", timeout)
        self._final_sync = asyncio.create_task(self._stop_and_sync(manager), name="final-sync")
        done, _ = await asyncio.wait({self._final_sync}, timeout=timeout)
        if not done:
            if not self._final_sync.cancelled():
                log.warning("last sync did not finish in %.0f s; the remaining rows stay queued locally", timeout)
            await self._abandon_sync(manager)
        elif self._final_sync.cancelled():
            log.warning("last sync skipped; the remaining rows stay queued locally")
        self._final_sync = None

    async def _stop_and_sync(self, manager: DataSyncManager) -> None:
        await manager.stop_sync_loop()
        await manager.sync_all()

    async def _abandon_sync(self, manager: DataSyncManager) -> None:
        """Cut the sync off: its connections are closed at once, so nothing waits on the server."""
        assert self._final_sync is not None
        self._final_sync.cancel()
        manager.terminate()
        done, _ = await asyncio.wait({self._final_sync}, timeout=ABANDON_SECONDS)
        if not done:
            log.warning("the sync did not stop within %.0f s of its connections closing; exiting anyway", ABANDON_SECONDS)

    # -- signals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
                installed.append(signum)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        try:
            yield
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("received %s", signal.Signals(signum).name)
            self.stop_requested.set()
        elif self._final_sync is not None:
            log.info("received %s again: skipping the last sync", signal.Signals(signum).name)
            self._final_sync.cancel()
            if self.sync_manager is not None:
                self.sync_manager.terminate()

    def request_stop(self) -> None:
        self.stop_requested.set()


def _quiet_connection_losses(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A connection cut off under the driver (an outage, or shutdown closing a hung server's
    connections) can fail a background task of the driver's pool that nobody awaits. That is
    expected: one debug line, not a traceback. Anything else goes to asyncio's default handler."""
    exc = context.get("exception")
    if exc is not None and classify(exc) is ErrorKind.TRANSIENT:
        log.debug("a PostgreSQL connection was lost in the background: %s", describe(exc))
        return
    loop.default_exception_handler(context)
