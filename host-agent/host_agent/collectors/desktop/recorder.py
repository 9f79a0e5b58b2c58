"""Writes the decisions of :mod:`host_agent.collectors.desktop.sessions` to ``desktop_activity.db``.

It holds the one open session and the heartbeat (the last time that session was known to be
current), and closes sessions an earlier run left open.
"""

from __future__ import annotations

import logging

from host_agent.collectors.desktop.sessions import Decision, OpenSession
from host_agent.store.desktop_activity import DesktopActivityDatabase

log = logging.getLogger(__name__)


class SessionRecorder:
    def __init__(self, database: DesktopActivityDatabase) -> None:
        self.database = database
        self.current: OpenSession | None = None

    def close_sessions_left_open(self) -> int:
        """Close sessions a crash or power loss left open, at the last heartbeat.

        A session never ends before its start, and never stretches to now: without a heartbeat
        (a database from before heartbeats existed) it ends at its start.
        """
        sessions = self.database.get_open_sessions()
        if not sessions:
            return 0
        heartbeat = self.database.last_heartbeat()
        for row in sessions:
            end = max(row["start_time"], heartbeat if heartbeat is not None else row["start_time"])
            self.database.end_session(row["id"], end)
            log.debug("desktop session %d (left open by an earlier run) closed at %d", row["id"], end)
        log.info(
            "closed %d desktop session(s) left open by an earlier run, at the last heartbeat (%s)",
            len(sessions),
            heartbeat if heartbeat is not None else "none: at their start",
        )
        return len(sessions)

    def apply(self, decision: Decision) -> None:
        """Record one decision: end the open session, start the next, or both."""
        ended = self.current
        if decision.end_at is not None and ended is not None:
            self.database.end_session(ended.id, decision.end_at)
            self.current = None
        started = None
        if decision.start is not None:
            assert decision.start_at is not None
            activity = decision.start
            session_id = self.database.start_session(activity.application, activity.title, decision.start_at)
            self.database.record_heartbeat(decision.start_at)
            started = self.current = OpenSession(session_id, activity, decision.start_at)
        if ended is not None or started is not None:
            log.debug("%s", _describe(decision, ended, started))

    def heartbeat(self, time: float) -> None:
        """Note that the open session is still current at ``time``."""
        if self.current is not None:
            self.database.record_heartbeat(max(self.current.start_time, int(time)))


def _describe(decision: Decision, ended: OpenSession | None, started: OpenSession | None) -> str:
    parts = []
    if ended is not None and decision.end_at is not None:
        duration = max(0, decision.end_at - ended.start_time)
        parts.append(f"desktop session {ended.id} ended after {duration} s ({decision.reason})")
    if started is not None:
        title = "no title" if started.activity.title is None else repr(started.activity.title)
        parts.append(f"desktop session {started.id} started: {started.activity.application}, {title}")
    return "; ".join(parts)
