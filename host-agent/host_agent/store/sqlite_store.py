"""What every local SQLite store shares: opening, permissions, WAL, transactions, migrations.

A store owns one connection. It may be used from several threads (the asyncio loop hands
SQLite work to worker threads), so every use goes through a lock; WAL mode and a busy timeout
let another connection (the sync engine, another process) read and mark rows while a collector
writes, without "database is locked".
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from host_agent.core.errors import InvalidEventError, StoreError
from host_agent.store.pg_values import enable_copy_text

log = logging.getLogger(__name__)

#: How long a writer waits for another connection's write lock before failing (ms).
#: Sync marks a batch in one short transaction (milliseconds), so 30 s is a wide margin.
BUSY_TIMEOUT_MS = 30_000

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def _text(value: bytes) -> str:
    # Rows written by other programs may hold invalid UTF-8 in TEXT columns. Reading them must
    # not fail; the bytes are kept as surrogate escapes and the sync engine holds such rows back.
    return value.decode("utf-8", "surrogateescape")


def _is_decode_error(exc: sqlite3.OperationalError) -> bool:
    return "Could not decode to UTF-8" in str(exc)


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """Put the database in WAL mode and return the journal mode it ends in.

    When two connections open a new database at the same moment (the sync engine and a
    collector do, on a first start), both ask to switch it to WAL; SQLite refuses one of them
    at once with SQLITE_BUSY, without calling the busy handler, to avoid a deadlock. That
    connection tries again, for as long as the busy timeout allows.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class SQLiteStore:
    """Base of the local stores. Subclasses list their ``MIGRATIONS`` in order."""

    MIGRATIONS: tuple[Migration, ...] = ()

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.db_path = Path(db_path).expanduser().absolute()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.conn = self._connect()
        self._run_migrations()

    # -- connection -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create the file owner-only before SQLite does: it is a private activity log.
            # SQLite gives the -wal and -shm files the same permissions as the database.
            # Never open an existing database file outside SQLite: closing any descriptor of a
            # file drops every POSIX lock this process holds on it, including the locks of
            # another connection (the sync engine's, a collector's) to the same database.
            try:
                os.close(os.open(self.db_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # an existing database: permissions are set by path below
            os.chmod(self.db_path, 0o600)
            enable_copy_text()  # the connection can write its rows as the sync's COPY text
            conn = sqlite3.connect(
                self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open local database {self.db_path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = _switch_to_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{self.db_path} is not a usable SQLite database: {exc}") from exc
        if mode.lower() != "wal":
            log.warning("%s: WAL mode unavailable (journal_mode=%s); concurrent access may wait", self.db_path, mode)
        self._conn = conn
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    @contextmanager
    def atomic(self, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """One explicit transaction; ``BEGIN IMMEDIATE`` takes the write lock up front."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"local database {self.db_path} is closed")
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                # SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR): a
                # ROLLBACK then fails with "no transaction is active" and would hide the cause.
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads (a consistent snapshot per statement)."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"local database {self.db_path} is closed")
            yield self._conn

    def fetch_all(self, sql: str, params: tuple = (), *, as_tuples: bool = False) -> list:
        """Run a query and return every row, even rows holding invalid UTF-8 in a TEXT column.

        The fast C decoder is tried first; only a query that meets undecodable bytes is read
        again with the tolerant (slower) decoder. ``as_tuples`` skips building ``Row`` objects.
        """
        with self.reading() as conn:
            cursor = conn.cursor()
            if as_tuples:
                cursor.row_factory = None
            try:
                return cursor.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if not _is_decode_error(exc):
                    raise
            conn.text_factory = _text
            try:
                return cursor.execute(sql, params).fetchall()
            finally:
                conn.text_factory = str

    # -- migrations -------------------------------------------------------------------

    def _run_migrations(self) -> None:
        """Apply the pending steps of ``MIGRATIONS`` in order, each with its bookkeeping row."""
        with self.atomic() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
            )
            done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        for name, step in self.MIGRATIONS:
            if name in done:
                continue
            with self.atomic() as conn:
                # Checked again under the write lock: two connections opening a new database at
                # once (a collector's and the sync engine's) must not both apply the same step.
                if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                    continue
                step(conn)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, CAST(strftime('%s','now') AS INTEGER))",
                    (name,),
                )
            log.debug("%s: applied local migration %s", self.db_path.name, name)

    # -- local sync bookkeeping --------------------------------------------------------

    @property
    def origin_id(self) -> str:
        """The random id of this database instance; PostgreSQL rows carry it with the local id."""
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM sync_meta WHERE key = 'origin_id'").fetchone()
        return row[0]


def check_text(value: object, where: str) -> None:
    """Text a store keeps must be valid UTF-8: a lone surrogate (an undecodable name handed over
    as ``surrogateescape``) is refused with :class:`InvalidEventError` naming ``where``."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidEventError(
                f"{where} is not valid UTF-8 text (character {exc.object[exc.start]!r} at {exc.start}); "
                "escape undecodable bytes first"
            ) from None


def create_sync_state(conn: sqlite3.Connection) -> None:
    """Local sync state kept inside each database, so it travels with the rows it describes.

    - ``sync_meta``: the database's ``origin_id``.
    - ``sync_held_rows``: rows PostgreSQL rejected, with the reason; skipped until they change
      or are retried on request.
    - ``sync_journal``: sync runs not yet written to PostgreSQL's ``sync_logs`` (it was away).
    """
    conn.execute("CREATE TABLE IF NOT EXISTS sync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "INSERT OR IGNORE INTO sync_meta (key, value) VALUES ('origin_id', ?)",
        (str(uuid.uuid4()),),
    )
    conn.execute(
        """CREATE TABLE IF NOT EXISTS sync_held_rows (
               table_name TEXT NOT NULL,
               row_id     INTEGER NOT NULL,
               revision   INTEGER NOT NULL,
               reason     TEXT NOT NULL,
               held_at    INTEGER NOT NULL,
               PRIMARY KEY (table_name, row_id)
           )"""
    )
    conn.execute(
        """CREATE TABLE IF NOT EXISTS sync_journal (
               id                INTEGER PRIMARY KEY AUTOINCREMENT,
               table_name        TEXT NOT NULL,
               sync_started_at   REAL NOT NULL,
               sync_completed_at REAL,
               records_synced    INTEGER NOT NULL DEFAULT 0,
               records_failed    INTEGER NOT NULL DEFAULT 0,
               status            TEXT NOT NULL,
               error_message     TEXT,
               attempts          INTEGER NOT NULL DEFAULT 1
           )"""
    )


def add_column(conn: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    """``ALTER TABLE table ADD COLUMN column declaration`` unless the column is there already."""
    if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def add_revision_tracking(conn: sqlite3.Connection, table: str, data_columns: list[str]) -> None:
    """Add ``sync_revision`` and a trigger: editing a data column makes the row unsynced again.

    The sync engine marks a row synced only if its revision is still the one it sent, so an
    edit racing a sync is never lost.
    """
    add_column(conn, table, "sync_revision", "INTEGER NOT NULL DEFAULT 0")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in data_columns)
    conn.execute(
        f"""CREATE TRIGGER IF NOT EXISTS trg_{table}_resync
            AFTER UPDATE OF {", ".join(data_columns)} ON {table}
            WHEN {changed}
            BEGIN
                UPDATE {table} SET sync_revision = OLD.sync_revision + 1, synced_at = NULL
                WHERE id = NEW.id;
            END"""
    )
