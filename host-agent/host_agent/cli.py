"""``reprospective-agent``: the command line. It parses, loads the config once, and delegates.

Errors become exit codes here and nowhere else: 0 fine, 1 something needs attention or failed,
2 bad usage or configuration, 3 no agent is running (for commands that talk to it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from reprospective_db.errors import ReprospectiveError
from reprospective_db.secrets import password_of, url_without_password

from host_agent import __version__
from host_agent.core.config import CONFIG_ENV, AgentConfig, default_config_path, load_config
from host_agent.core.errors import AlreadyRunningError, ConfigError
from host_agent.logging_setup import configure_logging
from host_agent.ops.control import AgentNotRunningError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3
PROG = "reprospective-agent"
LOG_NAME = "agent.log"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help=f"configuration file (default: ${CONFIG_ENV}, else {default_config_path()})",
    )
    common.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override agent.log_level")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON for scripts")

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Records desktop activity and file changes locally and syncs them to PostgreSQL.",
        epilog="Exit codes: 0 fine, 1 failed or needs attention, 2 bad usage or configuration, 3 no agent running.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_agent_commands(commands, common, as_json)
    _add_db_commands(commands, common)
    return parser


def _add_agent_commands(commands: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    def add(name: str, help: str, parents: Sequence[argparse.ArgumentParser] = (common,), **kw: Any):
        return commands.add_parser(name, parents=list(parents), help=help, description=kw.pop("description", help), **kw)

    add("run", "run the agent: collectors and the sync loop, until Ctrl-C or SIGTERM",
        description="Run the agent in the foreground until SIGINT or SIGTERM.")  # fmt: skip
    add("status", "is my data safe? rows waiting, held back, last sync, PostgreSQL, agent", (common, as_json),
        description="Show rows waiting per table, the oldest one's age, rows held back, the last successful "
        "sync, whether PostgreSQL is reachable and the agent runs. Exits 1 when something needs attention.")  # fmt: skip
    sync = add("sync", "sync all waiting rows now, from this process (safe while the agent runs)", (common, as_json))
    sync.add_argument("--once", action="store_true", help="one full sync, then exit (required)")
    held = add("held", "list rows PostgreSQL refused (held back); --retry sends them again", (common, as_json))
    held.add_argument("--retry", action="store_true", help="release every held-back row and sync once")
    trigger = add("trigger", "ask the running agent to sync now and print what it did", (common, as_json))
    trigger.add_argument("--timeout", type=float, default=600, metavar="S", help="wait this long (default 600)")
    ping = add("ping", "check that an agent runs and answers; prints its pid")
    ping.add_argument("--wait", type=float, default=0, metavar="S", help="keep trying this long (default: no)")
    add("purge", "delete local rows synced more than data_sync.retention_days ago")
    paths = add("paths", "print the files the agent uses (config, data folder, log, pid, socket)")
    paths.add_argument("--get", metavar="KEY", help="print one value only")
    service = add("install-service", "install the systemd user unit that runs the agent at login")
    service.add_argument("--force", action="store_true", help="replace an existing, different unit")
    service.add_argument("--print", action="store_true", help="print the unit instead of writing it")


def _add_db_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    db = commands.add_parser("db", help="the local PostgreSQL: start, stop, url, psql, reset",
                             description="Manage the embedded PostgreSQL cluster, or reach the configured server.")  # fmt: skip
    actions = db.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, parents=[common], help=help, description=help)

    add("start", "start the embedded cluster (created on first use)")
    add("stop", "stop the embedded cluster").add_argument("--force", action="store_true", help="even while the agent runs")
    add("url", "print the PostgreSQL URL, without its password")
    add("kind", "print 'embedded' or 'external'")
    add("psql", "run psql against the configured PostgreSQL (password via PGPASSWORD)").add_argument(
        "psql_args", nargs=argparse.REMAINDER, help="arguments for psql, after --"
    )
    add("reset", "drop Reprospective's tables and create them again (all PostgreSQL data is lost)").add_argument(
        "--yes", action="store_true", help="confirm: required"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sync" and not args.once:
        parser.error("sync: pass --once (the agent's 'run' command syncs continuously)")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # The operating commands print their own results; log lines are for warnings unless asked.
    default_level = config.agent.log_level if args.command == "run" else "WARNING"
    configure_logging(args.log_level or default_level)
    handler = COMMANDS[args.command if args.command != "db" else f"db {args.db_command}"]
    try:
        return handler(config, args)
    except AlreadyRunningError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except AgentNotRunningError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except ReprospectiveError as exc:  # the agent's errors and the shared cluster and schema code's
        if args.command == "run":
            log.error("%s", exc)
        else:
            print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _run(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.agent import Agent

    return asyncio.run(Agent(config).run())


def _status(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import status

    report = asyncio.run(status.gather(config))
    print(json.dumps(report, indent=2) if args.json else status.render(report))
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _sync(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import manual_sync

    results = asyncio.run(manual_sync.sync_once(config))
    if args.json:
        _print_json({name: r.as_dict() for name, r in results.items()})
    else:
        print(manual_sync.render_results(results))
    return EXIT_OK if manual_sync.results_ok(results) else EXIT_FAILED


def _held(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import manual_sync

    report: dict[str, Any] = {}
    synced_ok = True
    if args.retry:
        report["released"] = manual_sync.release_held_rows(config)
        if not args.json:
            print(f"released {report['released']} held-back row(s); syncing now")
        results = asyncio.run(manual_sync.sync_once(config))
        report["results"] = {name: r.as_dict() for name, r in results.items()}
        synced_ok = manual_sync.results_ok(results)
        if not args.json:
            print(manual_sync.render_results(results))
    rows = manual_sync.held_rows(config)
    report["held"] = [row.as_dict() for row in rows]
    if args.json:
        _print_json(report)
    else:
        print(manual_sync.render_held(rows))
    return EXIT_OK if synced_ok and not rows else EXIT_FAILED


def _trigger(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import control, manual_sync

    reply = control.request(config.data_dir, "sync", timeout=args.timeout)
    results = reply["results"]
    if args.json:
        _print_json(reply)
    else:
        print(f"agent synced in {reply['completed_at'] - reply['started_at']:.1f} s:")
        print(manual_sync.render_results(results))
    return EXIT_OK if all(r["status"] == "success" for r in results.values()) else EXIT_FAILED


def _ping(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import control

    deadline = time.monotonic() + args.wait
    while True:
        try:
            reply = control.request(config.data_dir, "ping", timeout=5)
            break
        except control.AgentNotRunningError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
    print(f"agent running (pid {reply['pid']}) for data folder {config.data_dir}")
    return EXIT_OK


def _purge(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import retention

    days = config.data_sync.retention_days
    if not days:
        print("retention_days is 0: local rows are kept forever")
        return EXIT_OK
    for table, count in retention.purge_config(config).items():
        print(f"{table}: deleted {count} row(s) synced more than {days} days ago")
    return EXIT_OK


def _paths(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.core.agent_lock import LOCK_NAME, running_agent_pid
    from host_agent.ops.control import socket_path

    pid = running_agent_pid(config.data_dir)
    values = {
        "config": config.source or "",
        "data_dir": config.data_dir,
        "desktop_db": config.desktop_db_path,
        "file_events_db": config.file_events_db_path,
        "log_file": config.data_dir / LOG_NAME,
        "pid_file": config.data_dir / LOCK_NAME,
        "socket": socket_path(config.data_dir),
        "agent_pid": pid if pid and pid > 0 else "",
    }
    if args.get:
        if args.get not in values:
            print(f"{PROG}: paths: unknown key {args.get!r} (one of {', '.join(values)})", file=sys.stderr)
            return EXIT_USAGE
        print(values[args.get])
    else:
        print("\n".join(f"{key}={value}" for key, value in values.items()))
    return EXIT_OK


def _install_service(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import service

    if args.print:
        print(service.render(config), end="")
        return EXIT_OK
    path, changed = service.install(config, force=args.force)
    print(f"{'wrote' if changed else 'unchanged:'} {path}")
    print(f"enable and start it with:\n  {service.ENABLE_COMMAND}")
    print(
        "The service does not see your shell's environment: put DATABASE_URL or POSTGRES_PASSWORD in the .env "
        "file beside the config file."
    )
    return EXIT_OK


def _db_start(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import postgres

    url, started = postgres.start_embedded(config)
    print(f"embedded PostgreSQL {'started' if started else 'already running'}: {url_without_password(url)}")
    return EXIT_OK


def _db_stop(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import postgres

    stopped = postgres.stop_embedded(config, force=args.force)
    print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return EXIT_OK


def _db_url(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import postgres

    url = postgres.require_url(config)
    print(url_without_password(url))
    if password_of(url):
        print("(password not shown: tools read it from PGPASSWORD or ~/.pgpass)", file=sys.stderr)
    return EXIT_OK


def _db_kind(config: AgentConfig, args: argparse.Namespace) -> int:
    print("embedded" if config.uses_embedded_postgres else "external")
    return EXIT_OK


def _db_psql(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import postgres

    extra = list(args.psql_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    command, env = postgres.psql_command(postgres.require_url(config), extra)
    sys.stdout.flush()
    os.execve(command[0], command, env)


def _db_reset(config: AgentConfig, args: argparse.Namespace) -> int:
    from host_agent.ops import postgres

    if not args.yes:
        print(f"{PROG}: db reset deletes every synced row in PostgreSQL; pass --yes to confirm", file=sys.stderr)
        return EXIT_USAGE
    applied = asyncio.run(postgres.reset_database(config))
    print(f"PostgreSQL reset: {postgres.target(config).shown}; schema re-created ({', '.join(applied)})")
    return EXIT_OK


COMMANDS = {
    "run": _run,
    "status": _status,
    "sync": _sync,
    "held": _held,
    "trigger": _trigger,
    "ping": _ping,
    "purge": _purge,
    "paths": _paths,
    "install-service": _install_service,
    "db start": _db_start,
    "db stop": _db_stop,
    "db url": _db_url,
    "db kind": _db_kind,
    "db psql": _db_psql,
    "db reset": _db_reset,
}
