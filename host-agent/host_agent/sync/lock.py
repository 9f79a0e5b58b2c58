"""One sync at a time per local database, across processes."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any


class SyncLocks:
    """Exclusive ``flock`` on ``<db>.sync-lock`` for each store: one sync at a time per database,
    across processes (the agent's loop and ``reprospective-agent sync --once``). Waits, politely."""

    POLL_SECONDS = 0.1

    def __init__(self, db_paths: list[Path]) -> None:
        self.paths = [p.with_name(p.name + ".sync-lock") for p in sorted(db_paths)]
        self._files: list[Any] = []

    async def __aenter__(self) -> SyncLocks:
        try:
            for path in self.paths:
                handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
                self._files.append(handle)
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(self.POLL_SECONDS)
        except BaseException:
            self._release()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        for handle in self._files:
            handle.close()  # closing the descriptor releases its flock
        self._files = []
