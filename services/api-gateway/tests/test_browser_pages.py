"""Every page in real Chromium: empty states that say what to do, and a layout that holds at
1280 px and at phone width (390 px), light and dark."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from browser_support import CHROMIUM, open_page
from conftest import Seeder

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is installed by scripts/install-system-deps.sh"),
]
TODAY = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0)
PAGES = ["/", "/timeline", "/sessions", "/files", "/sync", "/directories"]
NO_DATA_HINT = "is the agent running? reprospective-agent status"
BACKGROUND = {"light": "rgb(247, 247, 248)", "dark": "rgb(22, 24, 28)"}
TEXT = {"light": "rgb(29, 31, 35)", "dark": "rgb(230, 232, 235)"}


async def seed_day(db) -> None:
    seed = Seeder(db)
    await seed.session(TODAY, TODAY + timedelta(minutes=50), app="Emacs", title="api_gateway/app.py " + "x" * 200)
    await seed.session(TODAY + timedelta(hours=1), TODAY + timedelta(hours=2), app="Firefox", title="docs")
    await seed.session(TODAY + timedelta(hours=3), TODAY + timedelta(hours=4), app="Terminal", title="make",
                       host="a-rather-long-desktop-hostname_someone")
    await seed.file_event(TODAY, "/home/me/src/repro/" + "deeply/nested/" * 12 + "module.py")
    await seed.sync_log(datetime.now(timezone.utc) - timedelta(minutes=1))
    await seed.sync_log(datetime.now(timezone.utc) - timedelta(minutes=30), status="failed", rows=0, failed=3,
                        error="PostgreSQL away: connection refused by db.example:5432 " + "(retrying) " * 20)
    await db.execute("INSERT INTO monitored_directories (directory_path, display_name, description, created_by) "
                     "VALUES ($1, 'code', $2, 'admin')", "/home/me/src/" + "very-long-directory-name-" * 6,
                     "everything I write " * 10)


async def test_a_day_with_file_changes_and_no_sessions_says_what_to_do_instead_of_an_empty_chart(page, db):
    await Seeder(db).file_event(TODAY, "/home/me/src/repro/a.py")
    p = page.page
    await p.goto("/")
    empty = p.locator("#apps-empty")
    assert "No data for this day — is the agent running? reprospective-agent status" in await empty.inner_text()
    assert await p.locator("#apps-chart").count() == 0, "no axis drawn around nothing"
    assert "repro" in await p.locator("#projects").inner_text()
    assert NO_DATA_HINT in await p.locator("#heatmap-empty").inner_text()
    assert await p.locator("#heatmap").count() == 0
    await p.click("a:has-text('Week')")
    await p.wait_for_url("**period=week**")
    assert "No data for this week" in await p.locator("#apps-empty").inner_text()
    await p.goto("/timeline")
    assert "No sessions for this day" in await p.locator(".empty").inner_text()
    assert await p.locator("#timeline-chart").count() == 0
    await p.goto("/sessions")
    assert "No sessions matching this search" in await p.locator("#results .empty").inner_text()


async def test_a_day_with_sessions_and_no_file_changes_says_so_in_the_files_panel(page, db):
    await Seeder(db).session(TODAY, TODAY + timedelta(minutes=20))
    p = page.page
    await p.goto("/")
    await p.locator("#apps-chart canvas").first.wait_for()
    assert "No file changes this day — is the agent running?" in await p.locator("#projects-empty").inner_text()
    await p.goto("/files")
    assert "No file changes matching this search" in await p.locator("#results .empty").inner_text()


@pytest.mark.parametrize("path, text", [
    ("/", "No activity for this day"), ("/timeline", "No sessions for this day"),
    ("/sessions", "No sessions matching this search"), ("/files", "No file changes matching this search"),
    ("/sync", "No host has synced yet"), ("/directories", "No directory is monitored yet"),
])
async def test_every_page_of_an_empty_database_says_what_to_do(page, db, path, text):
    p = page.page
    await p.goto(path)
    message = p.locator(".empty")
    assert text in await message.inner_text()
    assert await message.is_visible()
    assert await p.locator("canvas").count() == 0


async def check_layout(p, path: str, width: int, scheme: str) -> list[str]:
    """What a user would notice on ``path``: a body that scrolls sideways, nav links out of
    reach, colours that do not follow the scheme, a chart that did not draw."""
    problems = []
    await p.goto(path)
    if await p.locator(".chart").count():
        await p.locator(".chart canvas").first.wait_for()
    scroll = await p.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    if scroll > width:
        wide = await p.evaluate(f"""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > {width} && !e.closest('.card'))
            .slice(0, 3).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
        problems.append(f"{path} at {width}px scrolls sideways ({scroll}px): {wide}")
    for link in await p.locator("header nav a").all():
        box = await link.bounding_box()
        if not await link.is_visible() or box is None or box["x"] < 0 or box["x"] + box["width"] > width:
            problems.append(f"{path} at {width}px: nav link {await link.inner_text()!r} out of reach ({box})")
    colours = await p.evaluate("""() => [getComputedStyle(document.body).backgroundColor,
                                        getComputedStyle(document.querySelector('h1')).color]""")
    if colours != [BACKGROUND[scheme], TEXT[scheme]]:
        problems.append(f"{path} in {scheme}: background and text {colours}")
    for field in await p.locator("main input:visible, main select:visible").all():
        background = await field.evaluate("e => getComputedStyle(e).backgroundColor")
        if (scheme == "dark") != (background == "rgb(38, 42, 49)"):
            problems.append(f"{path} in {scheme}: a form field's background is {background}")
            break
    return problems


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_page_fits_its_width_keeps_its_nav_and_follows_the_colour_scheme(browser, server, db, width,
                                                                                     height, scheme):
    await seed_day(db)
    context, watched = await open_page(browser, server, width=width, height=height, scheme=scheme)
    problems = []
    try:
        for path in PAGES:
            problems += await check_layout(watched.page, path, width, scheme)
        await watched.page.goto("/")
        await watched.page.click("header nav >> text=Directories")
        await watched.page.locator("h1", has_text="Monitored directories").wait_for()
    finally:
        await context.close()
    assert problems == []
    assert watched.problems == []


@pytest.mark.parametrize("path, label", [("/sessions", "Duration: "), ("/sync", "Rows today: "),
                                         ("/files", "Project: "), ("/directories", "Changed by: ")])
async def test_at_phone_width_each_table_cell_says_what_it_holds(browser, server, db, path, label):
    await seed_day(db)
    context, watched = await open_page(browser, server, width=390, height=844)
    try:
        await watched.page.goto(path)
        shown = await watched.page.evaluate("""() => [...document.querySelectorAll('table.rows td')]
            .map(td => getComputedStyle(td, '::before').content)""")
    finally:
        await context.close()
    assert f'"{label}"' in shown
    assert watched.problems == []
