"""Fixtures for the operating commands: a config file, the real agent as a child process, and the
command line and the scripts as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.agent import AgentProcess

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts"
AGENT_BIN = Path(sys.executable).parent / "reprospective-agent"
#: Every wait in these tests ends by this deadline, not after a fixed sleep.
DEADLINE = 30


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
        agent = AgentProcess(config.path, config.data_dir, env=clean_env(), log_path=config.path.parent / "agent-test.log")
        started.append(agent.start())
        return agent.wait_until_answering(DEADLINE)

    yield start
    for agent in started:
        agent.stop(timeout=DEADLINE)


def pg_count(pg_server, database: str, sql: str) -> int:
    return int(pg_server.psql(sql, database=database))
