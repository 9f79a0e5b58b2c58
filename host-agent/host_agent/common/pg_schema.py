"""Bringing a PostgreSQL database's schema up to date from ``services/database/init/NN_*.sql``.

The same files serve two ways in: the PostgreSQL Docker entrypoint applies them all to an empty
database, and the agent applies the ones whose version ``schema_version`` lacks on start-up.
Every file is idempotent, so running one twice is harmless.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(?P<version>\d{2})_[a-z0-9_]+\.sql$")

#: Arbitrary constant: the advisory lock key under which agents upgrade a shared schema,
#: so that two hosts starting at once do not race on the same ALTER TABLE.
SCHEMA_LOCK_KEY = 0x5245_5052  # "REPR"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations_dir() -> Path:
    """The packaged copy of ``services/database/init``."""
    return Path(str(resources.files("host_agent") / "schema"))


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NN_snake_case.sql")
        found.append(Migration(int(match["version"]), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{directory}: two migration files share a version number")
    return found


async def current_versions(conn: asyncpg.Connection) -> set[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return set()
    return {row["version"] for row in await conn.fetch("SELECT version FROM schema_version")}


async def upgrade_schema(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    """Apply every migration whose version is not recorded yet, in order; returns their names.

    Each file runs in its own transaction with its ``schema_version`` row, so a failed file
    leaves the database at the previous version.
    """
    applied = []
    await conn.execute("SELECT pg_advisory_lock($1)", SCHEMA_LOCK_KEY)
    try:
        done = await current_versions(conn)
        for migration in load_migrations(directory):
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
            applied.append(migration.name)
            log.info("PostgreSQL schema: applied %s", migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", SCHEMA_LOCK_KEY)
    return applied
