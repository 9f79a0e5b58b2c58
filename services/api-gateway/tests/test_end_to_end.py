"""End to end: a real agent records a real X window and a real file change, syncs them to
PostgreSQL, and the dashboard (uvicorn, headless Chromium) shows them, the hostile title as text.

Xvfb + openbox give the agent a display; ``xmessage`` is the window; inotify sees the file. The
agent is stopped with SIGTERM, which closes the open session and runs its last sync.
"""

from __future__ import annotations

import os
import shutil

import pytest

from agent_support import AGENT, X_TOOLS, AgentLog, XDisplay
from browser_support import CHROMIUM, segment_point
from conftest import eventually

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is installed by scripts/install-system-deps.sh"),
    pytest.mark.skipif(AGENT is None, reason="the agent (host-agent) is not installed"),
]
HOSTILE = "<img src=x onerror=alert(1)>"
TITLE = f"report {HOSTILE} draft"


@pytest.fixture
async def x_display():
    missing = [tool for tool in X_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/install-system-deps.sh (or make system-deps)",
                    pytrace=False)
    display = XDisplay()
    try:
        yield await display.start()
    finally:
        display.stop()


async def test_a_recorded_window_and_file_reach_the_dashboard_as_text(page, db, dashboard_db, x_display, tmp_path):
    watched = tmp_path / "project"
    watched.mkdir()
    await x_display.window(TITLE)
    agent = AgentLog(tmp_path, dashboard_db, display=x_display.display, monitored=(watched,))
    try:
        await agent.wait_for("desktop session 1 started:")
        await agent.wait_for(f"watching {watched}")
        changed = watched / "notes_e2e.py"
        changed.write_text("print('recorded')\n", encoding="utf-8")

        from host_agent.store.inspect import read_only  # the agent's own reader, read-only beside it

        def recorded() -> bool:
            with read_only(agent.data_dir / "file_changes.db") as conn:
                return bool(conn.execute("SELECT count(*) FROM file_change_events WHERE file_name = ?",
                                         ("notes_e2e.py",)).fetchone()[0])

        await eventually(recorded, 30, "the agent to record the file change")

        def seen_for_two_seconds() -> bool:
            # The monitor's heartbeat (whole seconds) two past the session's start: a session the
            # timeline draws, not one of zero length (those are left out of a day's lanes).
            with read_only(agent.data_dir / "desktop_activity.db") as conn:
                start = conn.execute("SELECT min(start_time) FROM desktop_activity_sessions").fetchone()[0]
                beat = conn.execute("SELECT value FROM agent_state WHERE key = 'desktop_monitor_heartbeat'").fetchone()
            return start is not None and beat is not None and int(beat[0]) >= start + 2

        await eventually(seen_for_two_seconds, 30, "two seconds of the window in the agent's heartbeat")
    finally:
        code = agent.stop()
    assert code == 0, agent.text()[-3000:]
    log = agent.text()
    assert "Traceback" not in log

    session = await db.fetchrow("SELECT application_name, window_title, end_time FROM desktop_activity_sessions")
    assert session is not None and session["window_title"] == TITLE and session["end_time"] is not None
    assert await db.fetchval("SELECT file_path FROM file_change_events WHERE file_name = 'notes_e2e.py'") == str(changed)

    p = page.page
    await p.goto("/sessions")
    titles = await p.locator("#results td.title").all_inner_texts()
    assert titles == [TITLE]
    assert session["application_name"] in await p.locator("#results").inner_text()

    await p.goto("/timeline")
    await p.locator("#timeline-chart canvas").first.wait_for()
    host = await db.fetchval("SELECT host_identifier FROM desktop_activity_sessions")
    await p.mouse.move(*await segment_point(p, host, session["application_name"]))
    tooltip = p.locator("#timeline-chart div", has_text=HOSTILE).last
    await tooltip.wait_for()
    assert TITLE in await tooltip.inner_text()
    assert await p.locator("img").count() == 0
    await p.click("text=Segments as a table")
    assert TITLE in await p.locator("#segments").inner_text()

    await p.goto("/files")
    assert str(changed) in await p.locator("#results").inner_text()

    await p.goto("/")
    await p.locator("#apps-chart canvas").first.wait_for()
    assert session["application_name"] in await p.locator("#apps").inner_text()
    for path in ("/sessions", "/timeline", "/files", "/"):
        await p.goto(path)
        assert await p.locator("img").count() == 0, f"{path} made an element of the title"
    # The page fixture fails the test on any console error, page error or dialog (an alert).
