"""Running a desktop monitor inside a test and reading what it wrote, without fixed sleeps."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from host_agent.collectors.desktop.monitor import DesktopActivityMonitor
from host_agent.core.config import DesktopMonitorSection

from tests.support.waiting import eventually

T = TypeVar("T")

#: How long a monitor may take to close its session and stop.
STOP_TIMEOUT = 10


def settings(**values: Any) -> DesktopMonitorSection:
    """Monitor settings for tests: a short poll, idle detection off unless asked for."""
    values.setdefault("monitor_interval", 0.2)
    values.setdefault("idle_timeout_seconds", 0)
    return DesktopMonitorSection(**values)


def read_sessions(db_path: Path) -> list[dict[str, Any]]:
    """Every session row, oldest first (a connection of its own, as another process would)."""
    if not db_path.exists():
        return []
    conn = sqlite3.connect(db_path, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM desktop_activity_sessions ORDER BY id")]
    except sqlite3.OperationalError:
        return []  # the monitor has not created the table yet
    finally:
        conn.close()


def read_heartbeat(db_path: Path) -> int | None:
    conn = sqlite3.connect(db_path, timeout=5)
    try:
        row = conn.execute("SELECT value FROM agent_state WHERE key = 'desktop_monitor_heartbeat'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return int(row[0]) if row else None


def open_session(db_path: Path, application: str, title: str | None = None) -> dict[str, Any] | None:
    """The open session for ``application`` (and ``title`` when given), if there is one."""
    for row in read_sessions(db_path):
        if row["end_time"] is None and row["application_name"] == application:
            if title is None or row["window_title"] == title:
                return row
    return None


@asynccontextmanager
async def running(monitor: DesktopActivityMonitor) -> AsyncIterator[DesktopActivityMonitor]:
    """Run ``monitor`` for the duration of the block, then stop it and wait for it to finish."""
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop), name="desktop-monitor-under-test")
    try:
        yield monitor
    finally:
        stop.set()
        await asyncio.wait_for(task, STOP_TIMEOUT)


async def observations_after(monitor: DesktopActivityMonitor, count: int, timeout: float = 10.0) -> None:
    """Wait until the monitor has looked at the desktop ``count`` more times."""
    target = monitor.stats.observations + count
    await eventually(lambda: monitor.stats.observations >= target, timeout, f"{count} more observations")


class ControlledClock:
    """The system clocks, which the test can move on: both together (time passing without
    waiting for it) or the wall clock alone (as suspend/resume or a clock change does)."""

    def __init__(self) -> None:
        self.passed = 0.0
        self.wall_offset = 0.0

    def wall(self) -> float:
        return time.time() + self.passed + self.wall_offset

    def monotonic(self) -> float:
        return time.monotonic() + self.passed

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass at once, on both clocks."""
        self.passed += seconds

    def jump_wall(self, seconds: float) -> None:
        """Move the wall clock alone by ``seconds``."""
        self.wall_offset += seconds
