"""The systemd user unit: what ``install-service`` writes, checked without a running systemd."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from host_agent.ops import service

from tests.ops.conftest import REPO, clean_env, cli

REFERENCE_UNIT = REPO / "host-agent" / "systemd" / "reprospective-agent.service"


def directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_install_service_writes_a_unit_that_runs_this_installation(tmp_path, make_config, pg_url):
    config = make_config(pg_url, final_sync_timeout_seconds=45)
    env = clean_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    done = cli("install-service", "--config", str(config.path), env=env)
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "xdg" / "systemd" / "user" / "reprospective-agent.service"
    assert f"wrote {unit}" in done.stdout
    assert "systemctl --user daemon-reload && systemctl --user enable --now reprospective-agent.service" in done.stdout

    text = unit.read_text()
    exec_start = shlex.split(next(line for line in text.splitlines() if line.startswith("ExecStart=")).partition("=")[2])
    assert exec_start == [sys.executable, "-m", "host_agent", "run", "--config", str(config.path)]
    assert Path(exec_start[0]).is_file()
    # The very command line starts this agent (asked for its version instead of running).
    version = subprocess.run([*exec_start[:3], "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("reprospective-agent ")
    assert "Restart=on-failure" in text and "KillSignal=SIGTERM" in text and "KillMode=mixed" in text
    assert "StandardError=journal" in text
    assert "TimeoutStopSec=115" in text  # 45 s last sync + 10 s collectors + 60 s margin
    assert "password" not in text.lower()

    again = cli("install-service", "--config", str(config.path), env=env)
    assert again.returncode == 0 and "unchanged" in again.stdout


def test_the_reference_unit_matches_what_install_service_writes(make_config, pg_url):
    config = make_config(pg_url, final_sync_timeout_seconds=20)  # the default: a 90 s stop timeout
    rendered = cli("install-service", "--print", "--config", str(config.path))
    assert rendered.returncode == 0, rendered.stderr
    strip = lambda text: [l for l in directives(text) if not l.startswith("ExecStart=")]  # noqa: E731
    assert strip(rendered.stdout) == strip(REFERENCE_UNIT.read_text())
    assert f"ExecStart={service.GENERIC_EXEC_START}" in REFERENCE_UNIT.read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_installed_unit(tmp_path, make_config, pg_url):
    config = make_config(pg_url)
    unit = tmp_path / "reprospective-agent.service"
    unit.write_text(cli("install-service", "--print", "--config", str(config.path)).stdout)
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    if "Failed to initialize manager" in done.stderr:
        pytest.skip("systemd-analyze cannot run here")
    assert done.returncode == 0, done.stderr
