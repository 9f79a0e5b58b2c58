"""Syncing one table, once: the descriptions of the synced tables and the routine they drive.

A :class:`TableSpec` says which local columns travel, how PostgreSQL converts them, and what the
rows are keyed by. :class:`TableSync` does the work for any spec:

1. read a batch of waiting rows from SQLite by keyset (``synced_at IS NULL AND id > last``),
   skipping rows held back at their current revision;
2. in one PostgreSQL transaction: ``COPY`` the batch into a temporary staging table and merge it
   with ``INSERT … SELECT … ON CONFLICT (origin_id, local_id)``; a row already there is updated
   only if its local revision is newer, so re-sending is harmless;
3. if PostgreSQL refuses a value, split the batch (each half in a savepoint) until the bad rows
   are found; the good rows go through;
4. after the commit, mark the batch synced in SQLite in one short transaction (only rows whose
   revision is still the one sent), and record the held-back rows with their reason.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from host_agent.common.sqlite_store import SQLiteStore
from host_agent.common.sync_errors import ErrorKind, RowEncodingError, classify, describe


@dataclass(frozen=True)
class Column:
    """A local column and its PostgreSQL counterpart of the same name."""

    name: str
    stage_type: str  # the staging column's type: matches what SQLite holds
    convert: str = "{}"  # SQL turning the staging value into the target column's, e.g. to_timestamp({})


def epoch(name: str) -> Column:
    return Column(name, "double precision", "to_timestamp({})")


def text(name: str) -> Column:
    return Column(name, "text")


def integer(name: str) -> Column:
    return Column(name, "bigint")


def flag(name: str) -> Column:
    return Column(name, "bigint", "COALESCE({} <> 0, false)")


@dataclass(frozen=True)
class TableSpec:
    """How one local table maps onto its PostgreSQL table (same name in both)."""

    name: str
    columns: tuple[Column, ...]
    #: Columns refreshed when a newer revision of a row arrives (all data columns by default).
    mutable: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def stage_table(self) -> str:
        return f"_stage_{self.name}"

    # The SQL below is built from the spec's fixed identifiers only; values travel as
    # parameters or COPY data.

    def select_waiting_sql(self) -> str:
        cols = ", ".join(f"t.{c}" for c in self.column_names)
        return (
            f"SELECT t.id, t.sync_revision, {cols} FROM {self.name} AS t "
            f"WHERE t.synced_at IS NULL AND t.id > ? AND t.id <= ? "
            f"AND NOT EXISTS (SELECT 1 FROM sync_held_rows AS h "
            f"WHERE h.table_name = '{self.name}' AND h.row_id = t.id AND h.revision = t.sync_revision) "
            f"ORDER BY t.id LIMIT ?"
        )

    def create_stage_sql(self) -> str:
        cols = ", ".join(f"{c.name} {c.stage_type}" for c in self.columns)
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.stage_table} "
            f"(local_id bigint, local_revision integer, {cols}) ON COMMIT DELETE ROWS"
        )

    def merge_sql(self) -> str:
        names = self.column_names
        converted = ", ".join(c.convert.format(f"s.{c.name}") for c in self.columns)
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in [*names, "local_revision", "synced_at"])
        return (
            f"INSERT INTO {self.name} (host_identifier, origin_id, local_id, local_revision, {', '.join(names)}, "
            f"synced_at) SELECT $1, $2::uuid, s.local_id, s.local_revision, {converted}, now() "
            f"FROM {self.stage_table} AS s ORDER BY s.local_id "
            f"ON CONFLICT (origin_id, local_id) DO UPDATE SET {updates} "
            f"WHERE {self.name}.local_revision < EXCLUDED.local_revision"
        )


DESKTOP_ACTIVITY_SESSIONS = TableSpec(
    name="desktop_activity_sessions",
    columns=(
        epoch("start_time"),
        epoch("end_time"),
        text("start_time_iso"),
        text("end_time_iso"),
        text("application_name"),
        text("window_title"),
        integer("duration_seconds"),
        epoch("created_at"),
        epoch("updated_at"),
    ),
)

FILE_CHANGE_EVENTS = TableSpec(
    name="file_change_events",
    columns=(
        epoch("event_time"),
        text("event_time_iso"),
        text("event_type"),
        text("file_path"),
        text("file_path_relative"),
        text("file_name"),
        text("file_extension"),
        integer("file_size"),
        flag("is_symlink"),
        text("monitored_root"),
        text("project_name"),
        text("old_file_path"),
        epoch("created_at"),
    ),
)

Row = tuple[Any, ...]  # (id, sync_revision, *data columns)


@dataclass
class BatchOutcome:
    synced: list[Row] = field(default_factory=list)
    held: list[tuple[Row, str]] = field(default_factory=list)


class TableSync:
    """The sync routine for one table of one local store."""

    def __init__(self, spec: TableSpec, store: SQLiteStore, host_identifier: str) -> None:
        self.spec = spec
        self.store = store
        self.host_identifier = host_identifier
        self.origin_id = store.origin_id
        self._select_sql = spec.select_waiting_sql()
        self._merge_sql = spec.merge_sql()
        self._copy_columns = ["local_id", "local_revision", *spec.column_names]

    # -- SQLite side (blocking: call from a worker thread) -------------------------------

    def read_batch(self, after_id: int, limit: int, upto_id: int) -> list[Row]:
        """Up to ``limit`` waiting rows with ``after_id < id <= upto_id``, in id order."""
        with self.store.reading() as conn:
            return [tuple(row) for row in conn.execute(self._select_sql, (after_id, upto_id, limit))]

    def last_id(self) -> int:
        """The newest row's id: a run syncs up to it, so rows written meanwhile wait for the next run."""
        with self.store.reading() as conn:
            return conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.spec.name}").fetchone()[0]

    def count_waiting(self) -> int:
        with self.store.reading() as conn:
            return conn.execute(
                f"SELECT COUNT(*) FROM {self.spec.name} AS t WHERE t.synced_at IS NULL "
                f"AND NOT EXISTS (SELECT 1 FROM sync_held_rows AS h WHERE h.table_name = ? "
                f"AND h.row_id = t.id AND h.revision = t.sync_revision)",
                (self.spec.name,),
            ).fetchone()[0]

    def mark(self, outcome: BatchOutcome) -> None:
        """Record a committed batch: synced rows get ``synced_at``, bad rows are held back."""
        now = int(time.time())
        with self.store.atomic() as conn:
            conn.executemany(
                f"UPDATE {self.spec.name} SET synced_at = ? WHERE id = ? AND sync_revision = ?",
                [(now, row[0], row[1]) for row in outcome.synced],
            )
            conn.executemany(
                "INSERT INTO sync_held_rows (table_name, row_id, revision, reason, held_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (table_name, row_id) DO UPDATE SET revision = excluded.revision, "
                "reason = excluded.reason, held_at = excluded.held_at",
                [(self.spec.name, row[0], row[1], reason, now) for row, reason in outcome.held],
            )
            if outcome.synced:
                # A row that was held and has now gone through is no longer held.
                conn.executemany(
                    "DELETE FROM sync_held_rows WHERE table_name = ? AND row_id = ?",
                    [(self.spec.name, row[0]) for row in outcome.synced],
                )

    # -- PostgreSQL side -------------------------------------------------------------------

    async def write_batch(self, conn: asyncpg.Connection, rows: list[Row], timeout: float) -> BatchOutcome:
        """Write ``rows`` in one transaction; bad rows are isolated, not fatal. Raises for the rest."""
        outcome = BatchOutcome()
        async with conn.transaction():
            await conn.execute(self.spec.create_stage_sql(), timeout=timeout)
            await self._write_isolating(conn, rows, outcome, timeout, first=True)
        return outcome

    async def _write_isolating(
        self, conn: asyncpg.Connection, rows: list[Row], outcome: BatchOutcome, timeout: float, first: bool
    ) -> None:
        try:
            async with conn.transaction():  # a savepoint: a refusal undoes only this attempt
                if not first:
                    await conn.execute(f"TRUNCATE {self.spec.stage_table}", timeout=timeout)
                await self._copy_and_merge(conn, rows, timeout)
        except Exception as exc:
            if classify(exc) is not ErrorKind.DATA:
                raise
            if len(rows) == 1:
                outcome.held.append((rows[0], f"row id {rows[0][0]}: {describe(exc)}"))
                return
            middle = len(rows) // 2
            await self._write_isolating(conn, rows[:middle], outcome, timeout, first=False)
            await self._write_isolating(conn, rows[middle:], outcome, timeout, first=False)
        else:
            outcome.synced.extend(rows)

    async def _copy_and_merge(self, conn: asyncpg.Connection, rows: list[Row], timeout: float) -> None:
        try:
            await conn.copy_records_to_table(
                self.spec.stage_table, records=rows, columns=self._copy_columns, timeout=timeout
            )
        except (UnicodeError, TypeError, ValueError) as exc:
            # Raised by the driver while encoding values, before PostgreSQL saw them.
            raise RowEncodingError(f"cannot encode value: {exc}") from exc
        await conn.execute(self._merge_sql, self.host_identifier, self.origin_id, timeout=timeout)

    # -- held-back rows ------------------------------------------------------------------

    def held_rows(self) -> list[sqlite3.Row]:
        with self.store.reading() as conn:
            return conn.execute(
                "SELECT row_id, revision, reason, held_at FROM sync_held_rows WHERE table_name = ? ORDER BY row_id",
                (self.spec.name,),
            ).fetchall()

    def release_held(self) -> int:
        """Forget held-back rows so that the next sync tries them again; returns how many."""
        with self.store.atomic() as conn:
            return conn.execute("DELETE FROM sync_held_rows WHERE table_name = ?", (self.spec.name,)).rowcount
