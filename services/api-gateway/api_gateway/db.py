"""The asyncpg pool, owned by the app's lifespan, and the schema check at start-up.

The pool is created with ``min_size=0``: the gateway starts (and ``/health`` answers 503 with
the reason) while PostgreSQL is down, and connects when it is back. Every connection carries a
``statement_timeout``, so a request can never hold the server for long.
"""

from __future__ import annotations

import logging

import asyncpg
from reprospective_db.schema import current_versions, load_migrations, upgrade_schema
from reprospective_db.connections import ASYNCPG_OPTIONS
from reprospective_db.secrets import describe_url, redact

from api_gateway.config import Settings

log = logging.getLogger(__name__)

#: The schema the gateway's queries need: 05 gave monitored_directories its host column, 07 the
#: rollups, 08 the session span index, 09 the per-project and per-extension rollups, 10 the
#: per-host totals, 11 the hourly totals, 12 the hourly rollups across all hosts, 13 the hosts and
#: their origins, 14 how a file change was found, 17 the host id of a monitored directory. Every
#: version up to it must be applied.
REQUIRED_VERSION = 17


#: Session settings a pooler may refuse at start-up (PgBouncer accepts only a few, such as
#: application_name); without them the statement timeout is still enforced on the client side.
_POOLER_SAFE_SETTINGS = ("application_name",)
_pooler_noted = False


async def _connect(*args, **kwargs) -> asyncpg.Connection:
    """Connect with the session settings; if a pooler in between refuses them (PgBouncer:
    "unsupported startup parameter"), connect again with only the ones it takes."""
    global _pooler_noted
    try:
        return await asyncpg.connect(*args, **kwargs)
    except asyncpg.PostgresError as exc:
        if "unsupported startup parameter" not in str(exc):
            raise
    if not _pooler_noted:
        _pooler_noted = True
        log.info("PostgreSQL is reached through a pooler that refuses session settings: "
                 "statement timeouts are enforced by the gateway itself")
    settings = {k: v for k, v in (kwargs.get("server_settings") or {}).items() if k in _POOLER_SAFE_SETTINGS}
    return await asyncpg.connect(*args, **{**kwargs, "server_settings": settings})


async def create_pool(settings: Settings) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.database_url,
        connect=_connect,
        min_size=0,
        max_size=settings.pool_max_size,
        timeout=settings.connect_timeout,
        command_timeout=settings.statement_timeout + 5,
        max_inactive_connection_lifetime=60,
        **ASYNCPG_OPTIONS,  # works through PgBouncer in transaction pooling mode too
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
            # Any missing file, not only newer ones: migrations may land out of order.
            if settings.upgrade_schema and {m.version for m in load_migrations()} - done:
                applied = await upgrade_schema(conn)
                log.info("PostgreSQL schema: applied %s", ", ".join(applied) or "nothing")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("PostgreSQL %s not ready at start-up: %s", describe_url(settings.database_url),
                    describe_error(exc, settings))
