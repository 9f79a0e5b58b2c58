"""Local values in the form PostgreSQL's binary ``COPY`` takes them, computed by SQLite itself.

The sync sends rows with ``COPY … FROM STDIN (FORMAT binary)``. Text and integers travel as
they are. Times are UTC epoch seconds locally and ``timestamptz`` remotely: SQLite computes the
microseconds since PostgreSQL's epoch (2000-01-01 UTC) in its own C code, so the driver only
packs an integer (:mod:`host_agent.sync.codecs`). Flags are 0/1 locally and ``boolean``
remotely. No Python code runs per value.

A value of the wrong type for its column (text in a time column, a flag that is neither 0 nor
1) comes out as a text naming the column and the value; the driver cannot encode it, and the
sync holds that row back with that reason.
"""

from __future__ import annotations

TEXT, INTEGER, TIME, FLAG = "text", "integer", "time", "flag"
KINDS = (TEXT, INTEGER, TIME, FLAG)

#: Seconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
PG_EPOCH_OFFSET = 946_684_800


def value_sql(column: str, kind: str) -> str:
    """The SQLite expression giving ``t.column`` as the binary COPY codecs take it."""
    c = f"t.{column}"
    if kind in (TEXT, INTEGER):
        return c
    if kind == TIME:
        return (
            f"CASE typeof({c}) WHEN 'integer' THEN ({c} - {PG_EPOCH_OFFSET}) * 1000000 "
            f"WHEN 'real' THEN CAST(round(({c} - {PG_EPOCH_OFFSET}) * 1000000) AS INTEGER) "
            f"WHEN 'null' THEN NULL ELSE '{column} is not epoch seconds: ' || {c} END"
        )
    if kind == FLAG:
        return f"CASE WHEN {c} IS NULL OR {c} IN (0, 1) THEN {c} ELSE '{column} is ' || {c} || ', not 0 or 1' END"
    raise ValueError(f"unknown column kind {kind!r} (one of {', '.join(KINDS)})")


def pg_time(epoch_seconds: float) -> int:
    """A time in the form :func:`value_sql` gives: microseconds since PostgreSQL's epoch."""
    return round((epoch_seconds - PG_EPOCH_OFFSET) * 1_000_000)
