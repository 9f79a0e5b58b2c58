"""The sync connections' codecs: values go to ``COPY`` exactly as SQLite gives them.

SQLite already computed every time as microseconds since PostgreSQL's epoch and every flag as
0/1 (:mod:`host_agent.store.pg_values`). These codecs only pack them into PostgreSQL's binary
format, with C-level callables (``int.to_bytes``, a dict lookup): no Python frame per value.
A value of the wrong type raises in the driver (TypeError, KeyError, OverflowError), which
the sync turns into a held-back row.

Only the sync engine's pool uses them; on those connections a fetched ``timestamptz`` is an
integer of microseconds since 2000-01-01 UTC. https://magicstack.github.io/asyncpg/current/usage.html#custom-type-conversions
"""

from __future__ import annotations

import functools

import asyncpg

_int64 = functools.partial(int.to_bytes, length=8, byteorder="big", signed=True)
_from_int64 = functools.partial(int.from_bytes, byteorder="big", signed=True)
_flag = {0: b"\x00", 1: b"\x01"}.__getitem__

#: What the driver raises for a value it cannot encode with these codecs (or its own).
ENCODING_ERRORS = (UnicodeError, TypeError, ValueError, KeyError, OverflowError)


def _pg_to_flag(data: bytes) -> bool:
    return data != b"\x00"


async def register_sync_codecs(conn: asyncpg.Connection) -> None:
    """Pool ``init`` hook: ``timestamptz`` as microseconds since 2000-01-01 UTC, ``boolean`` as 0/1."""
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=_int64, decoder=_from_int64, format="binary")
    await conn.set_type_codec("bool", schema="pg_catalog", encoder=_flag, decoder=_pg_to_flag, format="binary")
