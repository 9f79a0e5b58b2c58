"""This host in PostgreSQL's ``hosts`` table (schema 13): its id, current name, origins, agent
version, clock offset, and when it last synced.

The sync calls :meth:`HostRecord.register` once per run, right after comparing clocks (one
statement on the connection it already has), and :meth:`HostRecord.synced` after a run in which
every table synced (one UPDATE by primary key). Neither ever fails a run: rows sync whether or not
the host could be recorded (a server whose schema the agent may not change, a revoked grant);
the reason is logged once, at warning level, until recording works again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable

import asyncpg

from host_agent import __version__

log = logging.getLogger(__name__)

#: One statement: the host's row (renamed if its name changed: the old name moves to
#: previous_identifiers) and its origins (an origin seen under another host id moves here).
REGISTER_SQL = """
WITH host AS (
    INSERT INTO hosts AS h (host_id, host_identifier, agent_version, clock_offset_seconds, clock_measured_at)
    VALUES ($1, $2, $3, $4::float8, CASE WHEN $4::float8 IS NULL THEN NULL ELSE now() END)
    ON CONFLICT (host_id) DO UPDATE SET
        host_identifier = EXCLUDED.host_identifier,
        previous_identifiers = CASE WHEN h.host_identifier = EXCLUDED.host_identifier THEN h.previous_identifiers
            ELSE array_append(array_remove(array_remove(h.previous_identifiers, h.host_identifier),
                                           EXCLUDED.host_identifier), h.host_identifier) END,
        last_seen = now(),
        agent_version = EXCLUDED.agent_version,
        clock_offset_seconds = COALESCE(EXCLUDED.clock_offset_seconds, h.clock_offset_seconds),
        clock_measured_at = COALESCE(EXCLUDED.clock_measured_at, h.clock_measured_at)
    RETURNING host_id
)
INSERT INTO host_origins AS o (origin_id, host_id)
SELECT origin, (SELECT host_id FROM host) FROM unnest($5::uuid[]) AS origin
ON CONFLICT (origin_id) DO UPDATE SET host_id = EXCLUDED.host_id WHERE o.host_id IS DISTINCT FROM EXCLUDED.host_id
"""

SYNCED_SQL = "UPDATE hosts SET last_sync_at = now() WHERE host_id = $1"


class HostRecord:
    """What the sync writes about this host, and whether the last attempt worked."""

    def __init__(self, host_id: uuid.UUID, host_identifier: str, *, agent_version: str = __version__,
                 redact: Callable[[str], str] = str) -> None:
        self.host_id = host_id
        self.host_identifier = host_identifier
        self.agent_version = agent_version
        self._redact = redact  # a message may quote the connection URL
        self._problem: str | None = None  # the reason last logged, so that it is logged once

    async def register(self, conn: asyncpg.Connection, origins: Iterable[str | uuid.UUID],
                       clock_offset: float | None, timeout: float) -> bool:
        """Record this host, its origins and the clock offset just measured (None: not measured)."""
        return await self._attempt(
            conn, REGISTER_SQL, self.host_id, self.host_identifier, self.agent_version, clock_offset,
            sorted({uuid.UUID(str(o)) for o in origins}), timeout=timeout,
        )

    async def synced(self, conn: asyncpg.Connection, timeout: float) -> bool:
        """Mark the end of a run in which every table synced."""
        return await self._attempt(conn, SYNCED_SQL, self.host_id, timeout=timeout)

    async def _attempt(self, conn: asyncpg.Connection, sql: str, *args: object, timeout: float) -> bool:
        try:
            await conn.execute(sql, *args, timeout=timeout)
        except Exception as exc:  # PostgreSQL away, no such table, no grant: the rows sync anyway
            self.failed(self._redact(f"{type(exc).__name__}: {exc}"))
            return False
        if self._problem is not None:
            log.info("this host is recorded in PostgreSQL's hosts table again")
            self._problem = None
        return True

    def failed(self, reason: str) -> None:
        """Note that recording the host failed; said once per distinct reason."""
        if reason != self._problem:
            log.warning("this host (%s) is not recorded in PostgreSQL's hosts table: %s; its rows sync anyway",
                        self.host_identifier, reason)
        self._problem = reason
