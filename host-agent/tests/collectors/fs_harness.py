"""Running a filesystem watcher inside a test and reading what it wrote, without fixed sleeps."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from host_agent.collectors.files.watcher import FileSystemWatcher
from host_agent.collectors.files.directories import FROM_CONFIG, DirectoryList, DirectorySource
from host_agent.core.config import FilesystemWatcherSection

from tests.support.waiting import eventually

#: How long a watcher may take to flush and stop.
STOP_TIMEOUT = 15


class ListedDirectories:
    """A directory source the test edits while the watcher runs."""

    def __init__(self, directories: Iterable[Path]) -> None:
        self.directories = list(directories)
        self.loads = 0

    async def load(self) -> DirectoryList:
        self.loads += 1
        return DirectoryList(tuple(self.directories), FROM_CONFIG)


class RecordedLoads:
    """A directory source passing another's lists on, keeping the origin of each (what the watcher sees)."""

    def __init__(self, source: DirectorySource) -> None:
        self.source = source
        self.origins: list[str] = []

    async def load(self) -> DirectoryList:
        listed = await self.source.load()
        self.origins.append(listed.origin)
        return listed


def settings(directories: Iterable[Path] = (), **values: Any) -> FilesystemWatcherSection:
    """Watcher settings for tests: quick flushes and refreshes."""
    values.setdefault("buffer", {"max_events": 100, "flush_interval": 0.1})
    values.setdefault("refresh_interval_seconds", 0.2)
    return FilesystemWatcherSection(monitored_directories=list(directories), **values)


def read_events(db_path: Path) -> list[dict[str, Any]]:
    """Every file change row, oldest first (a connection of its own, as another process would)."""
    if not db_path.exists():
        return []
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM file_change_events ORDER BY id")]
    except sqlite3.OperationalError:  # the watcher has not created the table yet
        return []
    finally:
        conn.close()


async def wait_for_rows(db_path: Path, predicate: Callable[[list[dict]], bool], *, timeout: float = 10) -> list[dict]:
    result: list[dict] = []

    def check() -> bool:
        nonlocal result
        result = read_events(db_path)
        return predicate(result)

    try:
        await eventually(check, timeout=timeout, what="rows")
    except AssertionError:
        raise AssertionError(f"rows never matched; last seen: {[_short(r) for r in result][-20:]}") from None
    return result


def _short(row: dict) -> tuple:
    return row["event_type"], row["file_path_relative"], row["old_file_path"]


@asynccontextmanager
async def running_watcher(
    source: DirectorySource, data_dir: Path, watcher_settings: FilesystemWatcherSection
) -> AsyncIterator[FileSystemWatcher]:
    """A started watcher whose first directory list is applied; stopped (and flushed) on exit."""
    watcher = FileSystemWatcher(source, data_dir / "file_changes.db", watcher_settings, data_dir=data_dir)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        await eventually(lambda: watcher.lists_applied > 0 or task.done(), what="the first directory list")
        if task.done():
            task.result()
        yield watcher
    finally:
        stop.set()
        await asyncio.wait_for(task, STOP_TIMEOUT)


def of_type(rows: list[dict], event_type: str) -> list[dict]:
    return [r for r in rows if r["event_type"] == event_type]


def relative_paths(rows: list[dict], event_type: str | None = None) -> list[str]:
    return [r["file_path_relative"] for r in rows if event_type is None or r["event_type"] == event_type]
