"""Searching sessions and file changes, summaries clipped at the viewer's edges, the timeline,
hosts and sync status: against real rows in PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api_gateway.params import decode_cursor, encode_cursor
from conftest import NOW, serve, utc

pytestmark = pytest.mark.both_layouts  # each test using the database runs on the plain and partitioned layouts


async def test_sessions_are_filtered_by_range_host_application_and_text(api, seed):
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 9, 30), app="Emacs", title="api_gateway/app.py")
    await seed.session(utc(2026, 11, 30, 10), utc(2026, 11, 30, 10, 5), app="Firefox", title="Docs 100% _done_")
    await seed.session(utc(2026, 11, 30, 11), utc(2026, 11, 30, 11, 5), app="Firefox", title="mail", host="desk_you")
    await seed.session(utc(2026, 11, 20, 11), utc(2026, 11, 20, 11, 5), app="Emacs", title="old")

    async def titles(**params):
        response = await api.get("/api/v1/activities/sessions", params={"start": "2026-11-30", "end": "2026-11-30"} | params)
        assert response.status_code == 200, response.text
        return [s["window_title"] for s in response.json()["items"]]

    assert await titles() == ["mail", "Docs 100% _done_", "api_gateway/app.py"]  # newest first
    assert await titles(host="desk_you") == ["mail"]
    assert await titles(application="Emacs") == ["api_gateway/app.py"]
    assert await titles(q="100%") == ["Docs 100% _done_"]  # % is literal, not a wildcard
    assert await titles(q="Y/A") == ["api_gateway/app.py"]  # any case
    assert await titles(q="_d") == ["Docs 100% _done_"]
    assert await titles(start="2026-11-01") == ["mail", "Docs 100% _done_", "api_gateway/app.py", "old"]


async def test_keyset_pages_visit_every_session_once_even_with_equal_start_times(api, seed):
    ids = set()
    for i in range(23):
        start = utc(2026, 11, 30, 8) + timedelta(minutes=i // 3)  # three sessions share each start time
        ids.add(await seed.session(start, start + timedelta(seconds=30), title=f"s{i}"))
    seen, cursor, pages = [], None, 0
    while True:
        params = {"start": "2026-11-30", "end": "2026-11-30", "limit": 5} | ({"cursor": cursor} if cursor else {})
        body = (await api.get("/api/v1/activities/sessions", params=params)).json()
        seen += [s["id"] for s in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 5 and len(seen) == 23 and set(seen) == ids


async def test_file_events_are_filtered_and_paged(api, seed):
    await seed.file_event(utc(2026, 11, 30, 9), "/home/me/src/repro/a.py", event_type="created")
    await seed.file_event(utc(2026, 11, 30, 9, 1), "/home/me/src/repro/README.MD")
    await seed.file_event(utc(2026, 11, 30, 9, 2), "/home/me/src/other/b.py", project="other", host="desk_you")

    async def paths(**params):
        response = await api.get("/api/v1/activities/file-events", params={"start": "2026-11-30"} | params)
        assert response.status_code == 200, response.text
        return [f["file_path"].rsplit("/", 1)[-1] for f in response.json()["items"]]

    assert await paths() == ["b.py", "README.MD", "a.py"]
    assert await paths(project="repro") == ["README.MD", "a.py"]
    assert await paths(extension=".md") == ["README.MD"]
    assert await paths(event_type="created") == ["a.py"]
    assert await paths(host="desk_you") == ["b.py"]
    assert await paths(q="/other/") == ["b.py"]
    first = (await api.get("/api/v1/activities/file-events", params={"start": "2026-11-30", "limit": 2})).json()
    rest = (await api.get("/api/v1/activities/file-events", params={"start": "2026-11-30", "limit": 2,
                                                                      "cursor": first["next_cursor"]})).json()
    assert [f["file_name"] for f in first["items"] + rest["items"]] == ["b.py", "README.MD", "a.py"]
    assert rest["next_cursor"] is None


async def _pages(http, params: dict, path: str = "/api/v1/activities/file-events",
                 key: str = "file_path") -> tuple[list[str], list[dict]]:
    """Every page of a search, following next_cursor: what was found (``key`` of each row) and the pages."""
    found, pages, cursor = [], [], None
    while True:
        response = await http.get(path, params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        found += [row[key] for row in page["items"]]
        if not (cursor := page["next_cursor"]):
            return found, pages


@pytest.mark.parametrize("limit", [2, 50])
async def test_a_rare_path_over_weeks_is_searched_back_window_by_window_and_every_match_found_once(
        settings, seed, limit):
    """With no time to spare (search_seconds 0), each page reads one window back in time: pages
    may come back empty but say how far back they searched, and following the cursors finds every
    match once, newest first, as the unhurried search (and an unfiltered read) does."""
    days = [0, 0, 1, 3, 20, 21, 44]
    for n, day in enumerate(days):
        await seed.file_event(NOW - timedelta(days=day, minutes=n), f"/home/me/src/repro/needle_{n}.py")
        await seed.file_event(NOW - timedelta(days=day, minutes=n, seconds=30), f"/home/me/src/repro/hay_{n}.py")
    expected = [f"/home/me/src/repro/needle_{n}.py" for n in range(len(days))]
    params = {"start": (NOW - timedelta(days=45)).date().isoformat(), "q": "needle", "limit": limit}
    async with serve(settings.model_copy(update={"search_seconds": 0})) as hurried:
        found, pages = await _pages(hurried, params)
    assert found == expected
    empty = [p for p in pages[:-1] if not p["items"]]  # the last page may be empty: the range was read to its start
    assert empty and all(p["searched_back_to"] and p["next_cursor"] for p in empty)
    assert pages[-1]["next_cursor"] is None and pages[-1]["searched_back_to"] is None
    backs = [p["searched_back_to"] for p in pages if p["searched_back_to"]]
    assert backs == sorted(backs, reverse=True) and len(set(backs)) == len(backs)  # always further back
    async with serve(settings.model_copy(update={"search_seconds": 30})) as unhurried:
        assert (await _pages(unhurried, params))[0] == expected
    async with serve(settings.model_copy(update={"search_seconds": 0})) as hurried:  # other filters read back too
        found, _ = await _pages(hurried, params | {"q": None, "project": "repro", "extension": "py"})
    assert found == [path for n in range(len(days))
                     for path in (f"/home/me/src/repro/needle_{n}.py", f"/home/me/src/repro/hay_{n}.py")]


@pytest.mark.parametrize("limit", [2, 50])
async def test_a_title_search_reads_back_window_by_window_and_finds_every_match_once(settings, seed, limit):
    """Sessions searched by text read back in windows as file searches do, whatever the planner
    would estimate for the phrase."""
    days = [0, 0, 1, 3, 20, 44]
    for n, day in enumerate(days):
        start = NOW - timedelta(days=day, minutes=10 * n)
        await seed.session(start, start + timedelta(minutes=1), title=f"quarterly report {n}")
        await seed.session(start - timedelta(minutes=2), start - timedelta(minutes=1), title=f"notes {n}")
    expected = [f"quarterly report {n}" for n in range(len(days))]
    params = {"start": (NOW - timedelta(days=45)).date().isoformat(), "q": "Quarterly Report", "limit": limit}
    path = "/api/v1/activities/sessions"
    for budget in (0, 30):
        async with serve(settings.model_copy(update={"search_seconds": budget})) as http:
            found, pages = await _pages(http, params, path, "window_title")
        assert found == expected, budget
        if budget == 0:
            assert any(not p["items"] and p["searched_back_to"] and p["next_cursor"] for p in pages[:-1])
    async with serve(settings.model_copy(update={"search_seconds": 0})) as hurried:
        page = await hurried.get("/sessions", params={"start": params["start"], "q": "report 5"})
    assert "Searched back to 2026-11-30 18:00:00: no match yet." in page.text and 'id="next-page"' in page.text


async def test_the_files_page_says_how_far_back_a_search_has_read(settings, seed):
    await seed.file_event(NOW - timedelta(days=200), "/home/me/src/repro/needle.py")
    async with serve(settings.model_copy(update={"search_seconds": 0})) as hurried:
        page = await hurried.get("/files", params={"start": "2026-01-01", "q": "needle"})
        assert "Searched back to 2026-11-30 18:00:00: no match yet." in page.text  # the first window: the range's last 6 hours
        assert 'id="next-page"' in page.text and "No file changes matching this search" not in page.text


async def test_a_search_that_stopped_goes_on_with_the_window_its_cursor_carries(settings, seed):
    """A rare name over a year: the next page starts with the window the last one reached, not
    again with six hours."""
    await seed.file_event(NOW - timedelta(days=200), "/home/me/src/repro/needle.py")
    resume = encode_cursor("f", NOW - timedelta(days=10), 0, timedelta(days=3))
    async with serve(settings.model_copy(update={"search_seconds": 0})) as hurried:  # one window per page
        page = (await hurried.get("/api/v1/activities/file-events",
                                  params={"start": "2026-01-01", "q": "needle", "cursor": resume})).json()
    assert page["items"] == [] and page["searched_back_to"] == (NOW - timedelta(days=13)).isoformat()
    assert decode_cursor(page["next_cursor"], "f").window is not None


@pytest.mark.parametrize("path, params, parameter", [
    ("/api/v1/activities/sessions", {"limit": 0}, "limit"),
    ("/api/v1/activities/sessions", {"limit": 1001}, "limit"),
    ("/api/v1/activities/sessions", {"limit": "many"}, "limit"),
    ("/api/v1/activities/sessions", {"cursor": "garbage!"}, "cursor"),
    ("/api/v1/activities/sessions", {"tz": "Nowhere/Special"}, "tz"),
    ("/api/v1/activities/sessions", {"start": "2026-02-30"}, "start"),
    ("/api/v1/activities/sessions", {"start": "2026-11-30", "end": "2026-11-01"}, "end"),
    ("/api/v1/activities/sessions", {"q": "a\x00b"}, "q"),
    ("/api/v1/activities/file-events", {"event_type": "renamed"}, "event_type"),
    ("/api/v1/activities/summary", {"period": "year"}, "period"),
    ("/api/v1/activities/summary", {"group_by": "title"}, "group_by"),
    ("/api/v1/activities/timeline", {"date": "30/11/2026"}, "date"),
    ("/api/v1/sync/status", {"tz": "Europe/Nowhere"}, "tz"),
    ("/api/v1/export/sessions.csv", {"end": "soon"}, "end"),
])
async def test_bad_parameters_are_422_naming_the_parameter(api, path, params, parameter):
    response = await api.get(path, params=params)
    assert response.status_code == 422, response.text
    assert [item["parameter"] for item in response.json()["detail"]] == [parameter]


async def test_a_session_crossing_midnight_counts_ten_minutes_to_each_day(api, seed):
    await seed.session(utc(2026, 11, 29, 23, 50), utc(2026, 11, 30, 0, 10), app="Emacs")
    body = (await api.get("/api/v1/activities/summary", params={"period": "day", "start": "2026-11-29",
                                                                "end": "2026-11-30"})).json()
    assert [(p["label"], p["active_seconds"], p["groups"][0]["key"]) for p in body["periods"]] == [
        ("2026-11-29", 600.0, "Emacs"), ("2026-11-30", 600.0, "Emacs")]


async def test_days_are_the_viewers_days(api, seed):
    # 14:50–15:20 UTC is 23:50–00:20 in Tokyo: split 10 / 20 minutes there, all on the 29th in UTC.
    await seed.session(utc(2026, 11, 29, 14, 50), utc(2026, 11, 29, 15, 20))
    tokyo = (await api.get("/api/v1/activities/summary", params={"start": "2026-11-29", "end": "2026-11-30",
                                                                 "tz": "Asia/Tokyo"})).json()
    assert [p["active_seconds"] for p in tokyo["periods"]] == [600.0, 1200.0]
    in_utc = (await api.get("/api/v1/activities/summary", params={"start": "2026-11-29", "end": "2026-11-30"})).json()
    assert [p["active_seconds"] for p in in_utc["periods"]] == [1800.0, 0.0]


async def test_summary_groups_by_application_host_project_and_extension(api, seed):
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 10), app="Emacs")
    await seed.session(utc(2026, 11, 30, 10), utc(2026, 11, 30, 10, 30), app="Firefox", host="desk_you")
    await seed.session(utc(2026, 11, 30, 11), utc(2026, 11, 30, 11, 15), app="Emacs", host="desk_you")
    await seed.file_event(utc(2026, 11, 30, 9), "/p/a.py")
    await seed.file_event(utc(2026, 11, 30, 9), "/p/b.py", project="other", host="desk_you")
    await seed.file_event(utc(2026, 11, 30, 9), "/p/c.md", project="other", host="desk_you")

    async def groups(group_by, **params):
        body = (await api.get("/api/v1/activities/summary", params={"period": "week", "group_by": group_by,
                                                                    "start": "2026-11-30", "end": "2026-11-30"} | params)).json()
        assert len(body["periods"]) == 1 and body["periods"][0]["label"] == "2026-W49"
        return [(g["key"], g["active_seconds"], g["file_events"]) for g in body["periods"][0]["groups"]]

    assert await groups("application") == [("Emacs", 4500.0, 0), ("Firefox", 1800.0, 0)]
    assert sorted(await groups("host")) == [("desk_you", 2700.0, 2), ("laptop_me", 3600.0, 1)]
    assert await groups("project") == [("other", None, 2), ("repro", None, 1)]
    assert await groups("extension") == [("py", None, 2), ("md", None, 1)]
    assert await groups("application", host="desk_you") == [("Firefox", 1800.0, 0), ("Emacs", 900.0, 0)]


async def test_a_session_re_sent_with_its_end_counts_once_with_its_new_length(api, seed, pg):
    sid = await seed.session(utc(2026, 11, 30, 9), None)
    await pg.execute("UPDATE desktop_activity_sessions SET end_time = $1, duration_seconds = 1200, local_revision = 1 "
                     "WHERE id = $2", utc(2026, 11, 30, 9, 20), sid)
    body = (await api.get("/api/v1/activities/summary", params={"start": "2026-11-30", "end": "2026-11-30"})).json()
    assert (body["periods"][0]["active_seconds"], body["periods"][0]["sessions"]) == (1200.0, 1)


async def test_month_summary_defaults_to_the_current_month(api, seed):
    await seed.session(utc(2026, 11, 1, 9), utc(2026, 11, 1, 9, 1))
    body = (await api.get("/api/v1/activities/summary", params={"period": "month"})).json()
    assert [(p["label"], p["active_seconds"]) for p in body["periods"]] == [("2026-11", 60.0)]


async def test_timeline_has_a_lane_per_host_clipped_to_the_day_with_short_runs_merged(api, seed):
    await seed.session(utc(2026, 11, 29, 23, 0), utc(2026, 11, 30, 1, 0), app="Emacs", title="long")
    for i in range(40):
        start = utc(2026, 11, 30, 9) + timedelta(seconds=10 * i)
        await seed.session(start, start + timedelta(seconds=10), app="Firefox" if i % 4 else "Slack", title=f"t{i}")
    await seed.session(utc(2026, 11, 30, 12), utc(2026, 11, 30, 12, 30), app="Terminal", host="desk_you")
    body = (await api.get("/api/v1/activities/timeline", params={"date": "2026-11-30"})).json()
    assert [lane["host_identifier"] for lane in body["lanes"]] == ["desk_you", "laptop_me"]
    me = body["lanes"][1]["segments"]
    assert me[0]["start"] == "2026-11-30T00:00:00+00:00" and me[0]["title"] == "long"
    assert (me[1]["application"], me[1]["sessions"], me[1]["title"]) == ("Firefox", 40, None)
    assert len(me) == 2
    only = (await api.get("/api/v1/activities/timeline", params={"date": "2026-11-30", "host": "desk_you"})).json()
    assert [lane["host_identifier"] for lane in only["lanes"]] == ["desk_you"]


async def test_a_busy_day_of_many_hosts_stays_small_drawing_close_sessions_as_one_bar(api, pg):
    """20 hosts, each 600 sessions of 90 s with 10 s between them and titles of 100 characters:
    12,000 segments, about 3 MB drawn one by one."""
    await pg.execute("""
        INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, end_time_iso, application_name,
            window_title, duration_seconds, host_identifier, origin_id, local_id, synced_at)
        SELECT t, t + interval '90 seconds', t::text, (t + interval '90 seconds')::text,
               (ARRAY['Emacs', 'Emacs', 'Firefox'])[1 + i % 3], repeat('t', 90) || lpad(i::text, 10, '0'), 90,
               'host_' || lpad(h::text, 2, '0'), md5('origin' || h)::uuid, i, now()
        FROM generate_series(1, 20) AS h, generate_series(1, 600) AS i,
             LATERAL (SELECT timestamptz '2026-11-30 06:00:00+00' + (i - 1) * interval '100 seconds' AS t) AS at""")
    response = await api.get("/api/v1/activities/timeline", params={"date": "2026-11-30"})
    body = response.json()
    assert len(response.content) <= 300_000
    assert body["merged_within_seconds"] == 30  # the smallest gap that fits: each host's run of work one bar
    assert len(body["lanes"]) == 20
    for lane in body["lanes"]:
        assert lane["active_seconds"] == 600 * 90  # counted before merging: the gaps are not active time
        assert [(s["start"], s["end"], s["application"], s["sessions"], s["title"]) for s in lane["segments"]] == [
            ("2026-11-30T06:00:00+00:00", "2026-11-30T22:39:50+00:00", "Emacs", 600, None)]
    one = (await api.get("/api/v1/activities/timeline", params={"date": "2026-11-30", "host": "host_07"})).json()
    assert one["merged_within_seconds"] is None  # one host's day fits: every session its own bar
    [lane] = one["lanes"]
    assert len(lane["segments"]) == 600 and lane["segments"][0]["title"] == "t" * 90 + "0000000001"
    page = await api.get("/timeline", params={"date": "2026-11-30"})
    assert "A busy day: bars less than 30 s apart are drawn as one; choose a host to see more detail." in page.text


async def test_sessions_under_a_second_show_on_the_timeline_merged_into_their_run(api, seed):
    t = utc(2026, 11, 30, 9)
    await seed.session(t, t + timedelta(milliseconds=400), app="Slack", title="ping")  # alone: drawn by itself
    run = t + timedelta(hours=2)
    await seed.session(run, run, app="Firefox")  # zero length
    await seed.session(run + timedelta(seconds=1), run + timedelta(seconds=1, milliseconds=300), app="Firefox")
    await seed.session(run + timedelta(seconds=3), run + timedelta(seconds=13), app="Emacs")
    body = (await api.get("/api/v1/activities/timeline", params={"date": "2026-11-30"})).json()
    [lane] = body["lanes"]
    assert [(s["application"], s["sessions"], s["title"], s["start"], s["end"]) for s in lane["segments"]] == [
        ("Slack", 1, "ping", t.isoformat(), (t + timedelta(milliseconds=400)).isoformat()),
        ("Emacs", 3, None, run.isoformat(), (run + timedelta(seconds=13)).isoformat())]


async def test_a_renamed_host_is_one_lane_and_one_host_row_under_its_current_name(api, seed, pg):
    t = utc(2026, 11, 30, 9)
    await seed.session(t, t + timedelta(minutes=30), app="Emacs", host="old-name")
    await seed.session(t + timedelta(hours=2), t + timedelta(hours=3), app="Firefox", host="new-name")
    await seed.session(t + timedelta(hours=4), t + timedelta(hours=5), app="Zoom", host="desk_you")
    await seed.file_event(t, "/p/a.py", host="old-name")
    await seed.file_event(t + timedelta(hours=2), "/p/b.py", host="new-name")
    host_id = "6f1c2a43-0d5e-4d0b-9a53-2a8e1f0c7b11"
    await pg.execute("INSERT INTO hosts (host_id, host_identifier, previous_identifiers) "
                     "VALUES ($1, 'new-name', '{old-name}')", host_id)
    await pg.execute("INSERT INTO host_origins (origin_id, host_id) VALUES ($1, $3), ($2, $3)",
                     seed.origin("old-name"), seed.origin("new-name"), host_id)
    body = (await api.get("/api/v1/activities/timeline", params={"date": "2026-11-30"})).json()
    assert [(lane["host_identifier"], lane["host_id"], [s["application"] for s in lane["segments"]])
            for lane in body["lanes"]] == [("desk_you", None, ["Zoom"]), ("new-name", host_id, ["Emacs", "Firefox"])]
    for start, end in (("2026-11-30", "2026-11-30"), ("2026-11-30T09:00:00Z", "2026-11-30T12:07:00Z")):  # rollups, raw
        summary = (await api.get("/api/v1/activities/summary", params={
            "group_by": "host", "start": start, "end": end})).json()
        assert [(g["key"], g["active_seconds"], g["sessions"], g["file_events"])
                for g in summary["periods"][0]["groups"]] == [("new-name", 5400.0, 2, 2), ("desk_you", 3600.0, 1, 0)
                                                              ][: 2 if start == "2026-11-30" else 1], start


async def test_hosts_list_origins_rows_last_sync_and_lag(api, seed):
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 9, 5))
    await seed.file_event(utc(2026, 11, 30, 9), "/p/a.py")
    await seed.file_event(utc(2026, 11, 30, 9), "/p/b.py", host="desk_you")
    await seed.sync_log(NOW - timedelta(minutes=10))
    await seed.sync_log(NOW - timedelta(minutes=5), status="failed", rows=0, error="connection refused")
    body = (await api.get("/api/v1/hosts")).json()
    assert [h["host_identifier"] for h in body] == ["desk_you", "laptop_me"]
    me = body[1]
    assert me["origins"] == [str(seed.origin("laptop_me"))]
    assert me["rows"] == {"desktop_activity_sessions": 1, "file_change_events": 1}
    assert me["last_failure_message"] == "connection refused"
    assert me["last_successful_sync"] == (NOW - timedelta(minutes=10) + timedelta(seconds=2)).isoformat()
    assert me["sync_lag_seconds"] == 120.0
    assert body[0]["last_successful_sync"] is None


async def test_sync_status_says_ok_lagging_or_failing_per_host_and_table(api, seed):
    await seed.sync_log(NOW - timedelta(minutes=4))
    await seed.sync_log(NOW - timedelta(minutes=4), table="file_change_events", host="desk_you")
    await seed.sync_log(NOW - timedelta(hours=1), table="desktop_activity_sessions", host="desk_you")
    await seed.sync_log(NOW - timedelta(minutes=50), host="desk_you", status="failed", rows=0, error="timeout")
    await seed.sync_log(NOW - timedelta(minutes=20), host="desk_you", status="failed", rows=0, error="refused")
    await seed.sync_log(NOW - timedelta(hours=2), table="file_change_events")
    body = (await api.get("/api/v1/sync/status")).json()
    states = {(t["host_identifier"], t["table_name"]): t for t in body["tables"]}
    assert states[("laptop_me", "desktop_activity_sessions")]["state"] == "ok"
    assert states[("laptop_me", "file_change_events")]["state"] == "lagging"
    failing = states[("desk_you", "desktop_activity_sessions")]
    assert (failing["state"], failing["last_failure_message"]) == ("failing", "refused")
    assert failing["failing_since"] == (NOW - timedelta(minutes=50)).isoformat()
    assert (failing["runs_today"], failing["rows_today"]) == (3, 10)


async def test_a_change_found_at_the_agents_start_up_says_so_in_the_api_the_export_and_the_page(api, seed, pg):
    await seed.file_event(utc(2026, 11, 30, 9), "/home/me/src/repro/seen.py")
    found = await seed.file_event(utc(2026, 11, 30, 8), "/home/me/src/repro/while_down.py", event_type="created")
    await pg.execute("UPDATE file_change_events SET detected_by = 'reconciliation', detected_at = $2 WHERE id = $1",
                     found, utc(2026, 11, 30, 9, 5))
    day = {"start": "2026-11-30", "end": "2026-11-30", "tz": "UTC"}
    items = (await api.get("/api/v1/activities/file-events", params=day)).json()["items"]
    marks = {i["file_name"]: (i["detected_by"], i["detected_at"]) for i in items}
    assert marks == {"seen.py": ("watcher", None), "while_down.py": ("reconciliation", "2026-11-30T09:05:00+00:00")}
    exported = (await api.get("/api/v1/export/file-events.csv", params=day)).text
    assert "detected_by" in exported.splitlines()[0] and "reconciliation" in exported
    page = (await api.get("/files", params={"date": "2026-11-30", "tz": "UTC"})).text
    row_of = {name: next(line for line in page.splitlines() if name in line) for name in ("seen.py", "while_down.py")}
    assert "found at start-up" in row_of["while_down.py"] and "found at start-up" not in row_of["seen.py"]
