"""Bringing a PostgreSQL database's schema up to date from ``init/NN_*.sql``: the one owner.

The same files serve every way in: the PostgreSQL Docker entrypoint applies them all to an
empty database; the agent, the API gateway and ``reprospective-db upgrade`` call
:func:`upgrade_schema`, which applies the ones ``schema_version`` lacks. Every file is
idempotent, so running one twice is harmless.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from reprospective_db.errors import SchemaError

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(?P<version>\d{2})_[a-z0-9_]+\.sql$")

#: Arbitrary constant: the advisory lock key under which a schema is upgraded, so that two
#: hosts (or an agent and the gateway) starting at once do not race on the same ALTER TABLE.
#: Always taken as a transaction-level lock (see :func:`upgrade_schema`).
SCHEMA_LOCK_KEY = 0x5245_5052  # "REPR"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations_dir() -> Path:
    """The packaged ``services/database/init`` folder."""
    return Path(str(resources.files("reprospective_db") / "init"))


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise SchemaError(f"{path}: migration files are named NN_snake_case.sql")
        found.append(Migration(int(match["version"]), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise SchemaError(f"{directory}: two migration files share a version number")
    return found


def latest_version(directory: Path | None = None) -> int:
    return max((m.version for m in load_migrations(directory)), default=0)


async def current_versions(conn: asyncpg.Connection) -> set[int]:
    # Read from the catalog table with this statement's snapshot: to_regclass() answers from the
    # session's catalog cache, which can still miss a table another host created while this
    # transaction waited for the schema lock (and reading pg_class makes the session catch up).
    exists = await conn.fetchval(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
        "AND tablename = 'schema_version')"
    )
    if not exists:
        return set()
    return {row["version"] for row in await conn.fetch("SELECT version FROM schema_version")}


async def upgrade_schema(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    """Apply every migration whose version is not recorded yet, in order; returns their names.

    Each file runs in its own transaction with its ``schema_version`` row, so a failed file
    leaves the database at the previous version. That transaction first takes the schema's
    advisory lock (a transaction-level one, released by the commit: it holds through a pooler
    such as PgBouncer in transaction mode, where a session-level lock taken by one statement
    could be left behind on a server connection another client gets next) and only then reads
    ``schema_version`` again: two hosts upgrading at once apply each file once, one after the other.
    """
    migrations = load_migrations(directory)
    done = await current_versions(conn)
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
            if migration.version in await current_versions(conn):  # applied meanwhile by another host
                continue
            await conn.execute(migration.sql)
        applied.append(migration.name)
        log.info("PostgreSQL schema: applied %s", migration.name)
    await ensure_partitions(conn)
    return applied


async def ensure_partitions(conn: asyncpg.Connection) -> int:
    """Make the coming months' partitions of the partitioned fact tables exist (schema 15's
    ``ensure_activity_partitions``; nothing on the plain layout); returns how many were created.

    A failure (a role that may not create tables) is logged and changes nothing else: rows of a
    month without its partition go to the DEFAULT partition, and move out when the month is created.
    """
    if not await conn.fetchval("SELECT to_regproc('ensure_activity_partitions') IS NOT NULL"):
        return 0
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
            created = await conn.fetchval("SELECT ensure_activity_partitions()")
    except asyncpg.PostgresError as exc:
        log.warning("PostgreSQL schema: the coming months' partitions were not created: %s", exc)
        return 0
    if created:
        log.info("PostgreSQL schema: created %d monthly partitions", created)
    return created


_CREATED = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?P<kind>TABLE|VIEW|MATERIALIZED\s+VIEW|FUNCTION)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\w+)",
    re.IGNORECASE,
)


def schema_objects(directory: Path | None = None) -> dict[str, list[str]]:
    """The tables, views and functions the migrations create, read from the migration files."""
    found: dict[str, list[str]] = {"TABLE": [], "VIEW": [], "FUNCTION": []}
    for migration in load_migrations(directory):
        for match in _CREATED.finditer(migration.sql):
            kind = "VIEW" if "VIEW" in match["kind"].upper() else match["kind"].upper()
            if match["name"] not in found[kind]:
                found[kind].append(match["name"])
    return found


async def drop_schema(conn: asyncpg.Connection, directory: Path | None = None) -> None:
    """Drop every table, view and function the migrations create (all synced data is lost)."""
    objects = schema_objects(directory)
    async with conn.transaction():
        for view in objects["VIEW"]:
            await conn.execute(f"DROP VIEW IF EXISTS {view} CASCADE")
            await conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {view} CASCADE")
        for table in reversed(objects["TABLE"]):
            await conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        for function in objects["FUNCTION"]:
            await conn.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")
