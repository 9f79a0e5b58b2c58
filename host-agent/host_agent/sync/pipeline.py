"""The batch pipeline of one table's run: each batch its own transaction, the stages overlapped.

While one connection commits a batch (the server flushes its WAL to disk), another copies the
next one, a worker thread reads the one after from SQLite, and another marks the last committed
one synced. A batch is marked only once PostgreSQL committed it; whatever happens, what did
commit is still marked (a batch committed but not marked is re-sent later, harmlessly).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from host_agent.store.journal import RunProgress
from host_agent.sync.table_sync import Batch, BatchOutcome, TableSync


@dataclass
class _Pending:
    """A batch written in a transaction whose commit is under way."""

    commit: asyncio.Task[None]
    outcome: BatchOutcome


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
        self._lanes: list[_Pending | None] = [None] * len(conns)
        self._marking: asyncio.Task[None] | None = None

    async def run(self, upto: int) -> None:
        """Send every waiting row with ``id <= upto``; raises what stopped it (after marking what committed)."""
        table = self.table
        read_ahead: asyncio.Task[Batch] | None = asyncio.create_task(
            asyncio.to_thread(table.read_batch, 0, self.batch_size, upto)
        )
        try:
            lane = 0
            while batch := await read_ahead:
                read_ahead = asyncio.create_task(asyncio.to_thread(table.read_batch, batch.last_id, self.batch_size, upto))
                await self._settle(lane)
                conn = self.conns[lane]
                transaction = conn.transaction()
                await transaction.start()
                try:
                    outcome = await table.write_in_transaction(conn, batch, self.timeout)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await transaction.rollback()
                    raise
                self._lanes[lane] = _Pending(asyncio.create_task(transaction.commit()), outcome)
                lane = (lane + 1) % len(self.conns)
            read_ahead = None
            for lane in range(len(self._lanes)):
                await self._settle(lane)
        finally:
            if read_ahead is not None:
                read_ahead.cancel()
                with contextlib.suppress(BaseException):
                    await read_ahead
            for lane in range(len(self._lanes)):  # after an error: what did commit is still marked
                with contextlib.suppress(Exception):
                    await self._settle(lane)
            if self._marking is not None:
                # Always let the marks of a committed batch land (the thread cannot be stopped anyway).
                try:
                    await asyncio.shield(self._marking)
                except Exception as exc:
                    self.mark_error = exc

    async def _settle(self, lane: int) -> None:
        """Wait for the lane's commit; once PostgreSQL has the batch, mark it (after the last marks)."""
        pending, self._lanes[lane] = self._lanes[lane], None
        if pending is None:
            return
        await pending.commit  # raises if the commit failed: then nothing is marked
        if self._marking is not None:
            await self._marking
        self._marking = asyncio.create_task(asyncio.to_thread(self.table.mark, pending.outcome, self.run_progress))
        self.committed(pending.outcome)
