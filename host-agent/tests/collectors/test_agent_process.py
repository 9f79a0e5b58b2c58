"""The agent as a process (``python -m host_agent run``) with the desktop monitor on a real display."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.collectors.harness import read_heartbeat, read_sessions
from tests.support.agent import AGENT_TIMEOUT, AgentProcess
from tests.support.waiting import wait_until
from tests.support.x11 import XServer

pytestmark = pytest.mark.x11

def agent_on(tmp_path: Path, pg_url: str, display: XServer | None, name: str = "agent") -> AgentProcess:
    """An agent with its own config file and log, the desktop monitor on ``display`` (or no DISPLAY)."""
    data_dir = tmp_path / "data"
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"agent:\n  data_dir: '{data_dir}'\n  log_level: DEBUG\n"
        f"database:\n  postgres_url: '{pg_url}'\n"
        "data_sync:\n  interval_seconds: 3600\n"
        "desktop_monitor:\n  monitor_interval: 0.2\n  idle_timeout_seconds: 0\n"
        "filesystem_watcher:\n  enabled: false\n",
        encoding="utf-8",
    )
    unwanted = ("DATABASE_URL", "DISPLAY", "REPROSPECTIVE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unwanted)}
    if display is not None:
        env["DISPLAY"] = display.display
    return AgentProcess(config, data_dir, env=env)


def desktop_db(agent: AgentProcess) -> Path:
    return agent.data_dir / "desktop_activity.db"


def open_rows(db: Path) -> list[dict]:
    return [r for r in read_sessions(db) if r["end_time"] is None]


async def test_sigterm_closes_the_open_session_syncs_it_and_exits_zero(x_server, windows, pg_url, pg, tmp_path):
    window = windows("設計メモ — 日本語", instance="gedit", klass="Gedit")
    x_server.activate(window)
    agent = agent_on(tmp_path, pg_url, x_server).start()
    try:
        agent.wait_for_log("desktop session 1 started: Gedit, '設計メモ — 日本語'")
        stopped_at = time.time()
        assert agent.stop() == 0
    finally:
        agent.ensure_gone()
    rows = read_sessions(desktop_db(agent))
    assert len(rows) == 1 and rows[0]["end_time"] is not None
    assert rows[0]["end_time"] <= stopped_at + 1
    log = agent.log()
    assert "desktop session 1 started: Gedit, '設計メモ — 日本語'" in log
    assert "Traceback" not in log
    synced = await pg.fetch("SELECT application_name, window_title, end_time FROM desktop_activity_sessions")
    assert [(r["application_name"], r["window_title"]) for r in synced] == [("Gedit", "設計メモ — 日本語")]
    assert synced[0]["end_time"] is not None, "the last sync sent the closed session"


def test_a_second_agent_on_the_same_data_folder_is_refused(x_server, pg_url, tmp_path):
    first = agent_on(tmp_path, pg_url, x_server).start()
    try:
        first.wait_for_log("desktop monitor: connected to X display")
        second = agent_on(tmp_path, pg_url, x_server, name="second")
        result = subprocess.run(
            second.command(), env=second.env, capture_output=True, text=True, timeout=AGENT_TIMEOUT
        )
        assert result.returncode != 0
        assert f"another agent (pid {first.process.pid}) is already running for data folder" in result.stderr
        assert "Traceback" not in result.stderr
        assert first.process.poll() is None, "the first agent keeps running"
        assert first.stop() == 0
    finally:
        first.ensure_gone()


def test_a_killed_agent_s_session_is_closed_at_its_last_heartbeat_by_the_next_agent(
    x_server, windows, pg_url, tmp_path
):
    window = windows("unsaved work", klass="Kate")
    x_server.activate(window)
    crashed = agent_on(tmp_path, pg_url, x_server, name="crashed").start()
    try:
        crashed.wait_for_log("desktop session 1 started: Kate")
        started = time.time()
        # Let heartbeats (every 0.2 s) run for two seconds of wall time, then kill the agent.
        wait_until(lambda: time.time() >= started + 2, 5, "two seconds of heartbeats")
        crashed.process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        crashed.process.wait(timeout=10)
    finally:
        crashed.ensure_gone()
    heartbeat = read_heartbeat(desktop_db(crashed))
    [session] = open_rows(desktop_db(crashed))
    assert session["start_time"] + 1 <= heartbeat <= killed_at, "a killed agent closes nothing; its heartbeat ran on"
    # A heartbeat every 0.2 s, stored in whole seconds; one more second of slack for a loaded machine.
    assert heartbeat >= int(killed_at) - 2, "the heartbeat kept up with monitor_interval until the kill"
    wait_until(lambda: time.time() >= heartbeat + 2, 5, "time to pass the last heartbeat")

    # The next agent runs without a display: it closes the old session and says so once.
    restarted = agent_on(tmp_path, pg_url, None, name="restarted").start()
    try:
        restarted.wait_for_log("desktop monitor disabled: no X display (DISPLAY is not set)")
        assert restarted.stop() == 0
    finally:
        restarted.ensure_gone()
    row = read_sessions(desktop_db(restarted))[0]
    assert row["end_time"] == heartbeat, "closed at the last heartbeat, not at the restart"
    assert row["duration_seconds"] == heartbeat - session["start_time"]
    log = restarted.log()
    assert "closed 1 desktop session(s) left open by an earlier run" in log
    assert log.count("desktop monitor disabled") == 1
    assert "Traceback" not in log


def test_reading_the_database_from_another_process_while_the_agent_runs_loses_no_rows(
    x_server, windows, pg_url, tmp_path
):
    first = windows("first", klass="First")
    second = windows("second", klass="Second")
    x_server.activate(first)
    agent = agent_on(tmp_path, pg_url, x_server).start()
    try:
        agent.wait_for_log("desktop session 1 started: First")
        assert len(read_sessions(desktop_db(agent))) == 1  # a reader process, like `reprospective-agent status`
        x_server.activate(second)
        agent.wait_for_log("desktop session 2 started: Second")
        assert [r["application_name"] for r in read_sessions(desktop_db(agent))] == ["First", "Second"]
        assert agent.stop() == 0
    finally:
        agent.ensure_gone()
