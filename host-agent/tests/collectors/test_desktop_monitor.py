"""The desktop monitor against a real X server (Xvfb + openbox), real windows and real SQLite."""

from __future__ import annotations

import time

import pytest
from host_agent.collectors.desktop.monitor import DesktopActivityMonitor
from host_agent.collectors.desktop.sessions import EXCLUDED_TITLE
from host_agent.common.database import DesktopActivityDatabase
from host_agent.core.timeutil import iso_from_epoch
from Xlib import X, Xatom

from tests.collectors.harness import (
    ControlledClock,
    observations_after,
    open_session,
    read_heartbeat,
    read_sessions,
    running,
    settings,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.x11


async def test_switching_focus_ends_one_session_and_starts_the_next(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    editor = windows("notes.txt - Editor", instance="gedit", klass="Gedit")
    memo = windows("メモ帳 — 日本語", instance="mousepad", klass="Mousepad")
    x_server.activate(editor)
    clock = ControlledClock()
    monitor = DesktopActivityMonitor(db, settings(), display_name=x_server.display, clock=clock)
    async with running(monitor):
        await eventually(lambda: open_session(db, "Gedit", "notes.txt - Editor"), what="the editor session")
        # Let the session last two seconds, polled several times meanwhile.
        clock.advance(2)
        await observations_after(monitor, 3)
        before = clock.wall()
        x_server.activate(memo)
        after = clock.wall()
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


async def test_a_title_change_ends_the_session_and_starts_one_for_the_new_title(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    editor = windows("draft.md", instance="code", klass="Code")
    x_server.activate(editor)
    monitor = DesktopActivityMonitor(db, settings(), display_name=x_server.display)
    async with running(monitor):
        await eventually(lambda: open_session(db, "Code", "draft.md"), what="the first title's session")
        before = time.time()
        editor.rename("draft.md ● 未保存")
        after = time.time()
        renamed = await eventually(lambda: open_session(db, "Code", "draft.md ● 未保存"), what="the renamed session")
        await observations_after(monitor, 3)
    rows = read_sessions(db)
    assert [r["window_title"] for r in rows] == ["draft.md", "draft.md ● 未保存"]
    assert int(before) <= rows[0]["end_time"] <= after + 1
    assert renamed["start_time"] == rows[0]["end_time"]


async def test_the_same_window_polled_many_times_stays_one_session(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    terminal = windows("~/src: bash", instance="xterm", klass="XTerm")
    x_server.activate(terminal)
    clock = ControlledClock()
    monitor = DesktopActivityMonitor(db, settings(monitor_interval=0.05), display_name=x_server.display, clock=clock)
    async with running(monitor):
        await eventually(lambda: open_session(db, "XTerm"), what="the terminal session")
        await observations_after(monitor, 20)
        assert len(read_sessions(db)) == 1
        heartbeat = await eventually(lambda: read_heartbeat(db), what="a heartbeat")
        clock.advance(1)  # the heartbeat is stored in whole seconds
        await eventually(lambda: read_heartbeat(db) > heartbeat, 5, "the heartbeat to advance")


async def test_windows_without_class_title_or_valid_utf8_are_recorded_without_crashing(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    monitor = DesktopActivityMonitor(db, settings(), display_name=x_server.display)
    async with running(monitor):
        untitled = windows(None, instance="feh", klass="Feh")
        x_server.activate(untitled)
        await eventually(lambda: open_session(db, "Feh"), what="the untitled window's session")

        instance_only = windows("instance only", instance="scratchpad")
        x_server.activate(instance_only)
        await eventually(lambda: open_session(db, "scratchpad", "instance only"), what="the instance name")

        classless = windows("classless")
        with open(f"/proc/{classless.pid}/comm", encoding="utf-8") as handle:
            command_name = handle.read().strip()
        x_server.activate(classless)
        await eventually(lambda: open_session(db, command_name, "classless"), what="the process name")

        anonymous = windows("anonymous", pid=False)
        x_server.activate(anonymous)
        await eventually(lambda: open_session(db, "unknown", "anonymous"), what="the unknown application")

        garbled = windows("garbled", klass="Garbled")
        x_server.activate(garbled)
        await eventually(lambda: open_session(db, "Garbled", "garbled"), what="the garbled window")
        garbled.set_raw_title(b"caf\xe9 \xff\xfe\x00end")  # Latin-1, not UTF-8, with a NUL
        await eventually(lambda: open_session(db, "Garbled", "café ÿþend"), what="the Latin-1 title")
        garbled.remove_title()
        await eventually(lambda: (open_session(db, "Garbled") or {}).get("window_title", "") is None, what="no title")

    rows = read_sessions(db)
    assert rows[0]["application_name"] == "Feh" and rows[0]["window_title"] is None
    assert all(r["end_time"] is not None for r in rows)


async def test_a_dead_window_in_net_active_window_reads_as_no_window(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    doomed = windows("short-lived", klass="Doomed")
    dead_id = doomed.wid
    survivor = windows("survivor", klass="Survivor")
    x_server.activate(survivor)
    monitor = DesktopActivityMonitor(db, settings(), display_name=x_server.display)
    async with running(monitor):
        await eventually(lambda: open_session(db, "Survivor"), what="the survivor's session")
        doomed.close()
        before = time.time()
        with x_server.connection() as display:
            root = display.screen().root
            root.change_property(display.intern_atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW, 32, [dead_id])
            display.sync()
        await eventually(lambda: not open_session(db, "Survivor"), what="the session to end")
        x_server.activate(windows("next", klass="Next"))
        await eventually(lambda: open_session(db, "Next"), what="a new session after the dead window")
    first = read_sessions(db)[0]
    assert first["end_time"] >= int(before)
    assert monitor.stats.displays_lost == 0


async def test_closing_the_only_window_ends_its_session(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    lonely = windows("alone", klass="Lonely")
    x_server.activate(lonely)
    monitor = DesktopActivityMonitor(db, settings(), display_name=x_server.display)
    async with running(monitor):
        await eventually(lambda: open_session(db, "Lonely"), what="the session")
        lonely.close()
        await eventually(lambda: not open_session(db, "Lonely"), what="the session to end")
        await observations_after(monitor, 3)
        assert not any(r["end_time"] is None for r in read_sessions(db))


async def test_excluded_applications_are_never_written_and_excluded_titles_become_a_placeholder(
    x_server, windows, tmp_path
):
    db = tmp_path / "desktop.db"
    rules = settings(exclude_applications=["(?i)keepass"], exclude_titles=["(?i)private browsing"])
    editor = windows("notes.txt", klass="Gedit")
    vault = windows("Passwords.kdbx - KeePassXC", instance="keepassxc", klass="KeePassXC")
    browser = windows("Bank of Tokyo — Private Browsing", klass="Firefox")
    x_server.activate(editor)
    monitor = DesktopActivityMonitor(db, rules, display_name=x_server.display)
    async with running(monitor):
        await eventually(lambda: open_session(db, "Gedit"), what="the editor session")
        x_server.activate(vault)
        await eventually(lambda: not open_session(db, "Gedit"), what="the editor session to end")
        await observations_after(monitor, 3)
        assert not any(r["end_time"] is None for r in read_sessions(db)), "nothing runs while the vault is in front"
        x_server.activate(browser)
        await eventually(lambda: open_session(db, "Firefox", EXCLUDED_TITLE), what="the placeholder title")
        browser.rename("Another secret — Private Browsing")
        await observations_after(monitor, 3)
    rows = read_sessions(db)
    recorded = [(r["application_name"], r["window_title"]) for r in rows]
    assert recorded == [("Gedit", "notes.txt"), ("Firefox", EXCLUDED_TITLE)]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("desktop.db*"))
    for secret in (b"KeePassXC", b"Passwords", b"Bank of Tokyo", b"Another secret"):
        assert secret not in stored, f"{secret!r} reached the database file"


async def test_idle_ends_the_session_at_the_last_input_and_nothing_runs_until_input_resumes(
    x_server, windows, tmp_path
):
    db = tmp_path / "desktop.db"
    writer = windows("report.odt", klass="Writer")
    x_server.activate(writer)
    monitor = DesktopActivityMonitor(db, settings(idle_timeout_seconds=1), display_name=x_server.display)
    async with running(monitor):
        await eventually(lambda: monitor.stats.connections, what="the monitor to connect")
        last_input = x_server.input()
        await eventually(lambda: open_session(db, "Writer"), what="a session while input is recent")
        await eventually(lambda: not open_session(db, "Writer"), 5, "the idle cut-off")
        await observations_after(monitor, 3)
        assert len(read_sessions(db)) == 1, "no session while the user is away"
        resumed = x_server.input()
        back = await eventually(lambda: open_session(db, "Writer"), 5, "a session once input resumes")
    first = read_sessions(db)[0]
    # The X server counts idle time in milliseconds on its own clock: allow a second of rounding.
    assert int(last_input) - 1 <= first["end_time"] <= last_input + 1, "ended at the last input, not at the cut-off"
    assert back["start_time"] >= int(resumed)


async def test_the_screen_saver_turning_on_counts_as_idle_at_once(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    viewer = windows("slides.pdf", klass="Evince")
    x_server.activate(viewer)
    # A poll every 60 s: only the ScreenSaverNotify event can end the session within the test.
    monitor = DesktopActivityMonitor(
        db, settings(idle_timeout_seconds=300, monitor_interval=60), display_name=x_server.display
    )
    with x_server.connection() as display:
        try:
            async with running(monitor):
                last_input = x_server.input()
                await eventually(lambda: open_session(db, "Evince"), what="the viewer session")
                saver_on = time.time()
                display.force_screen_saver(X.ScreenSaverActive)
                display.sync()
                await eventually(lambda: not open_session(db, "Evince"), 5, "the screen saver to end the session")
                display.force_screen_saver(X.ScreenSaverReset)  # also counts as input
                display.sync()
                await eventually(lambda: open_session(db, "Evince"), 5, "a new session once it is off")
        finally:
            display.force_screen_saver(X.ScreenSaverReset)
            display.sync()
    first = read_sessions(db)[0]
    assert int(last_input) - 1 <= first["end_time"] <= saver_on + 1


async def test_a_killed_x_server_ends_the_session_at_the_last_moment_seen_and_the_monitor_reconnects(
    own_x_server, tmp_path, caplog
):
    db = tmp_path / "desktop.db"
    window = own_x_server.window("build.log", klass="Kate")
    try:
        own_x_server.activate(window)
        monitor = DesktopActivityMonitor(
            db, settings(), display_name=own_x_server.display, reconnect_backoff=(0.05, 0.2)
        )
        async with running(monitor):
            await eventually(lambda: open_session(db, "Kate"), what="the session")
            await observations_after(monitor, 2)
            killed_at = time.time()
            own_x_server.kill_server()
            await eventually(lambda: not open_session(db, "Kate"), 5, "the session to end")
            ended = read_sessions(db)[0]
            assert killed_at - 1.5 <= ended["end_time"] <= killed_at, "ended when last seen, not later"
            await eventually(lambda: monitor.stats.connect_attempts >= 4, 5, "reconnection attempts")

            window.close()
            own_x_server.start()
            window = own_x_server.window("after restart", klass="Kate")
            own_x_server.activate(window)
            await eventually(lambda: open_session(db, "Kate", "after restart"), 10, "a session after reconnecting")
    finally:
        window.close()
    assert monitor.stats.displays_lost == 1 and monitor.stats.connections == 2
    warnings = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "desktop monitor" in r.getMessage()
    ]
    assert len(warnings) == 1 and "went away" in warnings[0], warnings


@pytest.mark.parametrize(
    ("display_name", "expected"),
    [
        (None, "desktop monitor disabled: no X display (DISPLAY is not set)"),
        (":4711", "desktop monitor disabled: cannot connect to X display :4711"),
    ],
    ids=["no DISPLAY", "no X server on the display"],
)
async def test_without_a_display_the_monitor_logs_one_line_and_keeps_retrying(
    display_name, expected, tmp_path, caplog, monkeypatch
):
    monkeypatch.delenv("DISPLAY", raising=False)
    db = tmp_path / "desktop.db"
    kwargs = {} if display_name is None else {"display_name": display_name}
    monitor = DesktopActivityMonitor(db, settings(), retry_interval=0.02, **kwargs)
    async with running(monitor):
        await eventually(lambda: monitor.stats.connect_attempts >= 5, 5, "repeated connection attempts")
    lines = [r.getMessage() for r in caplog.records if "desktop monitor disabled" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert not any(r.exc_info for r in caplog.records), "no stack trace for an expected condition"
    assert read_sessions(db) == []


async def test_a_display_that_appears_later_is_picked_up_by_the_retry(own_x_server, tmp_path, caplog):
    db = tmp_path / "desktop.db"
    own_x_server.kill_server()  # keep its display number, with no server behind it
    monitor = DesktopActivityMonitor(db, settings(), display_name=own_x_server.display, retry_interval=0.05)
    window = None
    try:
        async with running(monitor):
            await eventually(lambda: monitor.stats.connect_attempts >= 2, 5, "a failed connection attempt")
            own_x_server.start()
            window = own_x_server.window("late start", klass="Late")
            own_x_server.activate(window)
            await eventually(lambda: open_session(db, "Late", "late start"), 10, "a session once the display exists")
    finally:
        if window is not None:
            window.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("host_agent.collectors")]
    assert sum("desktop monitor disabled: cannot connect to X display" in line for line in lines) == 1
    assert f"desktop monitor: connected to X display {own_x_server.display}" in lines


SESSIONS_LEFT_OPEN = [
    # (what, start offset, heartbeat offset or None, expected end offset)
    ("closed at the last heartbeat", 0, 42, 42),
    ("without a heartbeat, closed at its start", 0, None, 0),
    ("a heartbeat older than the session closes it at its start", 100, 42, 100),
]


@pytest.mark.parametrize(
    ("start", "heartbeat", "expected_end"), [c[1:] for c in SESSIONS_LEFT_OPEN], ids=[c[0] for c in SESSIONS_LEFT_OPEN]
)
async def test_a_session_left_open_by_a_crash_is_closed_at_start_up_never_stretched_to_now(
    start, heartbeat, expected_end, tmp_path
):
    db_path = tmp_path / "desktop.db"
    t0 = int(time.time()) - 3600
    with DesktopActivityDatabase(db_path) as db:
        db.start_session("Gedit", "crash.txt", t0 + start)
        if heartbeat is not None:
            db.record_heartbeat(t0 + heartbeat)
    monitor = DesktopActivityMonitor(db_path, settings(), display_name=None, retry_interval=60)
    async with running(monitor):
        await eventually(lambda: read_sessions(db_path)[0]["end_time"] is not None, what="the old session to close")
    row = read_sessions(db_path)[0]
    assert row["end_time"] == t0 + expected_end
    assert row["duration_seconds"] == expected_end - start
    assert monitor.stats.sessions_closed_at_start == 1


async def test_a_wall_clock_jump_ends_the_session_at_the_time_before_the_jump(x_server, windows, tmp_path):
    db = tmp_path / "desktop.db"
    editor = windows("plan.txt", klass="Gedit")
    x_server.activate(editor)
    clock = ControlledClock()
    monitor = DesktopActivityMonitor(db, settings(), display_name=x_server.display, clock=clock)
    async with running(monitor):
        await eventually(lambda: open_session(db, "Gedit"), what="the session")
        await observations_after(monitor, 2)
        jumped_at = time.time()
        clock.jump_wall(3 * 3600)
        await eventually(lambda: len(read_sessions(db)) == 2, 5, "a new session after the jump")
    before, after = read_sessions(db)
    assert jumped_at - 1 <= before["end_time"] <= jumped_at, "ended before the jump, not hours later"
    assert after["start_time"] >= int(jumped_at + 3 * 3600)
    assert (after["application_name"], after["window_title"]) == ("Gedit", "plan.txt")
    assert monitor.stats.clock_jumps == 1
