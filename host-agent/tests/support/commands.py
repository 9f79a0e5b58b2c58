"""The command line as a user finds it: every ``reprospective-agent`` command, read from ``--help``."""

from __future__ import annotations

import contextlib
import io
import re

from host_agent.cli import build_parser

#: argparse lists a sub-command four spaces in, under its COMMAND (or ACTION) heading; options
#: and other positionals are two spaces in, and wrapped help text further.
_SUB_COMMAND = re.compile(r"^ {4}([a-z][\w-]*)(?: {2,}|$)", re.MULTILINE)


def help_text(*words: str) -> str:
    """What ``reprospective-agent WORDS --help`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args([*words, "--help"])
    return out.getvalue()


def sub_commands_of(*words: str) -> list[str]:
    """The sub-commands ``reprospective-agent WORDS --help`` lists, in its order."""
    text = help_text(*words)
    positionals = text.partition("positional arguments:\n")[2].partition("\n\n")[0]
    return _SUB_COMMAND.findall(positionals)


def all_commands() -> list[list[str]]:
    """Every command a user can run: ``[name]``, or ``[name, action]`` for one with sub-commands."""
    found: list[list[str]] = []
    for name in sub_commands_of():
        nested = sub_commands_of(name)
        found += [[name, action] for action in nested] if nested else [[name]]
    assert found, f"no sub-command found in:\n{help_text()}"
    return found
