"""``reprospective-api``: serve the API and the dashboard.

    reprospective-api [--config PATH] [--database-url URL] [--host H] [--port P]

Settings come from the ``api`` section of the config file (``--config`` or
``$REPROSPECTIVE_API_CONFIG``), then the environment, then flags (see :mod:`api_gateway.config`).
Defaults: the agent's configured PostgreSQL as ``reprospective-agent db url`` prints it (the
gateway imports nothing of the agent: it asks the command), 127.0.0.1, 8800. A non-loopback
``--host`` needs a token. Exit codes: 2 bad configuration. Stopped by SIGTERM or Ctrl-C, it
shuts down cleanly, then ends by that signal as uvicorn does (systemd counts that as a clean stop).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from reprospective_db.secrets import describe_url

from api_gateway.config import (
    CONFIG_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    Settings,
    SettingsError,
    load_settings,
    resolve_config_path,
)

PROG = "reprospective-api"
log = logging.getLogger("api_gateway")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Reprospective's JSON API and web dashboard.")
    parser.add_argument("--config", metavar="PATH",
                        help=f"YAML file with an 'api' section (default: ${CONFIG_ENV}, else none); "
                             "one holding a token must be chmod 600")
    parser.add_argument("--database-url", metavar="URL",
                        help="postgresql:// URL (default: $DATABASE_URL, else `reprospective-agent db url`)")
    parser.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST}; others need a token)")
    parser.add_argument("--port", type=int, help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--no-upgrade-schema", action="store_true",
                        help="do not apply missing schema migrations at start-up (a role without DDL rights)")
    return parser


def agent_database_url(environ: Mapping[str, str]) -> str | None:
    """What ``reprospective-agent db url`` prints, when that command is installed and answers."""
    beside = Path(sys.executable).with_name("reprospective-agent")
    command = str(beside) if beside.exists() else shutil.which("reprospective-agent")
    if not command:
        return None
    try:
        done = subprocess.run([command, "db", "url"], capture_output=True, text=True, timeout=30, env=dict(environ))
    except (OSError, subprocess.TimeoutExpired):
        return None
    url = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
    return url if url.startswith(("postgresql://", "postgres://")) else None


def settings_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> tuple[Settings, Path | None]:
    """The settings, and the config file they were read from (None: no file)."""
    args = build_parser().parse_args(argv)
    flags = {"database_url": args.database_url, "host": args.host, "port": args.port, "log_level": args.log_level,
             "upgrade_schema": False if args.no_upgrade_schema else None}
    config_file = resolve_config_path(args.config, environ)
    settings = load_settings(flags, environ, config_file=config_file,
                             default_database_url=lambda: agent_database_url(environ))
    return settings, config_file


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings, config_file = settings_from(argv, os.environ)
    except SettingsError as exc:
        print(f"{PROG}: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(levelname)-7s %(name)s: %(message)s")
    import uvicorn

    from api_gateway.app import create_app

    auth = "token required" if settings.auth_required else "no token: loopback clients only"
    log.info("Reprospective dashboard on http://%s:%d/ (%s); PostgreSQL %s; configuration from %s",
             settings.host if ":" not in settings.host else f"[{settings.host}]", settings.port, auth,
             describe_url(settings.database_url), config_file or "flags and the environment")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                proxy_headers=False, server_header=False)
    return 0
