"""Local rows as ``COPY … FROM STDIN`` text, written by SQLite itself: the sync's wire format.

The sync sends a batch as one block of PostgreSQL's text ``COPY`` format, written inside SQLite
so that Python sees one bytes object per batch instead of a dozen values per row:

- a batch is written by the ``copy_text()`` aggregate (:func:`copy_text_sql`), compiled C in
  ``_copy_text.c`` that every connection the stores open has (:func:`enable_copy_text`). It
  escapes backslash, tab, newline and carriage return, writes ``\\N`` for NULL, and gives NULL
  for the whole batch if any value cannot travel: a value of the wrong type for its column (text
  in a time column, a flag that is neither 0 nor 1), a time outside years 1 to 9999, text that
  is not UTF-8 or holds a NUL character;
- such a batch is then read again row by row (:func:`problem_sql`, :func:`line_format_sql`):
  one ``printf()`` per row, the fields unescaped, each after a marker byte that UTF-8 never
  holds (``0xFF`` before a value, ``0xFD`` before a NULL, ``0xFE`` after the row), and
  :func:`finish_copy_row` escapes the line and turns the markers into tabs, ``\\N`` and a
  newline. A row with a reason from SQLite, or one :func:`finish_copy_row` raises, is held back
  with it; the rest go. (``printf()`` would cut a text at a NUL character; the rare row holding
  one is written with ``||`` instead, which keeps it, and PostgreSQL refuses it.)

Both write the same bytes for every row that can travel (``tests/sync/test_copy_text.py``).

Times are UTC epoch seconds locally and ``timestamptz`` remotely, written as ISO text in UTC
(``2026-05-28 20:43:19.250000+00``, to the nearest microsecond, half away from zero). Flags
are 0/1 locally and ``boolean`` remotely (PostgreSQL reads ``0`` and ``1``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from host_agent.core.errors import StoreError
from host_agent.store import _copy_text

TEXT, INTEGER, TIME, FLAG = "text", "integer", "time", "flag"
KINDS = (TEXT, INTEGER, TIME, FLAG)

#: Seconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC), as ``copy_text()`` has it.
PG_EPOCH_OFFSET: int = _copy_text.PG_EPOCH_OFFSET
#: The times SQLite's date functions (and so the sync) can write: 0001-01-01 to 9999-12-31 UTC.
MIN_TIME: int = _copy_text.MIN_TIME
MAX_TIME: int = _copy_text.MAX_TIME

#: The letter ``copy_text()`` takes for each kind of column.
KIND_LETTERS = {TEXT: "t", INTEGER: "i", TIME: "T", FLAG: "f"}


_copy_text_checked = False


def enable_copy_text() -> None:
    """Give every SQLite connection opened from now on in this process the ``copy_text()``
    aggregate (idempotent). Raises :class:`StoreError` if Python's ``sqlite3`` module does not
    get it: a Python whose ``sqlite3`` carries its own copy of SQLite instead of the system's
    ``libsqlite3``, which the agent was built against."""
    global _copy_text_checked
    if _copy_text_checked:
        return
    _copy_text.enable()
    probe = sqlite3.connect(":memory:")
    try:
        written = probe.execute("SELECT copy_text('t', 1, 0, 'x')").fetchone()[0]
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"copy_text() is missing from SQLite ({exc}): this Python's sqlite3 module (SQLite "
            f"{sqlite3.sqlite_version}) does not use the system libsqlite3 the agent was built "
            f"against; use a Python built with the system SQLite (Debian's python3, pyenv)"
        ) from None
    finally:
        probe.close()
    if written != b"1\t0\tx\n":
        raise StoreError(f"copy_text() wrote {written!r} for a test row instead of b'1\\t0\\tx\\n'")
    _copy_text_checked = True


def copy_text_sql(row_id: str, revision: str, columns: list[tuple[str, str]], constants: list[str]) -> str:
    """The ``copy_text()`` call writing the rows of a query as COPY text: the row's id and
    revision, then ``columns`` (SQL expressions with their kinds), then ``constants`` (text
    parameters, the same for every row). NULL if any value cannot travel."""
    kinds = "".join(KIND_LETTERS[kind] for _, kind in columns) + KIND_LETTERS[TEXT] * len(constants)
    values = ", ".join([row_id, revision] + [column for column, _ in columns] + constants)
    return f"copy_text('{kinds}', {values})"


#: The marker bytes of a row written by ``printf()`` (never part of valid UTF-8); BAD stands
#: for a value that cannot travel.
VALUE, NULL, ROW, BAD = b"\xff", b"\xfd", b"\xfe", b"\xfc"


def _shown(c: str) -> str:
    """A wrong value as a reason shows it: quoted, at most 60 characters."""
    return f"substr(quote({c}), 1, 60)"


def _check(column: str, kind: str) -> str | None:
    """An SQLite expression: a reason if ``t.column`` cannot travel as ``kind``, else NULL."""
    c = f"t.{column}"
    if kind == TEXT:
        return None  # any text travels (PostgreSQL refuses a NUL character itself)
    if kind == INTEGER:
        return f"CASE WHEN typeof({c}) NOT IN ('integer', 'null') THEN '{column} is not an integer: ' || {_shown(c)} END"
    if kind == TIME:
        return (
            f"CASE WHEN typeof({c}) NOT IN ('integer', 'real', 'null') "
            f"THEN '{column} is not epoch seconds: ' || {_shown(c)} "
            f"WHEN {c} NOT BETWEEN {MIN_TIME} AND {MAX_TIME} THEN '{column} is out of range: ' || {c} END"
        )
    if kind == FLAG:
        return (
            f"CASE WHEN typeof({c}) NOT IN ('integer', 'null') OR {c} NOT IN (0, 1) "
            f"THEN '{column} is ' || {_shown(c)} || ', not 0 or 1' END"
        )
    raise ValueError(f"unknown column kind {kind!r} (one of {', '.join(KINDS)})")


def problem_sql(columns: list[tuple[str, str]]) -> str:
    """An SQLite expression: why this row cannot be sent (the first problem found), or NULL."""
    checks = [check for column, kind in columns if (check := _check(column, kind)) is not None]
    return f"coalesce({', '.join(checks)}, NULL)" if checks else "NULL"


def _value(column: str, kind: str) -> str:
    """An SQLite expression: ``t.column`` as COPY text takes it, unescaped; NULL stays NULL, and a
    value that cannot travel as ``kind`` comes out as the :data:`BAD` byte."""
    c = f"t.{column}"
    if kind == TEXT:
        return c
    if kind == INTEGER:
        return f"CASE typeof({c}) WHEN 'integer' THEN {c} WHEN 'null' THEN NULL ELSE X'FC' END"
    if kind == FLAG:
        return f"CASE {c} WHEN 0 THEN 0 WHEN 1 THEN 1 ELSE iif({c} IS NULL, NULL, X'FC') END"
    if kind == TIME:
        micros = f"CAST(round(({c} - {PG_EPOCH_OFFSET}) * 1000000) AS INTEGER)"  # as PostgreSQL keeps them
        fraction = f"(({micros}) % 1000000 + 1000000) % 1000000"
        seconds = f"(({micros}) - {fraction}) / 1000000 + {PG_EPOCH_OFFSET}"
        return (
            f"CASE WHEN {c} NOT BETWEEN {MIN_TIME} AND {MAX_TIME} THEN X'FC' "
            f"ELSE CASE typeof({c}) WHEN 'integer' THEN datetime({c}, 'unixepoch') || '+00' "
            f"WHEN 'real' THEN datetime({seconds}, 'unixepoch') || printf('.%06d+00', {fraction}) "
            f"WHEN 'null' THEN NULL ELSE X'FC' END END"
        )
    raise ValueError(f"unknown column kind {kind!r} (one of {', '.join(KINDS)})")


def line_args_sql(columns: list[tuple[str, str]]) -> str:
    """The ``printf()`` arguments after ``id, revision`` for one row: a marker and a value per column."""
    return ", ".join(f"iif(t.{column} IS NULL, X'FD', X'FF'), {_value(column, kind)}" for column, kind in columns)


def has_nul_sql(columns: list[tuple[str, str]]) -> str:
    """An SQLite expression: whether a text value holds a NUL character (``printf()`` would cut
    the value there; such a row is written with ``||``, which keeps it, and PostgreSQL refuses it)."""
    return " OR ".join(f"instr(t.{column}, char(0))" for column, kind in columns if kind == TEXT) or "0"


def line_concat_sql(columns: list[tuple[str, str]], constants: list[str]) -> str:
    """The same line as ``printf(line_format_sql(…), …)`` writes, with ``||`` (slower, keeps NUL)."""
    parts = ["t.id", "X'FF'", "t.sync_revision"]
    parts += [f"iif(t.{column} IS NULL, X'FD', X'FF' || {_value(column, kind)})" for column, kind in columns]
    parts += [f"X'FF' || {constant}" for constant in constants] + ["X'FE'"]
    return " || ".join(parts)


def line_format_sql(columns: int, constants: int) -> str:
    """The ``printf()`` format of one row, as an SQLite literal: id, revision, ``columns`` marked
    values, then ``constants`` values (parameters, the same for every row), each after a marker,
    and the row marker."""
    fmt = b"%d" + VALUE + b"%d" + b"%s%s" * columns + (VALUE + b"%s") * constants + ROW
    return f"CAST(X'{fmt.hex().upper()}' AS TEXT)"


def markers_per_row(columns: int, constants: int) -> int:
    """How many value or NULL markers SQLite writes in each row (one per field but the first)."""
    return 1 + columns + constants


_MARKERS_TO_COPY = bytes.maketrans(VALUE + ROW, b"\t\n")


def _escape(raw: bytes) -> bytes:
    """Escape what COPY text must not hold raw, then turn the markers into tabs, ``\\N`` and newlines."""
    for char, escaped in ((b"\\", b"\\\\"), (b"\t", b"\\t"), (b"\n", b"\\n"), (b"\r", b"\\r")):
        if char in raw:
            raw = raw.replace(char, escaped)
    data = raw.translate(_MARKERS_TO_COPY)
    return data.replace(NULL, b"\t\\N") if NULL in data else data


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def finish_copy_row(raw: bytes, markers: int) -> bytes:
    """One row as SQLite wrote it, as a COPY text line; raises UnicodeError if its text is not UTF-8."""
    # Raises "surrogates not allowed" for bytes that are not UTF-8 (as reading them tolerantly keeps them).
    raw.translate(None, VALUE + NULL + ROW).decode("utf-8", "surrogateescape").encode("utf-8")
    data = _escape(raw)
    if data.count(b"\n") != 1 or data.count(b"\t") != markers or not _is_utf8(data):
        raise UnicodeError("text holds a byte 0xFD to 0xFF, which UTF-8 never holds")
    return data


def pg_time_text(epoch_seconds: float) -> str:
    """A time as the lines give it (ISO text in UTC, microseconds kept)."""
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat(sep=" ")
