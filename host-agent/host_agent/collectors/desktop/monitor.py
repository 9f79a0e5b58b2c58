"""The desktop activity monitor: which window is in front, recorded as sessions.

It talks to the display through a backend (:mod:`host_agent.collectors.desktop.backend`; X11
today). It runs in a thread of its own, because every backend call blocks; the asyncio loop (which also
runs the sync engine) only starts it and asks it to stop. The thread waits for PropertyNotify
events on the root window (focus changes) and on the active window (renames), so a switch is
recorded within milliseconds; it also looks every ``monitor_interval`` seconds, in case an
event was missed, and records a heartbeat then.

Without a display it logs one line ("desktop monitor disabled: ...") and tries again every
minute; when the X server goes away it ends the open session at the last moment it saw it and
reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from host_agent.collectors.base import CollectorContext
from host_agent.collectors.desktop.backend import (
    DesktopBackend,
    DisplayLost,
    DisplayUnavailable,
    InputState,
    create_backend,
)
from host_agent.collectors.desktop.recorder import SessionRecorder
from host_agent.collectors.desktop.sessions import Observation, Rules, clock_jumped, decide, end_after_jump, end_on_stop
from host_agent.core.config import DesktopMonitorSection
from host_agent.store.desktop_activity import DesktopActivityDatabase

log = logging.getLogger(__name__)

#: How often to try again when there is no display at all (the issue asks for once a minute).
RETRY_INTERVAL = 60.0

#: Reconnect delays after the X server went away: doubling from the first to the cap.
RECONNECT_BACKOFF = (1.0, 60.0)

#: While the user is away, how often to look for their return. The X server sends no event on
#: input to other clients, so it is polled; one look costs about 0.3 ms.
RESUME_POLL_SECONDS = 1.0

class Clock(Protocol):
    def wall(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class MonitorStats:
    """Counters the monitor keeps (read by tests and the benchmark)."""

    observations: int = 0
    connect_attempts: int = 0
    connections: int = 0
    displays_lost: int = 0
    clock_jumps: int = 0
    sessions_closed_at_start: int = 0


class DesktopActivityMonitor:
    """Records the active window's application and title in ``desktop_activity.db``."""

    name = "desktop monitor"

    def __init__(
        self,
        database_path: str | os.PathLike[str],
        settings: DesktopMonitorSection,
        *,
        display_name: str | None = None,
        backend: DesktopBackend | None = None,
        retry_interval: float = RETRY_INTERVAL,
        reconnect_backoff: tuple[float, float] = RECONNECT_BACKOFF,
        clock: Clock | None = None,
    ) -> None:
        self.database_path = Path(database_path)
        self.settings = settings
        self.display_name = display_name
        self.retry_interval = retry_interval
        self.reconnect_backoff = reconnect_backoff
        self.clock: Clock = clock or SystemClock()
        self.rules = Rules.build(settings.idle_timeout_seconds, settings.exclude_applications, settings.exclude_titles)
        self.stats = MonitorStats()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        # No connection until the monitor's thread opens it; the backend module is imported now.
        self._desktop = backend or create_backend(settings.backend, display_name)
        self._recorder: SessionRecorder | None = None
        self._previous_reading: tuple[float, float] | None = None
        self._last_seen: float | None = None
        self._next_poll = 0.0
        self._idle_check_at = float("inf")

    def figures(self) -> dict[str, int]:
        return {
            "observations": self.stats.observations,
            "displays_lost": self.stats.displays_lost,
            "clock_jumps": self.stats.clock_jumps,
        }

    # -- the asyncio side --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Record until ``stop`` is set; then close the open session and return."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        self._wake_r, self._wake_w = os.pipe()

        def report(exc: BaseException | None) -> None:
            if finished.done():
                return
            if exc is None:
                finished.set_result(None)
            else:
                finished.set_exception(exc)

        def target() -> None:
            outcome: BaseException | None = None
            try:
                self._thread_main()
            except BaseException as exc:  # handed to the asyncio side, which raises it
                outcome = exc
            loop.call_soon_threadsafe(report, outcome)

        thread = threading.Thread(target=target, name="desktop-monitor")
        thread.start()
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiter, finished}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            self._request_stop()
            try:
                await asyncio.shield(finished)
            finally:
                if finished.done():
                    thread.join()
                    os.close(self._wake_r)
                    os.close(self._wake_w)

    def _request_stop(self) -> None:
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # the pipe is full: the thread has a wake-up waiting already

    # -- the monitor thread -------------------------------------------------------------------

    def _thread_main(self) -> None:
        database = DesktopActivityDatabase(self.database_path)
        self._recorder = SessionRecorder(database)
        try:
            self.stats.sessions_closed_at_start = self._recorder.close_sessions_left_open()
            self._loop()
        finally:
            try:
                current = self._recorder.current
                self._recorder.apply(end_on_stop(current, self.clock.wall(), "monitor stopped"))
            finally:
                self._desktop.close()
                database.close()

    def _loop(self) -> None:
        outage_logged = False
        ever_connected = False
        delay = self.reconnect_backoff[0]
        while not self._stopping.is_set():
            if not self._desktop.connected:
                self.stats.connect_attempts += 1
                try:
                    self._desktop.open()
                except DisplayUnavailable as exc:
                    if not outage_logged:
                        log.warning(
                            "desktop monitor disabled: %s; the rest of the agent runs; retrying every %g s",
                            exc,
                            self.retry_interval,
                        )
                        outage_logged = True
                    self._stopping.wait(delay if ever_connected else self.retry_interval)
                    delay = min(delay * 2, self.reconnect_backoff[1])
                    continue
                self.stats.connections += 1
                log.info("desktop monitor: connected to %s", self._desktop.label)
                ever_connected, outage_logged, delay = True, False, self.reconnect_backoff[0]
                self._previous_reading = None
                self._next_poll = self.clock.monotonic()
            try:
                self._step()
            except DisplayLost as exc:
                self._on_display_lost(exc)
                outage_logged = True  # the line above is the one line for this outage

    def _step(self) -> None:
        """Look at the desktop once, record the outcome, then wait for a change or the next look."""
        now = self.clock.monotonic()
        polled = now >= self._next_poll
        if polled:
            self._next_poll = now + self.settings.monitor_interval
        self._observe(heartbeat=polled)
        wake_at = min(self._next_poll, self._idle_check_at)
        while not self._stopping.is_set():
            remaining = wake_at - self.clock.monotonic()
            if remaining <= 0:
                return
            if self._desktop.wait_for_change(remaining, self._wake_r):
                return

    def _observe(self, *, heartbeat: bool) -> None:
        assert self._recorder is not None
        window = self._desktop.active_window()
        state = self._desktop.input_state()
        wall, mono = self.clock.wall(), self.clock.monotonic()
        self.stats.observations += 1
        recorder = self._recorder
        if clock_jumped(self._previous_reading, (wall, mono)):
            assert self._previous_reading is not None
            self.stats.clock_jumps += 1
            log.info(
                "wall clock jumped by %+.0f s (suspend or clock change); the open session ends before the jump",
                (wall - self._previous_reading[0]) - (mono - self._previous_reading[1]),
            )
            recorder.apply(end_after_jump(recorder.current, self._previous_reading[0]))
        self._previous_reading = (wall, mono)
        self._last_seen = wall
        self._idle_check_at = self._next_idle_check(state, mono)
        observation = Observation(
            time=wall,
            application=window.application if window is not None else None,
            title=window.title if window is not None else None,
            idle_seconds=state.idle_seconds if state is not None else None,
            screen_saver_on=state.screen_saver_on if state is not None else False,
        )
        decision = decide(recorder.current, observation, self.rules)
        if decision.changes_anything:
            recorder.apply(decision)
        elif heartbeat:
            recorder.heartbeat(wall)

    def _next_idle_check(self, state: InputState | None, mono: float) -> float:
        """When to look again for the idle rules: the user's return, or the idle timeout passing."""
        timeout = self.rules.idle_timeout_seconds
        if state is None or (not timeout and not state.screen_saver_on):
            return float("inf")
        if state.screen_saver_on or state.idle_seconds >= timeout:
            return mono + min(RESUME_POLL_SECONDS, self.settings.monitor_interval)
        # A little after the moment the timeout would pass, so the idle counter has reached it.
        return mono + (timeout - state.idle_seconds) + 0.05

    def _on_display_lost(self, exc: DisplayLost) -> None:
        assert self._recorder is not None
        self.stats.displays_lost += 1
        last_seen = self._last_seen if self._last_seen is not None else self.clock.wall()
        had_session = self._recorder.current is not None
        self._recorder.apply(end_on_stop(self._recorder.current, last_seen, "display lost"))
        log.warning(
            "desktop monitor: %s;%s reconnecting with backoff",
            exc,
            " the open session ended at the last moment it was seen;" if had_session else "",
        )
        self._last_seen = None


def create_collector(context: CollectorContext) -> DesktopActivityMonitor:
    """The agent's hook: a monitor on the agent's display writing to the configured desktop database."""
    config = context.config
    return DesktopActivityMonitor(config.desktop_db_path, config.desktop_monitor, display_name=context.display_name)
