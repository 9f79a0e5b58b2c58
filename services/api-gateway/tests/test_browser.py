"""The dashboard in real headless Chromium (Debian's, driven by Playwright 1.64.1).

One server and one browser for the module, a page per test; any console error or page error
fails the test.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from agent_support import AGENT, AgentLog
from browser_support import CHROMIUM, open_page, segment_point

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is installed by scripts/install-system-deps.sh"),
]
HOSTILE = "<img src=x onerror=alert(1)>"
TODAY = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0)


async def _session(db, start, minutes, app="Emacs", title="notes.org", host="laptop_me"):
    await db.execute(
        "INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, application_name, window_title, "
        "duration_seconds, host_identifier) VALUES ($1, $2, 'x', $3, $4, $5, $6)",
        start, start + timedelta(minutes=minutes), app, title, minutes * 60, host)


async def _seed_day(db):
    await _session(db, TODAY, 50, "Emacs", "api_gateway/app.py")
    await _session(db, TODAY + timedelta(hours=1), 30, "Firefox", HOSTILE)
    await _session(db, TODAY + timedelta(hours=2), 20, "Terminal", "make test", host="desk_you")
    await db.execute(
        "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, monitored_root, "
        "project_name, host_identifier) VALUES ($1, 'x', 'modified', $2, 'a.py', '/src', 'repro', 'laptop_me')",
        TODAY, "/src/repro/a.py")
    await db.execute("INSERT INTO sync_logs (sync_started_at, sync_completed_at, table_name, records_synced, status, "
                     "host_identifier) VALUES (now(), now(), 'desktop_activity_sessions', 3, 'success', 'laptop_me')")


async def test_overview_draws_its_charts_and_shows_the_day(page, db):
    await _seed_day(db)
    p = page.page
    await p.goto("/")
    await p.locator("#apps-chart canvas").first.wait_for()
    await p.locator("#heatmap canvas").first.wait_for()
    assert await p.locator("#total-active").inner_text() == "1 h 40 min"
    assert "Firefox" in await p.locator("#apps").inner_text()
    assert await p.locator("img").count() == 0


async def test_timeline_draws_lanes_and_its_tooltip_shows_a_hostile_title_as_text(page, db):
    await _seed_day(db)
    p = page.page
    await p.goto("/timeline")
    await p.locator("#timeline-chart canvas").first.wait_for()
    assert await p.locator("#timeline-legend li").all_inner_texts() == ["Terminal", "Emacs", "Firefox"]
    point = await segment_point(p, "laptop_me", "Firefox")
    await p.mouse.move(*point)
    tooltip = p.locator("#timeline-chart div", has_text=HOSTILE).last
    await tooltip.wait_for()
    assert "Firefox" in await tooltip.inner_text()
    assert await p.locator("img").count() == 0
    await p.mouse.click(*point)
    await p.wait_for_url("**/sessions?**")
    assert await p.locator("#results td.title").all_inner_texts() == [HOSTILE]


async def test_the_timeline_legend_shows_a_hostile_application_name_as_text(page, db):
    await _session(db, TODAY, 30, app=HOSTILE, title="x")
    p = page.page
    await p.goto("/timeline")
    await p.locator("#timeline-legend li").first.wait_for()
    assert await p.locator("#timeline-legend li").all_inner_texts() == [HOSTILE]
    assert await p.locator("img").count() == 0


async def test_clicking_a_run_of_short_sessions_opens_all_of_them_whatever_their_application(page, db):
    for i in range(12):  # 20 s each, back to back: one bar named for Firefox, which took most of the time
        await db.execute(
            "INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, application_name, "
            "window_title, duration_seconds, host_identifier) VALUES ($1, $2, 'x', $3, $4, 20, 'laptop_me')",
            TODAY + timedelta(seconds=20 * i), TODAY + timedelta(seconds=20 * i + 20),
            "Slack" if i % 3 == 0 else "Firefox", f"short {i}")
    p = page.page
    await p.goto("/timeline")
    await p.locator("#timeline-chart canvas").first.wait_for()
    point = await segment_point(p, "laptop_me", "Firefox")
    await p.mouse.move(*point)
    await p.locator("#timeline-chart div", has_text="12 short sessions").last.wait_for()
    await p.mouse.click(*point)
    await p.wait_for_url("**/sessions?**")
    titles = await p.locator("#results td.title").all_inner_texts()
    assert sorted(titles) == sorted(f"short {i}" for i in range(12))


async def test_sessions_search_filters_through_htmx_and_keeps_the_url(page, db):
    await _seed_day(db)
    p = page.page
    await p.goto("/sessions")
    assert await p.locator("#results tbody tr").count() == 3
    await p.fill("#q", "app.py")
    await p.click("form.filters button[type=submit]")
    await p.wait_for_url("**q=app.py**")
    await p.locator("#results tbody tr").first.wait_for()
    assert await p.locator("#results td.title").all_inner_texts() == ["api_gateway/app.py"]
    await p.fill("#q", "nothing like this")
    await p.click("form.filters button[type=submit]")
    await p.get_by_text("No sessions matching this search").wait_for()


async def test_navigation_reaches_every_page_and_the_hostile_title_stays_text(page, db):
    await _seed_day(db)
    p = page.page
    await p.goto("/")
    for name, heading in [("Timeline", "Timeline"), ("Sessions", "Sessions"), ("Files", "File changes"),
                          ("Sync", "Sync"), ("Directories", "Monitored directories"), ("Overview", None)]:
        await p.click(f"header nav >> text={name}")
        if heading:
            await p.locator("h1", has_text=heading).wait_for()
        assert await p.locator("img").count() == 0
    await p.goto("/sessions")
    assert HOSTILE in await p.locator("#results").inner_text()
    await p.goto("/files")
    assert "/src/repro/a.py" in await p.locator("#results").inner_text()
    await p.goto("/sync")
    assert "ok" in await p.locator("#sync-status").inner_text()
    await p.goto("/")
    await p.click("#prev")
    await p.locator("#apps-chart, .empty").first.wait_for()


async def test_a_directory_is_added_edited_toggled_and_deleted_through_the_forms(page, db):
    p = page.page
    await p.goto("/directories")
    await p.fill("#new-directory_path", "not/absolute")
    await p.click("#add-form button[type=submit]")
    await p.locator("#directory_path-error").wait_for()
    assert "absolute" in await p.locator("#directory_path-error").inner_text()
    # The refused form comes back as 422, which Chromium reports on the console; that one is expected.
    assert page.problems == ["console error: Failed to load resource: the server responded with a status of 422 "
                             "(Unprocessable Entity)"]
    page.problems.clear()
    await p.fill("#new-directory_path", "/home/me/src")
    await p.fill("#new-display_name", "code")
    await p.click("#add-form button[type=submit]")
    await p.locator("#done").wait_for()
    row = await db.fetchrow("SELECT id, enabled, host_identifier FROM monitored_directories")
    assert (row["enabled"], row["host_identifier"]) == (True, None)
    await p.click(f"#dir-{row['id']} details.edit summary")
    await p.fill(f"#edit-{row['id']}-host_identifier", "laptop_me")
    await p.click(f"#dir-{row['id']} .edit-form button[type=submit]")
    await p.get_by_text("Changes saved.").wait_for()
    assert await db.fetchval("SELECT host_identifier FROM monitored_directories") == "laptop_me"
    await p.click(f"#dir-{row['id']} button.toggle")
    await p.get_by_text("Directory switched.").wait_for()
    assert await db.fetchval("SELECT enabled FROM monitored_directories") is False
    await p.click(f"#dir-{row['id']} a.delete")
    await p.click("#confirm-delete")
    await p.get_by_text("Directory deleted.").wait_for()
    assert await db.fetchval("SELECT count(*) FROM monitored_directories") == 0


async def test_the_viewers_time_zone_comes_from_the_browser(browser, server, db):
    context, watched = await open_page(browser, server, tz="Asia/Tokyo")
    try:
        await watched.page.goto("/sessions")
        await watched.page.locator("#viewer-tz", has_text="Asia/Tokyo").wait_for()
    finally:
        await context.close()
    assert watched.problems == []


async def test_phone_width_and_dark_mode_are_usable(browser, server, db):
    await _seed_day(db)
    context, watched = await open_page(browser, server, width=390, height=844, scheme="dark")
    try:
        p = watched.page
        await p.goto("/sessions")
        assert await p.evaluate("document.documentElement.scrollWidth") <= 390
        background = await p.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(22, 24, 28)"
        await p.goto("/")
        await p.locator("#apps-chart canvas").first.wait_for()
    finally:
        await context.close()
    assert watched.problems == []


@pytest.mark.skipif(AGENT is None, reason="the agent (host-agent) is not installed")
async def test_directories_changed_through_the_forms_are_picked_up_by_a_running_agent(page, db, dashboard_db, tmp_path):
    for name in ("shared", "renamed", "elsewhere", "marker"):
        (tmp_path / name).mkdir()
    agent = AgentLog(tmp_path, dashboard_db)
    try:
        await agent.wait_for("monitored directories from PostgreSQL")
        p = page.page
        await p.goto("/directories")

        async def add(path, host=""):
            if not await p.locator("#add-form").is_visible():
                await p.click("text=Add a directory")
            await p.fill("#new-directory_path", str(path))
            await p.fill("#new-host_identifier", host)
            await p.click("#add-form button[type=submit]")
            await p.get_by_text("Directory added.").wait_for()
            return await db.fetchval("SELECT id FROM monitored_directories WHERE directory_path = $1", str(path))

        shared = await add(tmp_path / "shared")
        await agent.wait_for(f"watching {tmp_path / 'shared'}")
        await p.click(f"#dir-{shared} button.toggle")
        await agent.wait_for(f"stopped watching {tmp_path / 'shared'}")
        await p.click(f"#dir-{shared} button.toggle")
        await agent.wait_for(f"watching {tmp_path / 'shared'}", count=3)  # "stopped watching" holds it too
        await p.click(f"#dir-{shared} details.edit summary")
        await p.fill(f"#edit-{shared}-directory_path", str(tmp_path / "renamed"))
        await p.click(f"#dir-{shared} .edit-form button[type=submit]")
        await agent.wait_for(f"watching {tmp_path / 'renamed'}")
        await p.click(f"#dir-{shared} a.delete")
        await p.click("#confirm-delete")
        await agent.wait_for(f"stopped watching {tmp_path / 'renamed'}")
        # A directory for another host is not watched here; a shared one added after it is.
        await add(tmp_path / "elsewhere", host="another-host_someone")
        await p.goto("/directories")
        await add(tmp_path / "marker")
        await agent.wait_for(f"watching {tmp_path / 'marker'}")
        assert f"watching {tmp_path / 'elsewhere'}" not in agent.text()

        # End to end: a file written there is recorded, synced, and shown by the dashboard.
        (tmp_path / "marker" / "hello_dashboard.py").write_text("print('hi')\n", encoding="utf-8")
        await agent.sync_until(db, "SELECT count(*) FROM file_change_events WHERE file_name = 'hello_dashboard.py'")
        await p.goto("/files?q=hello_dashboard")
        assert str(tmp_path / "marker" / "hello_dashboard.py") in await p.locator("#results").inner_text()
    finally:
        agent.stop()
