"""How local values travel to PostgreSQL without being rebuilt in Python row by row.

SQLite holds times as UTC epoch seconds and flags as 0/1; PostgreSQL's columns are
``timestamptz`` and ``boolean``. asyncpg's built-in codecs would need a ``datetime`` and a
``bool`` for each value, that is, a new Python object per value and a new tuple per row. The
sync connections instead register these two codecs, so rows read from SQLite go to ``COPY``
exactly as they come (asyncpg calls the encoder per value, which costs a few percent of a
``datetime`` construction).

Only the sync engine's pool uses them; on those connections a fetched ``timestamptz`` is a
float of epoch seconds. https://magicstack.github.io/asyncpg/current/usage.html#custom-type-conversions
"""

from __future__ import annotations

import asyncpg

#: Seconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
PG_EPOCH_OFFSET = 946_684_800


def _epoch_to_pg(value: float) -> tuple[int]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a time must be epoch seconds, got {type(value).__name__} {value!r}")
    return (round((value - PG_EPOCH_OFFSET) * 1_000_000),)


def _pg_to_epoch(value: tuple[int]) -> float:
    return value[0] / 1_000_000 + PG_EPOCH_OFFSET


def _flag_to_pg(value: int | bool) -> bytes:
    if value not in (0, 1):  # True/False compare equal to 1/0
        raise TypeError(f"a flag must be 0 or 1, got {value!r}")
    return b"\x01" if value else b"\x00"


def _pg_to_flag(data: bytes) -> bool:
    return data != b"\x00"


async def register_sync_codecs(conn: asyncpg.Connection) -> None:
    """Pool ``init`` hook: epoch seconds for ``timestamptz``, 0/1 for ``boolean``."""
    await conn.set_type_codec(
        "timestamptz", schema="pg_catalog", encoder=_epoch_to_pg, decoder=_pg_to_epoch, format="tuple"
    )
    await conn.set_type_codec("bool", schema="pg_catalog", encoder=_flag_to_pg, decoder=_pg_to_flag, format="binary")
