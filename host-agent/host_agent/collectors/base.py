"""The collector contract: what a collector is, what it is given, and which collectors exist.

A collector turns outside events into local rows. The agent (the entry layer) builds one per
enabled entry of :data:`COLLECTORS`, importing its module only then (a missing optional
dependency disables that collector alone), runs ``run(stop)`` until ``stop`` is set, builds
and runs it again after :func:`restart_delay` when ``run`` fails, and answers ``status`` from
the same registry.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import Protocol

from host_agent.collectors.files.directories import DirectorySource
from host_agent.core.config import AgentConfig

#: How long collectors get to close their session and flush their buffer on shutdown.
COLLECTOR_STOP_TIMEOUT = 10

#: A collector that fails is built again and restarted: RESTART_FIRST_SECONDS after a first
#: failure (or one that came after RESTART_MAX_SECONDS or more of running), then after a pause
#: that doubles with each failure in a row, up to RESTART_MAX_SECONDS.
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 300.0


def restart_delay(failures_in_a_row: int) -> float:
    """How long to wait before restarting a collector that failed ``failures_in_a_row`` times."""
    if failures_in_a_row <= 1:
        return RESTART_FIRST_SECONDS
    return min(RESTART_FIRST_SECONDS * 2 ** min(failures_in_a_row - 1, 30), RESTART_MAX_SECONDS)


class Collector(Protocol):
    """A source of rows. ``run`` records until ``stop`` is set, then flushes and returns;
    ``figures`` are its counters for ``status`` (JSON-ready, read from the event loop)."""

    name: str

    async def run(self, stop: asyncio.Event) -> None: ...

    def figures(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class CollectorContext:
    """What a collector may use, all resolved by the entry layer: the validated config, the X
    display named by the environment, and where the watcher's directory list comes from."""

    config: AgentConfig
    display_name: str | None
    directories: DirectorySource


@dataclass(frozen=True)
class CollectorKind:
    """One collector: its config section (``<section>.enabled``) and the module whose
    ``create_collector(context)`` builds it."""

    section: str
    module: str

    @property
    def label(self) -> str:
        return self.section.replace("_", " ")

    def enabled(self, config: AgentConfig) -> bool:
        return getattr(config, self.section).enabled

    def create(self, context: CollectorContext) -> Collector:
        """Import the module (only now) and build the collector; ImportError when unavailable."""
        return importlib.import_module(self.module).create_collector(context)


COLLECTORS: tuple[CollectorKind, ...] = (
    CollectorKind("desktop_monitor", "host_agent.collectors.desktop.monitor"),
    CollectorKind("filesystem_watcher", "host_agent.collectors.files.watcher"),
)
