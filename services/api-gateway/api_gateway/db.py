"""The asyncpg pool, owned by the app's lifespan, and the schema check at start-up.

The pool is created with ``min_size=0``: the gateway starts (and ``/health`` answers 503 with
the reason) while PostgreSQL is down, and connects when it is back. Every connection carries a
``statement_timeout``, so a request can never hold the server for long.
"""

from __future__ import annotations

import logging

import asyncpg
from reprospective_db.schema import current_versions, latest_version, upgrade_schema
from reprospective_db.secrets import describe_url, redact

from api_gateway.config import Settings

log = logging.getLogger(__name__)

#: The schema the gateway's queries need: 05 gave monitored_directories its host column, 07 the
#: rollups, 08 the session span index, 09 the per-project and per-extension rollups, 10 the
#: per-host totals, 11 the hourly totals, 12 the hourly rollups across all hosts.
REQUIRED_VERSION = 12


async def create_pool(settings: Settings) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.database_url,
        min_size=0,
        max_size=settings.pool_max_size,
        timeout=settings.connect_timeout,
        command_timeout=settings.statement_timeout + 5,
        max_inactive_connection_lifetime=60,
        server_settings={
            "application_name": "reprospective-api",
            "statement_timeout": str(int(settings.statement_timeout * 1000)),
            # The gateway's queries are short index ranges whose cost estimates can be high
            # (a year of rows behind a LIMIT); compiling them costs more than running them.
            "jit": "off",
            # Every query is a time range given as parameters; asyncpg's prepared statements would
            # otherwise switch to a generic plan after five runs, blind to how wide the range is.
            "plan_cache_mode": "force_custom_plan",
        },
    )


def describe_error(exc: BaseException, settings: Settings) -> str:
    """A one-line reason for an operator, with any password of the URL masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact(text, settings.database_url)


async def prepare_schema(pool: asyncpg.Pool, settings: Settings) -> None:
    """Bring the schema up to date when allowed and possible; say what happened, never fail."""
    try:
        async with pool.acquire(timeout=settings.connect_timeout) as conn:
            done = await current_versions(conn)
            if settings.upgrade_schema and max(done, default=0) < latest_version():
                applied = await upgrade_schema(conn)
                log.info("PostgreSQL schema: applied %s", ", ".join(applied) or "nothing")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("PostgreSQL %s not ready at start-up: %s", describe_url(settings.database_url),
                    describe_error(exc, settings))
