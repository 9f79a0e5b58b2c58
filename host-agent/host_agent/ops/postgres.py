"""The PostgreSQL the agent syncs to, as seen by the operating commands.

Either the embedded cluster under ``<data_dir>/postgres`` (no URL configured) or the server
``database.postgres_url`` / ``DATABASE_URL`` names. Only the embedded cluster is started,
stopped or created here; an external server is only connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from reprospective_db.cluster import EmbeddedPostgres
from reprospective_db.connections import ASYNCPG_OPTIONS
from reprospective_db import schema as pg_schema
from host_agent.core.agent_lock import running_agent_pid
from reprospective_db.secrets import describe_url, password_of, redact, url_without_password
from host_agent.sync.errors import describe
from host_agent.core.config import AgentConfig
from host_agent.core.errors import AgentError, EmbeddedPostgresError

log = logging.getLogger(__name__)

#: How long a status check or a one-off command waits to connect.
CONNECT_TIMEOUT = 5


class PostgresUnavailableError(AgentError):
    """PostgreSQL cannot be reached (or the embedded cluster is not running)."""


@dataclass(frozen=True)
class Target:
    kind: str  # "embedded" | "external"
    url: str | None  # with its password (never print it); None: embedded cluster not running
    shown: str  # printable: no password
    problem: str | None = None  # why there is no URL


def embedded_cluster(config: AgentConfig) -> EmbeddedPostgres:
    """The embedded cluster of this configuration: ``<data_dir>/postgres``."""
    return EmbeddedPostgres(config.data_dir / "postgres")


def target(config: AgentConfig) -> Target:
    """Where PostgreSQL is, without starting anything."""
    if not config.uses_embedded_postgres:
        url = config.postgres_url or ""
        return Target("external", url, describe_url(url))
    cluster = embedded_cluster(config)
    shown = f"embedded cluster in {cluster.cluster_dir}"
    try:
        if not cluster.initialised:
            return Target("embedded", None, shown, "the embedded cluster is not created yet")
        if not cluster.running():
            return Target("embedded", None, shown, "the embedded PostgreSQL server is not running")
    except EmbeddedPostgresError as exc:
        return Target("embedded", None, shown, str(exc))
    return Target("embedded", cluster.url(), shown)


def require_url(config: AgentConfig) -> str:
    found = target(config)
    if found.url is None:
        raise PostgresUnavailableError(
            f"PostgreSQL: {found.problem}", hint="start it with scripts/start.sh (or start the agent)"
        )
    return found.url


@contextlib.asynccontextmanager
async def connect(url: str, timeout: float = CONNECT_TIMEOUT) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await asyncpg.connect(url, timeout=timeout, **ASYNCPG_OPTIONS)
    except Exception as exc:
        raise PostgresUnavailableError(f"cannot connect to {describe_url(url)}: {redact(describe(exc), url)}") from None
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), timeout)


# -- the embedded cluster ----------------------------------------------------------------------


def start_embedded(config: AgentConfig) -> tuple[str, bool]:
    """Create (once) and start the embedded cluster and its database; returns (url, started now)."""
    if not config.uses_embedded_postgres:
        raise EmbeddedPostgresError(
            f"PostgreSQL is configured at {describe_url(config.postgres_url or '')}; the agent does not manage it",
            hint="start that server yourself, or unset DATABASE_URL / database.postgres_url to use the embedded one",
        )
    cluster = embedded_cluster(config)
    started = cluster.start()
    cluster.ensure_database()
    return cluster.url(), started


def stop_embedded(config: AgentConfig, *, force: bool = False) -> bool:
    """Stop the embedded cluster; returns False when it was not running."""
    if not config.uses_embedded_postgres:
        raise EmbeddedPostgresError(
            f"PostgreSQL is configured at {describe_url(config.postgres_url or '')}; the agent does not manage it"
        )
    pid = running_agent_pid(config.data_dir)
    if pid and not force:
        raise AgentError(
            f"the agent (pid {pid}) is running and uses the embedded PostgreSQL",
            hint="stop the agent first (scripts/stop-agent.sh); it stops the cluster it started",
        )
    cluster = embedded_cluster(config)
    if not cluster.running():
        return False
    cluster.stop()
    return True


# -- psql and reset ----------------------------------------------------------------------------


def psql_command(url: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``psql`` command line and environment for ``url``: the password travels in
    ``PGPASSWORD`` (visible to the same user only), never on the command line."""
    psql = shutil.which("psql")
    if psql is None:
        raise AgentError("psql is not installed", hint="Debian: apt-get install postgresql-client")
    env = dict(os.environ)
    password = password_of(url)
    if password:
        env["PGPASSWORD"] = password
    return [psql, url_without_password(url), *args], env


async def reset_database(config: AgentConfig) -> list[str]:
    """Drop Reprospective's tables, views and functions, then apply every migration again.

    Refuses while an agent runs for this data folder (it caches the schema as present).
    Local rows keep their ``synced_at``; the dropped data is not sent again.
    """
    pid = running_agent_pid(config.data_dir)
    if pid:
        raise AgentError(
            f"the agent (pid {pid}) is running", hint="stop it first (scripts/stop-agent.sh), then reset"
        )
    url = require_url(config)
    async with connect(url) as conn:
        await pg_schema.drop_schema(conn)
        return await pg_schema.upgrade_schema(conn)
