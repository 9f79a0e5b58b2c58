"""Monitored directories: the rules for a valid row and the SQL that reads and writes them.

The API and the ``/directories`` page share these, so a form and a JSON body are checked alike.
A row with ``host_identifier`` NULL applies to every host; the agent of host H watches
``WHERE enabled AND (host_identifier IS NULL OR host_identifier = H)``.
"""

from __future__ import annotations

import posixpath
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PATH = 4096  # PATH_MAX on Linux
MAX_DISPLAY_NAME = 100
MAX_DESCRIPTION = 500
MAX_HOST = 255

COLUMNS = ("id, directory_path, enabled, display_name, description, host_identifier, "
           "created_at, updated_at, created_by, updated_by")


class DuplicateDirectory(Exception):
    pass


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
                                        description="hostname_username of the one host it applies to; null: every host")

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
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None


async def list_directories(conn: asyncpg.Connection, host: str | None = None,
                           enabled: bool | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM monitored_directories "
        "WHERE ($1::text IS NULL OR host_identifier IS NULL OR host_identifier = $1) "
        "AND ($2::boolean IS NULL OR enabled = $2) ORDER BY directory_path, host_identifier NULLS FIRST, id",
        host, enabled,
    )


async def get_directory(conn: asyncpg.Connection, directory_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM monitored_directories WHERE id = $1", directory_id)


async def create_directory(conn: asyncpg.Connection, item: DirectoryIn, who: str) -> asyncpg.Record:
    try:
        return await conn.fetchrow(
            "INSERT INTO monitored_directories (directory_path, display_name, description, enabled, host_identifier, "
            f"created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}",
            item.directory_path, item.display_name, item.description, item.enabled, item.host_identifier, who,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateDirectory() from None


async def update_directory(conn: asyncpg.Connection, directory_id: int, item: DirectoryIn,
                           who: str) -> asyncpg.Record | None:
    try:
        return await conn.fetchrow(
            "UPDATE monitored_directories SET directory_path = $2, display_name = $3, description = $4, enabled = $5, "
            f"host_identifier = $6, updated_by = $7 WHERE id = $1 RETURNING {COLUMNS}",
            directory_id, item.directory_path, item.display_name, item.description, item.enabled,
            item.host_identifier, who,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateDirectory() from None


async def toggle_directory(conn: asyncpg.Connection, directory_id: int, who: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"UPDATE monitored_directories SET enabled = NOT enabled, updated_by = $2 WHERE id = $1 RETURNING {COLUMNS}",
        directory_id, who,
    )


async def delete_directory(conn: asyncpg.Connection, directory_id: int) -> bool:
    return await conn.execute("DELETE FROM monitored_directories WHERE id = $1", directory_id) == "DELETE 1"
