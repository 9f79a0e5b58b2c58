"""The batch pipeline of one table's run: each batch its own transaction, the stages overlapped.

Each connection (lane) writes and commits one batch at a time, and the lanes work at once: while
one server process parses a batch's COPY text and updates the indexes, the other parses the
next (or flushes its commit to disk), so the server works on two cores where a single ``COPY``
uses one. Meanwhile a worker thread reads the next batch from SQLite, and another marks the
last committed one synced. Batches hold disjoint ids, so the lanes never wait for each other's
rows. A batch is marked only once PostgreSQL committed it; whatever happens, what did commit is
still marked (a batch committed but not marked is re-sent later, harmlessly).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg

from host_agent.store.journal import RunProgress
from host_agent.sync.table_sync import Batch, BatchOutcome, TableSync


class BatchPipeline:
    def __init__(
        self,
        table: TableSync,
        conns: list[asyncpg.Connection],
        batch_size: int,
        timeout: float,
        run: RunProgress,
        committed: Callable[[BatchOutcome], None],
    ) -> None:
        self.table = table
        self.conns = conns
        self.batch_size = batch_size
        self.timeout = timeout
        self.run_progress = run
        self.committed = committed  # told of each batch once PostgreSQL committed it
        self.mark_error: BaseException | None = None
        self._lanes: list[asyncio.Task[BatchOutcome] | None] = [None] * len(conns)
        self._marking: asyncio.Task[None] | None = None
        self._sqlite: ThreadPoolExecutor | None = None

    def _in_thread(self, function: Callable[..., Any], *args: Any) -> asyncio.Task[Any]:
        """Run SQLite work on the run's one worker thread. The store serialises its work anyway,
        and one thread keeps one malloc arena: memory freed by one batch's read is reused by the
        next, instead of each of the default pool's threads keeping a batch-sized heap."""
        assert self._sqlite is not None
        future = asyncio.get_running_loop().run_in_executor(self._sqlite, functools.partial(function, *args))
        return asyncio.ensure_future(future)

    async def run(self, upto: int) -> None:
        """Send every waiting row with ``id <= upto``; raises what stopped it (after marking what committed)."""
        table = self.table
        self._sqlite = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sync-{table.name}")
        read_ahead: asyncio.Task[Batch] | None = self._in_thread(table.read_batch, 0, self.batch_size, upto)
        try:
            lane = 0
            while batch := await read_ahead:
                read_ahead = self._in_thread(table.read_batch, batch.last_id, self.batch_size, upto)
                await self._settle(lane)
                self._lanes[lane] = asyncio.create_task(self._write(self.conns[lane], batch))
                lane = (lane + 1) % len(self.conns)
            read_ahead = None
            for lane in range(len(self._lanes)):
                await self._settle(lane)
        except asyncio.CancelledError:
            # Stopped: a batch still being written is abandoned (rolled back, or committed and
            # re-sent later, harmlessly); a batch that committed is still marked below.
            for task in self._lanes:
                if task is not None and not task.done():
                    task.cancel()
            raise
        finally:
            if read_ahead is not None:
                read_ahead.cancel()
                with contextlib.suppress(BaseException):
                    await read_ahead
            for lane in range(len(self._lanes)):  # after an error: what did commit is still marked
                with contextlib.suppress(BaseException):
                    await self._settle(lane)
            if self._marking is not None:
                # Always let the marks of a committed batch land (the thread cannot be stopped anyway).
                try:
                    await asyncio.shield(self._marking)
                except Exception as exc:
                    self.mark_error = exc
            self._sqlite.shutdown(wait=False)

    async def _write(self, conn: asyncpg.Connection, batch: Batch) -> BatchOutcome:
        """Write ``batch`` in a transaction of its own on ``conn`` and commit it."""
        transaction = conn.transaction()
        await transaction.start()
        try:
            outcome = await self.table.write_in_transaction(conn, batch, self.timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await transaction.rollback()
            raise
        await transaction.commit()
        return outcome

    async def _settle(self, lane: int) -> None:
        """Wait for the lane's batch to commit; then mark it synced (after the last marks)."""
        pending, self._lanes[lane] = self._lanes[lane], None
        if pending is None:
            return
        outcome = await pending  # raises if the write or the commit failed: then nothing is marked
        if self._marking is not None:
            await self._marking
        self._marking = self._in_thread(self.table.mark, outcome, self.run_progress)
        self.committed(outcome)
