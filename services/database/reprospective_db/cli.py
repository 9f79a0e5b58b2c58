"""``reprospective-db``: bring a PostgreSQL server's schema up to date without running an agent.

    reprospective-db upgrade [--database-url URL]   apply the missing migrations (default: $DATABASE_URL)
    reprospective-db status  [--database-url URL]   the versions applied and the ones waiting
    reprospective-db partition [--database-url URL] [--lock-timeout S]
                                                    partition the fact tables by month (once; again:
                                                    only makes the coming months exist)
    reprospective-db retention --older-than 13months [--dry-run] [--lock-timeout S] [--database-url URL]
                                                    drop the month partitions older than that

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
from reprospective_db.errors import DatabaseError
from reprospective_db.partitioning import LOCK_TIMEOUT, drop_old_partitions, parse_months, partition_database
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
    text = (
        "partition desktop_activity_sessions and file_change_events by month (create, copy, swap in one "
        "transaction per table; agents may keep syncing, they wait for it); run again, it only makes the "
        "coming months exist"
    )
    sub = commands.add_parser("partition", help=text, description=text)
    sub.add_argument("--database-url", metavar="URL", help="postgresql:// URL (default: $DATABASE_URL)")
    sub.add_argument(
        "--lock-timeout", metavar="SECONDS", type=float, default=LOCK_TIMEOUT,
        help=f"how long to wait for each table's lock before giving up (default {LOCK_TIMEOUT:g})",
    )  # fmt: skip
    text = (
        "drop the month partitions entirely older than the cut (the start of the month that many months "
        "before the current one); the rollups of those months stay; needs the partitioned layout"
    )
    sub = commands.add_parser("retention", help=text, description=text)
    sub.add_argument("--database-url", metavar="URL", help="postgresql:// URL (default: $DATABASE_URL)")
    sub.add_argument("--older-than", metavar="MONTHS", required=True, help="a number of months, e.g. 13months")
    sub.add_argument("--dry-run", action="store_true", help="list what would be dropped, drop nothing")
    sub.add_argument(
        "--lock-timeout", metavar="SECONDS", type=float, default=LOCK_TIMEOUT,
        help=f"how long to wait to detach each partition before giving up (default {LOCK_TIMEOUT:g})",
    )  # fmt: skip
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


async def _partition(url: str, lock_timeout: float) -> int:
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT, **ASYNCPG_OPTIONS)
    try:
        for line in await partition_database(conn, lock_timeout=lock_timeout):
            print(f"{describe_url(url)}: {line}")
    finally:
        await conn.close()
    return 0


async def _retention(url: str, months: int, dry_run: bool, lock_timeout: float) -> int:
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT, **ASYNCPG_OPTIONS)
    try:
        for line in await drop_old_partitions(conn, months, dry_run=dry_run, lock_timeout=lock_timeout):
            print(f"{describe_url(url)}: {line}")
    finally:
        await conn.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = args.database_url or os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgres://")):
        print(f"{PROG}: pass --database-url postgresql://... or set DATABASE_URL", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "lock_timeout", 1) <= 0:
        print(f"{PROG}: --lock-timeout {args.lock_timeout:g}: give a number of seconds above 0", file=sys.stderr)
        return 2
    if args.command == "partition":
        command = _partition(url, args.lock_timeout)
    elif args.command == "retention":
        try:
            months = parse_months(args.older_than)
        except DatabaseError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        command = _retention(url, months, args.dry_run, args.lock_timeout)
    else:
        command = {"upgrade": _upgrade, "status": _status}[args.command](url)
    try:
        return asyncio.run(command)
    except DatabaseError as exc:
        print(f"{PROG}: {describe_url(url)}: {redact(str(exc), url)}", file=sys.stderr)
        return 1
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{PROG}: {describe_url(url)}: {redact(text, url)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
