"""The agent as a process: changes made while it was stopped (SIGTERM) or killed (SIGKILL) become
rows at its next start, marked as found by reconciliation, and reach PostgreSQL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from host_agent.collectors.files.file_events import unescape_path_bytes

from tests.collectors.fs_harness import read_events
from tests.support.agent import AgentProcess
from tests.support.waiting import wait_until


def files_agent(tmp_path: Path, pg_url: str, root: Path) -> AgentProcess:
    """An agent watching ``root`` with the default buffer settings, no desktop monitor."""
    data_dir = tmp_path / "data"
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"agent:\n  data_dir: '{data_dir}'\n  log_level: DEBUG\n"
        f"database:\n  postgres_url: '{pg_url}'\n"
        "data_sync:\n  interval_seconds: 3600\n"
        "desktop_monitor:\n  enabled: false\n"
        f"filesystem_watcher:\n  monitored_directories: ['{root}']\n",
        encoding="utf-8",
    )
    unwanted = ("DATABASE_URL", "DISPLAY", "REPROSPECTIVE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unwanted)}
    return AgentProcess(config, data_dir, env=env)


def run_until(agent: AgentProcess, text: str, signum: int = signal.SIGTERM) -> None:
    """Start the agent, wait for ``text`` in its log, stop it with ``signum``."""
    agent.start()
    try:
        agent.wait_for_log(text)
        if signum == signal.SIGKILL:
            agent.process.kill()
            agent.process.wait(timeout=10)
        else:
            assert agent.stop(signum) == 0
    finally:
        agent.ensure_gone()


def rows_of(agent: AgentProcess) -> list[dict]:
    return read_events(agent.data_dir / "file_changes.db")


async def synced(pg) -> list[tuple]:
    return sorted(
        (r["event_type"], r["file_path"], r["detected_by"], r["detected_at"] is not None)
        for r in await pg.fetch("SELECT event_type, file_path, detected_by, detected_at FROM file_change_events")
    )


async def test_changes_made_while_the_agent_was_stopped_are_recorded_at_its_next_start_and_synced(tmp_path, pg_url, pg):
    root = tmp_path / "tree"
    root.mkdir()
    for name in ("keep.txt", "edit.txt", "gone.txt"):
        (root / name).write_text("v1")
    agent = files_agent(tmp_path, pg_url, root)
    run_until(agent, f"first watch of {root}: its 3 files are its known state")
    assert rows_of(agent) == []

    (root / "new.txt").write_text("made while stopped")
    (root / "edit.txt").write_text("version two")
    (root / "gone.txt").unlink()
    odd = os.fsencode(root) + b"/caf\xe9.txt"
    with open(odd, "wb") as f:
        f.write(b"x")
    run_until(agent, f"reconciled {root}: 4 changes made while it was not watched")

    rows = rows_of(agent)
    assert sorted((r["event_type"], r["file_path_relative"], r["detected_by"]) for r in rows) == [
        ("created", "caf\\xe9.txt", "reconciliation"),
        ("created", "new.txt", "reconciliation"),
        ("deleted", "gone.txt", "reconciliation"),
        ("modified", "edit.txt", "reconciliation"),
    ]
    assert all(r["detected_at"] is not None and r["synced_at"] is not None for r in rows), "the last sync sent them"
    assert [unescape_path_bytes(r["file_path"]) for r in rows if "caf" in r["file_path"]] == [odd]
    assert await synced(pg) == sorted((r["event_type"], r["file_path"], "reconciliation", True) for r in rows)

    run_until(agent, f"reconciled {root}: no change while it was not watched")
    assert len(rows_of(agent)) == 4, "a restart without changes records nothing"
    assert "Traceback" not in agent.log()


async def test_files_made_just_before_a_kill_are_each_recorded_once_after_the_restart(tmp_path, pg_url, pg):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "before.txt").write_text("x")
    agent = files_agent(tmp_path, pg_url, root)
    agent.start()
    try:
        agent.wait_for_log(f"first watch of {root}")
        (root / "watched.txt").write_text("x")
        wait_until(lambda: "watched.txt" in {r["file_path_relative"] for r in rows_of(agent)}, 30, "its row")
        for i in range(20):  # within the flush interval: most are still in the buffer when killed
            (root / f"just-before-{i}.txt").write_text("x")
        agent.process.send_signal(signal.SIGKILL)
        agent.process.wait(timeout=10)
    finally:
        agent.ensure_gone()
    (root / "while-down.txt").write_text("x")
    (root / "before.txt").unlink()
    run_until(agent, f"reconciled {root}:")

    rows = rows_of(agent)
    made = {f"just-before-{i}.txt" for i in range(20)} | {"watched.txt"}
    created = [r["file_path_relative"] for r in rows if r["event_type"] == "created"]
    assert sorted(created) == sorted(made | {"while-down.txt"}), "every file once: by the watcher or found after the kill"
    others = [(r["event_type"], r["file_path_relative"]) for r in rows if r["event_type"] != "created"]
    # A write that followed a creation already written, and was killed before its state was, is
    # found as a change: the created row told of the file before that write.
    assert [o for o in others if o != ("deleted", "before.txt")] == [
        o for o in others if o[0] == "modified" and o[1] in made
    ]
    assert ("deleted", "before.txt") in others
    by_name = {r["file_path_relative"]: r["detected_by"] for r in rows if r["event_type"] != "modified"}
    assert by_name["while-down.txt"] == by_name["before.txt"] == "reconciliation"
    assert await synced(pg) == sorted(
        (r["event_type"], r["file_path"], r["detected_by"], r["detected_at"] is not None) for r in rows
    ), "watcher rows arrive without detected_at, reconciled ones with it"
    assert ("created", str(root / "watched.txt"), "watcher", False) in await synced(pg)
