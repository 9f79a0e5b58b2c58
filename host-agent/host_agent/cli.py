"""``reprospective-agent``: the command line. It parses, loads the config once, and delegates.

Errors become exit codes here and nowhere else: 0 fine, 1 something needs attention or failed,
2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from host_agent import __version__
from host_agent.config import CONFIG_ENV, AgentConfig, default_config_path, load_config
from host_agent.errors import AgentError, AlreadyRunningError, ConfigError
from host_agent.logging_setup import configure_logging

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help=f"configuration file (default: ${CONFIG_ENV}, else {default_config_path()})",
    )
    common.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override agent.log_level")

    parser = argparse.ArgumentParser(
        prog="reprospective-agent",
        description="Records desktop activity and file changes locally and syncs them to PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    commands.add_parser(
        "run",
        parents=[common],
        help="run the agent: collectors and the sync loop, until Ctrl-C or SIGTERM",
        description="Run the agent in the foreground until SIGINT or SIGTERM.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"reprospective-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_level or config.agent.log_level)
    handler = COMMANDS[args.command]
    try:
        return handler(config, args)
    except AlreadyRunningError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except AgentError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _run(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.agent import Agent

    return asyncio.run(Agent(config).run())


COMMANDS = {
    "run": _run,
}
