"""Every sub-command and every script explains itself with --help, and the commands take --config."""

from __future__ import annotations

import pytest
from host_agent.cli import build_parser

from tests.ops.conftest import SCRIPTS, script
from tests.support.commands import all_commands

SCRIPT_NAMES = [
    "show-sync-stats.sh", "trigger-sync.sh", "start-agent.sh", "stop-agent.sh", "start.sh", "stop.sh", "reset-db.sh",
]  # fmt: skip


@pytest.mark.parametrize("words", all_commands(), ids=" ".join)
def test_every_sub_command_has_help_and_takes_config(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*words, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--config PATH" in out and f"reprospective-agent {' '.join(words)}" in out


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_has_usage_and_strict_mode(name):
    text = (SCRIPTS / name).read_text()
    assert "set -euo pipefail" in text
    done = script(name, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"Usage: scripts/{name}") and "--config PATH" in done.stdout
    bad = script(name, "--no-such-option")
    assert bad.returncode == 2 and "unknown argument: --no-such-option" in bad.stderr
