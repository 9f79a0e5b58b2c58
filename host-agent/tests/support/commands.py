"""The command line as a user finds it: every command of ``reprospective-agent`` (or of another
argparse program, such as ``reprospective-db``), read from ``--help``."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections.abc import Callable

from host_agent.cli import build_parser

#: argparse lists a sub-command four spaces in, under its COMMAND (or ACTION) heading; options
#: and other positionals are two spaces in, and wrapped help text further.
_SUB_COMMAND = re.compile(r"^ {4}([a-z][\w-]*)(?: {2,}|$)", re.MULTILINE)


Program = Callable[[], argparse.ArgumentParser]


def help_text(*words: str, program: Program = build_parser) -> str:
    """What ``PROGRAM WORDS --help`` prints (``reprospective-agent`` unless told)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        program().parse_args([*words, "--help"])
    return out.getvalue()


def sub_commands_of(*words: str, program: Program = build_parser) -> list[str]:
    """The sub-commands ``PROGRAM WORDS --help`` lists, in its order."""
    text = help_text(*words, program=program)
    positionals = text.partition("positional arguments:\n")[2].partition("\n\n")[0]
    return _SUB_COMMAND.findall(positionals)


def all_commands(program: Program = build_parser) -> list[list[str]]:
    """Every command a user can run: ``[name]``, or ``[name, action]`` for one with sub-commands."""
    found: list[list[str]] = []
    for name in sub_commands_of(program=program):
        nested = sub_commands_of(name, program=program)
        found += [[name, action] for action in nested] if nested else [[name]]
    assert found, f"no sub-command found in:\n{help_text(program=program)}"
    return found
