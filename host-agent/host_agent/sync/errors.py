"""The one place that decides what a sync error means.

- ``TRANSIENT``: PostgreSQL or the path to it is away (connection errors, server shutting
  down, out of resources, timeouts, serialization conflicts). Nothing is wrong with the rows:
  back off and try again later.
- ``DATA``: PostgreSQL (or the driver) refuses a value (SQLSTATE classes 22 and 23, text that is
  not valid UTF-8, a value of the wrong type). Only some rows are bad: isolate and hold them back.
- ``FATAL``: anything else (a missing table, a permission error, a bug). The run fails and is
  retried at the next interval; the error is logged in full once.

SQLSTATE classes: https://www.postgresql.org/docs/current/errcodes-appendix.html
"""

from __future__ import annotations

import asyncio
import enum

import asyncpg

from host_agent.core.errors import SyncError


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"
    DATA = "data"
    FATAL = "fatal"


#: 08 connection exception, 40 transaction rollback (serialization, deadlock),
#: 53 insufficient resources, 57 operator intervention (admin shutdown, cannot connect now),
#: 58 system error (I/O error on the server).
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
#: 22 data exception (bad value, NUL byte, invalid encoding), 23 integrity constraint violation.
DATA_SQLSTATE_CLASSES = frozenset({"22", "23"})
#: too_many_connections: the server's ``max_connections`` is reached ("sorry, too many clients
#: already"), only superuser slots are left ("remaining connection slots are reserved ..."), or
#: the role's CONNECTION LIMIT is. Transient like all of class 53, and worth waiting for a slot.
CROWDED_SQLSTATE = "53300"


class RowEncodingError(SyncError):
    """The driver could not encode a row's values (invalid UTF-8, wrong type) before sending."""


def classify(exc: BaseException) -> ErrorKind:
    """Classify one exception raised while talking to PostgreSQL."""
    if isinstance(exc, RowEncodingError | UnicodeError):
        return ErrorKind.DATA
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = (exc.sqlstate or "")[:2]
        if sqlstate in TRANSIENT_SQLSTATE_CLASSES:
            return ErrorKind.TRANSIENT
        if sqlstate in DATA_SQLSTATE_CLASSES:
            return ErrorKind.DATA
        return ErrorKind.FATAL
    if isinstance(exc, asyncpg.exceptions._base.DataError):  # client-side: "invalid input for query argument"
        return ErrorKind.DATA
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.ConnectionDoesNotExistError):
        # The connection was closed or lost underneath us ("connection is closed").
        return ErrorKind.TRANSIENT
    if isinstance(exc, OSError | ConnectionError | asyncio.TimeoutError | TimeoutError | EOFError):
        return ErrorKind.TRANSIENT
    return ErrorKind.FATAL


def is_crowded(exc: BaseException) -> bool:
    """The server refused a connection because its connection slots are taken (many hosts at once)."""
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate == CROWDED_SQLSTATE


def describe(exc: BaseException) -> str:
    """One line for an operator: the exception class and its first message line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    sqlstate = getattr(exc, "sqlstate", None)
    name = type(exc).__name__
    if sqlstate:
        name = f"{name} [{sqlstate}]"
    return f"{name}: {text}" if text else name
