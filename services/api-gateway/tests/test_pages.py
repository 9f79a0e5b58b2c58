"""The server-rendered pages: data shown, untrusted text escaped, empty states, directory forms."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from conftest import utc

HOSTILE = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
PAGES = ["/", "/timeline", "/sessions", "/files", "/sync", "/directories"]


async def _hostile_rows(seed):
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 9, 30), app=HOSTILE, title=HOSTILE, host=HOSTILE)
    await seed.file_event(utc(2026, 11, 30, 9), f"/home/me/{HOSTILE}", project=HOSTILE, host=HOSTILE)
    await seed.sync_log(utc(2026, 11, 30, 11), status="failed", error=HOSTILE, host=HOSTILE)
    await seed.conn.execute("INSERT INTO monitored_directories (directory_path, display_name, description) "
                            "VALUES ($1, $2, $2)", f"/home/{HOSTILE}", HOSTILE)


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_shows_hostile_titles_and_paths_as_text(api, seed, path):
    await _hostile_rows(seed)
    query = "?date=2026-11-30" if path in ("/", "/timeline") else "?start=2026-11-30&end=2026-11-30"
    response = await api.get(path + query)
    assert response.status_code == 200, response.text
    assert HOSTILE not in response.text
    assert ESCAPED in response.text or "\\u003cimg" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("path, text", [
    ("/", "No activity for this day"), ("/timeline", "No sessions for this day"),
    ("/sessions", "No sessions matching this search"), ("/files", "No file changes matching this search"),
    ("/sync", "No host has synced yet"), ("/directories", "No directory is monitored yet"),
])
async def test_empty_pages_say_what_to_do(api, path, text):
    response = await api.get(path)
    assert response.status_code == 200
    assert text in response.text
    if path != "/directories":
        assert "reprospective-agent" in response.text


async def test_pages_need_no_cdn(api):
    response = await api.get("/?date=2026-11-30")
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert sources and all(s.startswith(("/", "#")) for s in sources), sources
    for asset in ("/static/vendor/htmx.min.js", "/static/vendor/echarts.min.js", "/static/app.css"):
        assert (await api.get(asset)).status_code == 200
    docs = await api.get("/docs")
    assert "/static/vendor/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()


async def test_overview_shows_time_per_application_files_and_hosts(api, seed):
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 10), app="Emacs")
    await seed.session(utc(2026, 11, 30, 10), utc(2026, 11, 30, 10, 30), app="Firefox", host="desk_you")
    await seed.file_event(utc(2026, 11, 30, 9), "/p/a.py")
    page = (await api.get("/?date=2026-11-30")).text
    assert '<span class="value" id="total-active">1 h 30 min</span>' in page
    assert '<span class="value" id="total-files">1</span>' in page
    assert "desk_you" in page and "Firefox" in page and "2026-11-29" in page  # the "previous" link
    week = (await api.get("/?date=2026-11-30&period=week")).text
    assert "2026-W49" in week


async def test_sessions_page_pages_by_cursor(api, seed):
    for i in range(60):
        start = utc(2026, 11, 30, 8) + timedelta(minutes=i)
        await seed.session(start, start + timedelta(seconds=30), title=f"title-{i:02d}")
    first = (await api.get("/sessions?start=2026-11-30&end=2026-11-30")).text
    assert "title-59" in first and "title-09" not in first
    link = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = (await api.get(link)).text
    assert "title-09" in second and "title-59" not in second and 'id="next-page"' not in second


async def test_a_bad_time_zone_on_a_page_is_a_readable_422(api):
    response = await api.get("/sessions?tz=Mars/Base", headers={"Accept": "text/html"})
    assert response.status_code == 422 and "tz: unknown time zone" in response.text


async def _csrf(api) -> str:
    await api.get("/directories")
    return api.cookies["reprospective_csrf"]


async def test_directory_forms_add_edit_toggle_and_delete(api, pg):
    csrf = await _csrf(api)
    added = await api.post("/directories", data={"directory_path": "/srv/code", "display_name": "code", "enabled": "on",
                                                 "csrf_token": csrf})
    assert added.status_code == 303 and added.headers["location"] == "/directories?done=added"
    row = await pg.fetchrow("SELECT id, enabled, created_by, host_identifier FROM monitored_directories")
    assert (row["enabled"], row["created_by"], row["host_identifier"]) == (True, "local", None)
    edited = await api.post(f"/directories/{row['id']}", data={"directory_path": "/srv/code", "host_identifier": "laptop_me",
                                                               "enabled": "on", "csrf_token": csrf})
    assert edited.status_code == 303
    assert await pg.fetchval("SELECT host_identifier FROM monitored_directories") == "laptop_me"
    await api.post(f"/directories/{row['id']}/toggle", data={"csrf_token": csrf})
    assert await pg.fetchval("SELECT enabled FROM monitored_directories") is False
    confirm = await api.get(f"/directories/{row['id']}/delete")
    assert "Delete this directory?" in confirm.text and "/srv/code" in confirm.text
    await api.post(f"/directories/{row['id']}/delete", data={"csrf_token": csrf})
    assert await pg.fetchval("SELECT count(*) FROM monitored_directories") == 0


async def test_directory_form_errors_are_shown_next_to_the_field_with_the_typed_values(api, pg):
    csrf = await _csrf(api)
    response = await api.post("/directories", data={"directory_path": "relative", "display_name": "x" * 101,
                                                    "csrf_token": csrf})
    assert response.status_code == 422
    assert 'id="directory_path-error">must be an absolute path' in response.text
    assert 'id="display_name-error">' in response.text
    assert 'value="relative"' in response.text
    await api.post("/directories", data={"directory_path": "/srv/a", "csrf_token": csrf})
    duplicate = await api.post("/directories", data={"directory_path": "/srv/a", "csrf_token": csrf})
    assert duplicate.status_code == 422 and "already monitored" in duplicate.text
    assert await pg.fetchval("SELECT count(*) FROM monitored_directories") == 1


async def test_a_form_post_without_the_csrf_value_is_refused(api, pg):
    await _csrf(api)
    response = await api.post("/directories", data={"directory_path": "/srv/a", "csrf_token": "forged"})
    assert response.status_code == 403
    assert await pg.fetchval("SELECT count(*) FROM monitored_directories") == 0


async def test_a_read_only_login_sees_directories_but_no_forms(secured):
    from conftest import READER

    await secured.get("/login")
    await secured.post("/login", data={"token": READER, "csrf_token": secured.cookies["reprospective_csrf"]})
    page = await secured.get("/directories")
    assert page.status_code == 200 and 'id="add-form"' not in page.text
    refused = await secured.post("/directories", data={"directory_path": "/srv/a",
                                                       "csrf_token": secured.cookies["reprospective_csrf"]})
    assert refused.status_code == 403


async def test_every_page_states_the_viewers_zone_from_the_cookie(api):
    api.cookies.set("tz", "Asia%2FTokyo")
    for path in PAGES:
        assert '<span id="viewer-tz">Asia/Tokyo</span>' in (await api.get(path)).text, path
