"""Monitored directories: the rules for a valid row and the SQL that reads and writes them.

The API and the ``/directories`` page share these, so a form and a JSON body are checked alike.
A row applies to every host, or to one: a client names it by its ``host_identifier`` or its host id,
and the row keeps the host's id when one known host answers to it (so the row follows the host
through a rename), else the name alone (a host that has not synced yet). The agent applies
``directory_applies_to()`` of schema 17; rows are shown with the host's current name.
"""

from __future__ import annotations

import posixpath
import uuid
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PATH = 4096  # PATH_MAX on Linux
MAX_DISPLAY_NAME = 100
MAX_DESCRIPTION = 500
MAX_HOST = 255

#: A row as clients see it: the host's current name when the row follows a known host.
COLUMNS = ("d.id, d.directory_path, d.enabled, d.display_name, d.description, d.host_id, "
           "COALESCE(h.host_identifier, d.host_identifier) AS host_identifier, "
           "d.created_at, d.updated_at, d.created_by, d.updated_by")
FROM = "monitored_directories d LEFT JOIN hosts h ON h.host_id = d.host_id"


class DuplicateDirectory(Exception):
    pass


class UnknownHost(ValueError):
    """The host a directory is set for cannot be told: an id no host has, or a name two hosts share."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("may not contain a NUL character")
    return value


class DirectoryIn(BaseModel):
    """A directory as sent by a client (POST and PUT send every field)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    directory_path: str = Field(min_length=1, max_length=MAX_PATH, description="absolute path, e.g. /home/me/src")
    display_name: str | None = Field(None, max_length=MAX_DISPLAY_NAME)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    enabled: bool = True
    host_identifier: str | None = Field(None, max_length=MAX_HOST,
                                        description="the one host it applies to, by name (hostname_username) "
                                                    "or host id (see /api/v1/hosts); null: every host")

    @field_validator("directory_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        _no_nul(value)
        if not value.startswith("/"):
            raise ValueError("must be an absolute path (starting with /)")
        normal = posixpath.normpath(value)
        return "/" if normal == "//" else normal

    @field_validator("display_name", "description", "host_identifier")
    @classmethod
    def _optional_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _no_nul(value)
        return value or None


class DirectoryOut(BaseModel):
    id: int
    directory_path: str
    enabled: bool
    display_name: str | None
    description: str | None
    host_identifier: str | None
    host_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None


async def resolve_host(conn: asyncpg.Connection, wanted: str | None) -> tuple[uuid.UUID | None, str | None]:
    """The (host id, name) a directory set for ``wanted`` is stored with: a host id or the current
    name of one host gives that host; a name no host has yet is kept as a name."""
    if wanted is None:
        return None, None
    found = await conn.fetch(
        "SELECT host_id, host_identifier FROM hosts WHERE host_id::text = lower($1) OR host_identifier = $1 "
        "ORDER BY host_id::text = lower($1) DESC, host_id", wanted)
    if found and str(found[0]["host_id"]) == wanted.lower():
        return found[0]["host_id"], found[0]["host_identifier"]
    if len(found) > 1:
        ids = ", ".join(str(r["host_id"]) for r in found)
        raise UnknownHost(f"{len(found)} hosts are named {wanted!r}: give the host id of the one meant ({ids})")
    if found:
        return found[0]["host_id"], found[0]["host_identifier"]
    try:
        uuid.UUID(wanted)
    except ValueError:
        return None, wanted
    raise UnknownHost(f"no host has the id {wanted} (see /api/v1/hosts)")


async def list_directories(conn: asyncpg.Connection, host: str | None = None,
                           enabled: bool | None = None) -> list[asyncpg.Record]:
    """Every row, or the rows the host ``host`` (a name or an id) watches: its own and the shared ones."""
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM {FROM} "
        "WHERE ($1::text IS NULL OR (d.host_id IS NULL AND (d.host_identifier IS NULL OR d.host_identifier = $1)) "
        "       OR h.host_id::text = lower($1) OR h.host_identifier = $1) "
        "AND ($2::boolean IS NULL OR d.enabled = $2) "
        "ORDER BY d.directory_path, COALESCE(h.host_identifier, d.host_identifier) NULLS FIRST, d.id",
        host, enabled,
    )


async def get_directory(conn: asyncpg.Connection, directory_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE d.id = $1", directory_id)


async def create_directory(conn: asyncpg.Connection, item: DirectoryIn, who: str) -> asyncpg.Record:
    host_id, name = await resolve_host(conn, item.host_identifier)
    try:
        made = await conn.fetchval(
            "INSERT INTO monitored_directories (directory_path, display_name, description, enabled, host_id, "
            "host_identifier, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            item.directory_path, item.display_name, item.description, item.enabled, host_id, name, who,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateDirectory() from None
    return await get_directory(conn, made)


async def update_directory(conn: asyncpg.Connection, directory_id: int, item: DirectoryIn,
                           who: str) -> asyncpg.Record | None:
    host_id, name = await resolve_host(conn, item.host_identifier)
    try:
        changed = await conn.fetchval(
            "UPDATE monitored_directories SET directory_path = $2, display_name = $3, description = $4, enabled = $5, "
            "host_id = $6, host_identifier = $7, updated_by = $8 WHERE id = $1 RETURNING id",
            directory_id, item.directory_path, item.display_name, item.description, item.enabled,
            host_id, name, who,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateDirectory() from None
    return None if changed is None else await get_directory(conn, changed)


async def toggle_directory(conn: asyncpg.Connection, directory_id: int, who: str) -> asyncpg.Record | None:
    changed = await conn.fetchval(
        "UPDATE monitored_directories SET enabled = NOT enabled, updated_by = $2 WHERE id = $1 RETURNING id",
        directory_id, who,
    )
    return None if changed is None else await get_directory(conn, changed)


async def delete_directory(conn: asyncpg.Connection, directory_id: int) -> bool:
    return await conn.execute("DELETE FROM monitored_directories WHERE id = $1", directory_id) == "DELETE 1"
