"""The desktop monitor against a real X server (Xvfb + openbox), real windows and real SQLite."""

from __future__ import annotations

import time

import pytest

from host_agent.collectors.desktop_monitor import DesktopActivityMonitor
from host_agent.common.timeutil import iso_from_epoch
from tests.collectors.harness import eventually, open_session, read_sessions, running, settings

pytestmark = pytest.mark.x11


async def test_switching_focus_ends_one_session_and_starts_the_next(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    editor = windows("notes.txt - Editor", instance="gedit", klass="Gedit")
    memo = windows("メモ帳 — 日本語", instance="mousepad", klass="Mousepad")
    x_server.activate(editor)
    monitor = DesktopActivityMonitor(db, settings(), display_name=x_server.display)
    async with running(monitor):
        first = await eventually(lambda: open_session(db, "Gedit", "notes.txt - Editor"), what="the editor session")
        # Let the session last two seconds of wall time, polled many times meanwhile.
        await eventually(lambda: time.time() >= first["start_time"] + 2, what="two seconds to pass")
        before = time.time()
        x_server.activate(memo)
        after = time.time()
        second = await eventually(lambda: open_session(db, "Mousepad"), what="the memo session")
    rows = read_sessions(db)
    assert [(r["application_name"], r["window_title"]) for r in rows] == [
        ("Gedit", "notes.txt - Editor"),
        ("Mousepad", "メモ帳 — 日本語"),
    ]
    ended = rows[0]
    assert int(before) <= ended["end_time"] <= after + 1
    assert ended["duration_seconds"] == ended["end_time"] - ended["start_time"] >= 2
    assert ended["end_time_iso"] == iso_from_epoch(ended["end_time"])
    assert rows[1]["start_time"] == ended["end_time"] and rows[1]["id"] == second["id"]
    assert rows[1]["end_time"] is not None, "stopping the monitor closes the open session"
