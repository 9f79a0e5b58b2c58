"""Fixtures for the operating commands: a config file, the real agent as a child process, the
command line and the scripts as subprocesses, and rows written into the real local databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from host_agent.common.database import FileChangeDatabase
from host_agent.ops import control

from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts"
AGENT_BIN = Path(sys.executable).parent / "reprospective-agent"
#: Every wait in these tests ends by this deadline, not after a fixed sleep.
DEADLINE = 30


def wait_for(condition, timeout: float = DEADLINE, message: str = "condition"):
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    return wait_until(condition, timeout, message, interval=0.05)


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without the variables that would override the config."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REPROSPECTIVE_CONFIG", "PGPASSWORD")}
    env.update(extra)
    return env


class Config:
    """A config file in the test's folder; ``path`` is passed with --config."""

    def __init__(self, folder: Path, postgres_url: str | None, **sync: Any) -> None:
        self.data_dir = folder / "data"
        self.path = folder / "config.yaml"
        settings: dict[str, Any] = {
            "agent": {"data_dir": str(self.data_dir), "log_level": "DEBUG"},
            "data_sync": {"interval_seconds": 3600, "retry_backoff_seconds": 0.2, "final_sync_timeout_seconds": 10}
            | sync,
            "desktop_monitor": {"enabled": False},
            "filesystem_watcher": {"enabled": False},
        }
        if postgres_url:
            settings["database"] = {"postgres_url": postgres_url}
        self.path.write_text(yaml.safe_dump(settings), encoding="utf-8")

    @property
    def file_events_db(self) -> Path:
        return self.data_dir / "file_changes.db"

    @property
    def desktop_db(self) -> Path:
        return self.data_dir / "desktop_activity.db"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120, stdin=subprocess.DEVNULL):
    """Run ``reprospective-agent ARGS``; returns the CompletedProcess (text)."""
    return subprocess.run(
        [str(AGENT_BIN), *args], capture_output=True, text=True, env=env or clean_env(), timeout=timeout, stdin=stdin
    )


def script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120, stdin=subprocess.DEVNULL):
    return subprocess.run(
        [str(SCRIPTS / name), *args], capture_output=True, text=True, env=env or clean_env(), timeout=timeout, stdin=stdin
    )


def add_file_events(db_path: Path, count: int, start: int = 0) -> None:
    now = int(time.time())
    events = [
        {
            "event_time": now,
            "event_type": "modified",
            "file_path": f"/home/me/project/file{i}.py",
            "file_name": f"file{i}.py",
            "file_extension": ".py",
            "monitored_root": "/home/me/project",
            "project_name": "project",
        }
        for i in range(start, start + count)
    ]
    with FileChangeDatabase(db_path) as db:
        db.save_events(events)


class AgentProcess:
    """``python -m host_agent run --config PATH`` as a child process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.log_path = config.path.parent / "agent-test.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> AgentProcess:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_agent", "run", "--config", str(self.config.path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
        wait_for(self._answers, message=f"the agent to answer after its first sync run (log: {self.log_path})")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the agent exited with {self.proc.returncode}:\n{self.log()}")
        try:
            reply = control.request(self.config.data_dir, "status", timeout=5)
        except control.AgentNotRunningError:
            return False
        # Ready once the loop's first run (at start-up) is over: rows added later wait for a trigger.
        return not reply["sync"]["active"] or reply["sync"]["last_run_at"] is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = DEADLINE) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the agent did not stop on SIGTERM:\n{self.log()}") from None
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code


@pytest.fixture
def make_config(tmp_path):
    def make(postgres_url: str | None, **sync: Any) -> Config:
        return Config(tmp_path, postgres_url, **sync)

    return make


@pytest.fixture
def run_agent():
    """Start agents with ``run_agent(config)``; each is stopped (SIGTERM) at the end of the test."""
    started: list[AgentProcess] = []

    def start(config: Config) -> AgentProcess:
        agent = AgentProcess(config).start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


def pg_count(pg_server, database: str, sql: str) -> int:
    return int(pg_server.psql(sql, database=database))
