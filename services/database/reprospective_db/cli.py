"""``reprospective-db``: bring a PostgreSQL server's schema up to date without running an agent.

    reprospective-db upgrade [--database-url URL]   apply the missing migrations (default: $DATABASE_URL)
    reprospective-db status  [--database-url URL]   the versions applied and the ones waiting

Exit codes: 0 fine (``status``: up to date), 1 failed or out of date, 2 bad usage.
The password of the URL is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

import asyncpg

from reprospective_db.connections import ASYNCPG_OPTIONS
from reprospective_db.schema import current_versions, load_migrations, upgrade_schema
from reprospective_db.secrets import describe_url, redact

PROG = "reprospective-db"
CONNECT_TIMEOUT = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Manage the Reprospective PostgreSQL schema.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, text in (
        ("upgrade", "apply the migrations the database lacks (safe to run any time, by several hosts at once)"),
        ("status", "list the schema versions applied and those waiting; exits 1 when out of date"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--database-url", metavar="URL", help="postgresql:// URL (default: $DATABASE_URL)")
    return parser


async def _upgrade(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT, **ASYNCPG_OPTIONS)
    try:
        applied = await upgrade_schema(conn)
        versions = sorted(await current_versions(conn))
    finally:
        await conn.close()
    if applied:
        print(f"{describe_url(url)}: applied {', '.join(applied)}; now at version {versions[-1]}")
    else:
        print(f"{describe_url(url)}: up to date at version {versions[-1] if versions else 0}")
    return 0


async def _status(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT, **ASYNCPG_OPTIONS)
    try:
        done = await current_versions(conn)
    finally:
        await conn.close()
    waiting = [m.name for m in load_migrations() if m.version not in done]
    print(f"{describe_url(url)}: versions applied: {', '.join(map(str, sorted(done))) or 'none'}")
    print(f"waiting: {', '.join(waiting)}" if waiting else "up to date")
    return 1 if waiting else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = args.database_url or os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgres://")):
        print(f"{PROG}: pass --database-url postgresql://... or set DATABASE_URL", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run({"upgrade": _upgrade, "status": _status}[args.command](url))
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{PROG}: {describe_url(url)}: {redact(text, url)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
