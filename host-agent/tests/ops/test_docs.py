"""README.md names every command a user can run (as sqlite-utils' docs test does): each
``reprospective-agent`` command and sub-command, each script, and ``reprospective-db``'s commands."""

from __future__ import annotations

import re

import pytest
from reprospective_db.cli import build_parser as build_db_parser

from tests.ops.conftest import REPO, SCRIPTS
from tests.support.commands import all_commands

README = REPO / "README.md"


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def mentions(text: str, command: str) -> bool:
    """Whether ``command`` appears as a whole (``db stop`` is not found in ``db stopped``)."""
    return re.search(rf"{re.escape(command)}(?![\w-])", text) is not None


@pytest.mark.parametrize("words", all_commands(), ids=" ".join)
def test_every_agent_command_is_in_the_readme(words, readme):
    command = f"reprospective-agent {' '.join(words)}"
    assert mentions(readme, command), f"README.md never mentions `{command}`"


@pytest.mark.parametrize("name", sorted(path.name for path in SCRIPTS.glob("*.sh")))
def test_every_script_is_in_the_readme(name, readme):
    assert mentions(readme, f"scripts/{name}"), f"README.md never mentions `scripts/{name}`"


DB_COMMANDS = all_commands(build_db_parser)


def test_the_schema_upgrade_command_is_among_those_checked():
    assert ["upgrade"] in DB_COMMANDS


@pytest.mark.parametrize("words", DB_COMMANDS, ids=" ".join)
def test_every_schema_command_is_in_the_readme(words, readme):
    command = f"reprospective-db {' '.join(words)}"
    assert mentions(readme, command), f"README.md never mentions `{command}`"
