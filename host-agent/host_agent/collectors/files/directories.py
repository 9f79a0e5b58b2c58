"""Which directories the filesystem watcher watches: the ``monitored_directories`` table.

The watcher only sees the small :class:`DirectorySource` interface: ``await load()`` returns the
current list and where it came from. :class:`PostgresDirectories` reads the enabled rows of
PostgreSQL's ``monitored_directories``; on the first contact with an empty table it copies the
directories of ``config.yaml`` into it.
A row applies to every host, or to one host: by its id (``host_id``, so that a renamed host keeps its
rows), else by its name (``host_identifier``); ``directory_applies_to()`` of schema 17 is the rule.
Every list read from PostgreSQL is kept in a small JSON
file in the data folder, so that when PostgreSQL cannot be reached the watcher goes on with the
last list it saw, else with ``config.yaml``. Each change of origin is logged once.

This module reads the table only; rows are added, disabled or removed by people (or the web UI).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg

from reprospective_db.connections import ASYNCPG_OPTIONS
from reprospective_db.secrets import describe_url, redact
from host_agent.core.timeutil import iso_from_epoch, now_epoch
from host_agent.core.config import AgentConfig
from host_agent.core import identity
from host_agent.core.errors import IdentityError
from host_agent.core.identity import host_identifier

log = logging.getLogger(__name__)

#: Seconds allowed to connect to PostgreSQL and for each statement. The list is re-read every
#: refresh interval (60 s by default), so a slow server only delays a refresh.
POSTGRES_TIMEOUT = 5.0

CACHE_FILE_NAME = "monitored_directories.json"

#: The rows a host watches ($1 its id, $2 its name): its own, and those for every host.
FOR_THIS_HOST = "directory_applies_to(host_id, host_identifier, $1, $2)"

#: What reading the table raises before the sync engine has applied the schema it needs.
SCHEMA_NOT_YET_APPLIED = (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError, asyncpg.UndefinedFunctionError)

#: Where a list came from.
FROM_POSTGRESQL = "postgresql"
FROM_CACHE = "last list seen"
FROM_CONFIG = "config.yaml"


@dataclass(frozen=True)
class DirectoryList:
    directories: tuple[Path, ...]
    origin: str  # FROM_POSTGRESQL, FROM_CACHE or FROM_CONFIG


class DirectorySource(Protocol):
    """What the watcher needs: the current list of directories to watch."""

    async def load(self) -> DirectoryList: ...


def normalise(paths: Iterable[str | os.PathLike[str]], *, where: str) -> tuple[Path, ...]:
    """Absolute, normalised, de-duplicated paths in their original order; others are reported."""
    seen: dict[str, None] = {}
    for raw in paths:
        text = os.fspath(raw)
        if not text.startswith("/"):
            log.warning("%s: ignoring %r: not an absolute path", where, text)
            continue
        seen.setdefault(os.path.normpath(text), None)
    return tuple(Path(p) for p in seen)


class StaticDirectories:
    """The directories of ``config.yaml``, for an agent without PostgreSQL."""

    def __init__(self, directories: Iterable[Path]) -> None:
        self.directories = normalise(directories, where="config.yaml filesystem_watcher.monitored_directories")
        self._announced = False

    async def load(self) -> DirectoryList:
        if not self._announced:
            log.info("monitored directories from config.yaml (no PostgreSQL configured): %d", len(self.directories))
            self._announced = True
        return DirectoryList(self.directories, FROM_CONFIG)


class PostgresDirectories:
    """The enabled rows of ``monitored_directories``, with a local copy for when PostgreSQL is away."""

    def __init__(
        self,
        postgres_url: str,
        config_directories: Iterable[Path],
        cache_path: Path,
        *,
        host: str | None = None,
        data_dir: Path | None = None,
        created_by: str = "agent",
        timeout: float = POSTGRES_TIMEOUT,
    ) -> None:
        self._url = postgres_url
        self.config_directories = normalise(
            config_directories, where="config.yaml filesystem_watcher.monitored_directories"
        )
        self.cache_path = Path(cache_path)
        self.host = host or host_identifier()
        self._data_dir = data_dir  # where this host's id is kept; None: rows set for an id never apply
        self._host_id: uuid.UUID | None = None
        self.created_by = created_by
        self.timeout = timeout
        self._seed_checked = False
        self._origin: str | None = None
        self._last_saved: tuple[Path, ...] | None = None

    async def load(self) -> DirectoryList:
        try:
            directories = await self._read_postgres()
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return await self._fallback(exc)
        if self._origin != FROM_POSTGRESQL:
            log.info(
                "monitored directories from PostgreSQL (%s): %d enabled", describe_url(self._url), len(directories)
            )
            self._origin = FROM_POSTGRESQL
        if directories != self._last_saved:
            await asyncio.to_thread(self._save_cache, directories)
        return DirectoryList(directories, FROM_POSTGRESQL)

    async def _read_postgres(self) -> tuple[Path, ...]:
        if self._host_id is None and self._data_dir is not None:
            try:
                self._host_id = await asyncio.to_thread(identity.host_id, self._data_dir)
            except IdentityError as exc:
                log.warning("monitored directories: %s: rows set for this host by its id are not watched", exc)
                self._data_dir = None
        conn = await asyncpg.connect(self._url, timeout=self.timeout, **ASYNCPG_OPTIONS)
        try:
            if not self._seed_checked:
                await self._seed_from_config(conn)
                self._seed_checked = True
            rows = await conn.fetch(
                f"SELECT directory_path FROM monitored_directories WHERE enabled AND {FOR_THIS_HOST} ORDER BY id",
                self._host_id,
                self.host,
                timeout=self.timeout,
            )
        finally:
            await conn.close(timeout=self.timeout)
        return normalise((row["directory_path"] for row in rows), where="PostgreSQL monitored_directories")

    async def _seed_from_config(self, conn: asyncpg.Connection) -> None:
        """On the first contact, when no row applies to this host, copy ``config.yaml``'s
        directories into the table as this host's own."""
        async with conn.transaction():
            count = await conn.fetchval(
                f"SELECT count(*) FROM monitored_directories WHERE {FOR_THIS_HOST}", self._host_id, self.host,
                timeout=self.timeout,
            )
            if count or not self.config_directories:
                return
            rows = []
            for path in self.config_directories:
                text = str(path)
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    log.warning("config.yaml: %r is not valid UTF-8 and cannot be stored in PostgreSQL", text)
                    continue
                rows.append((text, self._host_id, self.host, self.created_by))
            await conn.executemany(
                "INSERT INTO monitored_directories "
                "(directory_path, host_id, host_identifier, enabled, created_by, updated_by) "
                "VALUES ($1, $2, $3, TRUE, $4, $4) ON CONFLICT DO NOTHING",
                rows,
                timeout=self.timeout,
            )
        log.info("no monitored directory in PostgreSQL for this host: copied %d from config.yaml", len(rows))

    async def _fallback(self, exc: BaseException) -> DirectoryList:
        reason = redact(str(exc) or type(exc).__name__, self._url)
        cached = await asyncio.to_thread(self._read_cache)
        if cached is not None:
            directories, saved_at = cached
            origin, detail = FROM_CACHE, f"the last list seen ({self.cache_path}, saved {saved_at})"
        else:
            directories = self.config_directories
            origin, detail = FROM_CONFIG, "config.yaml (no list seen yet)"
        if self._origin != origin:
            # A brand-new server has no schema, an older one lacks its newest parts, until the sync
            # engine applies them at start-up: not a problem, the next refresh reads the table.
            level = logging.INFO if isinstance(exc, SCHEMA_NOT_YET_APPLIED) else logging.WARNING
            log.log(
                level,
                "monitored directories: cannot read them from PostgreSQL (%s): using %s: %d directories",
                reason,
                detail,
                len(directories),
            )
            self._origin = origin
        return DirectoryList(directories, origin)

    # -- the local copy ------------------------------------------------------------------

    def _save_cache(self, directories: tuple[Path, ...]) -> None:
        data = {"directories": [str(p) for p in directories], "saved_at": iso_from_epoch(now_epoch())}
        tmp = self.cache_path.with_name(self.cache_path.name + ".tmp")
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            os.replace(tmp, self.cache_path)
        except (OSError, UnicodeEncodeError) as exc:
            log.warning("cannot keep the directory list in %s: %s", self.cache_path, exc)
            return
        self._last_saved = directories

    def _read_cache(self) -> tuple[tuple[Path, ...], str] | None:
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
            paths = data["directories"]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise ValueError("'directories' must be a list of paths")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the saved directory list %s: %s", self.cache_path, exc)
            return None
        return normalise(paths, where=str(self.cache_path)), str(data.get("saved_at", "at an unknown time"))


def directory_source_for(config: AgentConfig, postgres_url: str | None) -> DirectorySource:
    """PostgreSQL's table when a URL is known, else ``config.yaml``'s list."""
    settings = config.filesystem_watcher
    if postgres_url is None:
        return StaticDirectories(settings.monitored_directories)
    return PostgresDirectories(postgres_url, settings.monitored_directories, config.data_dir / CACHE_FILE_NAME,
                               host=config.host_identifier, data_dir=config.data_dir)
