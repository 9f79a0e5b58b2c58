"""The systemd user unit that runs the agent at login, and installing it.

``host-agent/systemd/reprospective-agent.service`` is the same unit with a generic
``ExecStart``; :func:`render` fills in this installation's interpreter and config file.
Stopping the unit sends SIGTERM to the agent only (``KillMode=mixed``): it closes the current
session, flushes buffers, makes a last sync and stops the embedded PostgreSQL it started, within
``TimeoutStopSec``; only then are leftover processes killed.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import platformdirs

from host_agent.collectors.base import COLLECTOR_STOP_TIMEOUT
from host_agent.core.config import AgentConfig
from host_agent.core.errors import AgentError

UNIT_NAME = "reprospective-agent.service"

#: Time for stopping the embedded PostgreSQL server and exiting, beyond the collectors' and
#: the last sync's own limits.
STOP_MARGIN_SECONDS = 60

UNIT_TEMPLATE = """\
[Unit]
Description=Reprospective agent: records desktop activity and file changes, syncs them to PostgreSQL
After=graphical-session.target network-online.target

[Service]
Type=simple
ExecStart={exec_start}
# A crash restarts the agent; a clean stop (exit 0) does not.
Restart=on-failure
RestartSec=10
# SIGTERM goes to the agent alone; it stops its collectors, makes a last sync, then stops the
# PostgreSQL server it started. Whatever is left after that is killed.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec={timeout_stop}
# Log lines go to the journal: journalctl --user -u reprospective-agent
StandardOutput=journal
StandardError=journal
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""

#: The ExecStart of the packaged reference unit, for a console script installed in ~/.local/bin.
GENERIC_EXEC_START = "%h/.local/bin/reprospective-agent run"


def timeout_stop(config: AgentConfig) -> int:
    return int(config.data_sync.final_sync_timeout_seconds + COLLECTOR_STOP_TIMEOUT + STOP_MARGIN_SECONDS)


def exec_start(config: AgentConfig) -> str:
    """This interpreter running the agent, with the config file when one is in use."""
    command = [sys.executable, "-m", "host_agent", "run"]
    if config.source is not None:
        command += ["--config", str(config.source)]
    return shlex.join(command)


def render(config: AgentConfig) -> str:
    return UNIT_TEMPLATE.format(exec_start=exec_start(config), timeout_stop=timeout_stop(config))


def unit_dir() -> Path:
    """``~/.config/systemd/user`` (XDG_CONFIG_HOME is honoured)."""
    return Path(platformdirs.user_config_dir("systemd")) / "user"


def install(config: AgentConfig, *, force: bool = False) -> tuple[Path, bool]:
    """Write the unit; returns its path and whether the file changed. An existing, different
    unit is kept unless ``force``."""
    path = unit_dir() / UNIT_NAME
    text = render(config)
    if path.exists():
        current = path.read_text(encoding="utf-8")
        if current == text:
            return path, False
        if not force:
            raise AgentError(f"{path} exists and differs", hint="pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path, True


ENABLE_COMMAND = f"systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}"
