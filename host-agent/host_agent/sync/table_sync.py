"""Syncing one table, once: the routine every table description drives.

A :class:`~host_agent.store.tables.SyncedTable` says which local columns travel (same names on
both sides); :class:`PgStatements` derives its PostgreSQL statements. :class:`TableSync` does the
work for any table:

1. read a batch of waiting rows from SQLite by keyset (``synced_at IS NULL AND id > last``),
   skipping rows held back at their current revision; each row comes out of SQLite already in
   the form binary ``COPY`` takes (see :mod:`host_agent.store.pg_values`), so no Python code
   runs per value;
2. in one PostgreSQL transaction, ``COPY`` the batch straight into the table. That is the
   common case (new rows) and runs at the speed of a plain ``COPY``. If a row is already
   there (a re-send after a crash, a session edited since it was synced), the batch goes
   through a temporary staging table instead (created in the batch's transaction and dropped
   at its commit, so that it holds through a pooler such as PgBouncer) and is merged with
   ``INSERT … ON CONFLICT (origin_id, local_id)``: a stored row is replaced only by a newer
   local revision, so re-sending is harmless. The conflict target is the table's unique key
   holding ``origin_id`` and ``local_id``, read from the catalog once per run: a table
   partitioned by month (``reprospective-db partition``) has its time column in that key too.
   Once a run met such a batch, its later batches go to the merge directly (a re-sent backlog
   is re-sent as a whole);
3. if PostgreSQL refuses a value, the batch is split (each half in a savepoint) until the bad
   rows are found; the good rows go through;
4. after the commit, the batch is marked synced in SQLite in one short transaction (only rows
   whose revision is still the one sent; a backlog's nearly dense ids as one id range, see
   :mod:`host_agent.store.marks`), and held-back rows are recorded with their reason.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from host_agent.store.sqlite_store import SQLiteStore
from host_agent.store.journal import RunProgress, SyncJournal
from host_agent.store.marks import plan_marks
from host_agent.store.pg_values import pg_time
from host_agent.store.tables import SyncedTable, release_held
from host_agent.sync.codecs import ENCODING_ERRORS
from host_agent.sync.errors import ErrorKind, RowEncodingError, classify, describe

#: Origin columns every synced table carries in PostgreSQL (04_add_sync_origin.sql).
KEY_COLUMNS = ("local_id", "local_revision", "host_identifier", "origin_id")


@dataclass(frozen=True)
class PgStatements:
    """The PostgreSQL side of one synced table, derived from its description."""

    table: SyncedTable

    @property
    def stage_table(self) -> str:
        return f"_stage_{self.table.name}"

    @property
    def copy_columns(self) -> list[str]:
        return [*KEY_COLUMNS, *self.table.columns, "synced_at"]

    def create_stage_sql(self) -> str:
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.stage_table} ON COMMIT DROP AS "
            f"SELECT {', '.join(self.copy_columns)} FROM {self.table.name} WITH NO DATA"
        )

    #: Parameter: the table's name. The key columns of each unique index of the table.
    UNIQUE_KEYS_SQL = (
        "SELECT ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)::text[] "
        "FROM pg_index i WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL"
    )

    @staticmethod
    def conflict_key(unique_keys: list[list[str]]) -> tuple[str, ...]:
        """The narrowest unique key holding ``origin_id`` and ``local_id``: ``(origin_id, local_id)``
        on the plain layout, plus the partition column on the partitioned one."""
        keys = [key for key in unique_keys if {"origin_id", "local_id"} <= set(key)]
        return tuple(min(keys, key=len)) if keys else ("origin_id", "local_id")

    def merge_sql(self, key: tuple[str, ...] = ("origin_id", "local_id")) -> str:
        name = self.table.name
        cols = ", ".join(self.copy_columns)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*self.table.columns, "local_revision", "synced_at"])
        return (
            f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {self.stage_table} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} "
            f"WHERE {name}.local_revision < EXCLUDED.local_revision"
        )

    def moved_rows_sql(self, key: tuple[str, ...]) -> str | None:
        """For a key wider than (origin_id, local_id): delete the stored copies of staged rows
        whose other key columns changed (a time edited in the local file), before the merge
        inserts their new versions; None for the plain key, where the merge updates them.

        Only edited rows (revision above 0) can have changed: a re-sent backlog of unedited rows
        skips the lookup, which probes every partition per row (it cost the merge about 40 % of
        its rate on a re-sent backlog, bench/bench_partitions.py)."""
        extra = [c for c in key if c not in ("origin_id", "local_id")]
        if not extra:
            return None
        changed = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in extra)
        return (
            f"DELETE FROM {self.table.name} AS t USING {self.stage_table} AS s "
            f"WHERE s.local_revision > 0 AND t.origin_id = s.origin_id AND t.local_id = s.local_id "
            f"AND ({changed}) AND t.local_revision < s.local_revision"
        )


Row = tuple[Any, ...]  # (id, sync_revision, host_identifier, origin_id, *columns, synced_at)


@dataclass
class BatchOutcome:
    synced: list[Row] = field(default_factory=list)
    held: list[tuple[Row, str]] = field(default_factory=list)


class TableSync:
    """The sync routine for one table of one local store."""

    def __init__(self, table: SyncedTable, store: SQLiteStore, host_identifier: str) -> None:
        self.table = table
        self.pg = PgStatements(table)
        self.store = store
        self.host_identifier = host_identifier
        self.origin_id = store.origin_id
        self.journal = SyncJournal(store, table.name)
        self._select_sql = table.select_waiting_sql()
        self._select_sql_none_held = table.select_waiting_sql(skip_held=False)
        self._any_held = True
        #: The merge statements for this run's conflict key (read from the catalog at the first merge).
        self._merge_sqls: list[str] | None = None
        #: Set once a batch of this run met rows PostgreSQL already has: the rest go to the merge.
        self.resending = False

    @property
    def name(self) -> str:
        return self.table.name

    # -- SQLite side (blocking: call from a worker thread) -------------------------------

    def start_run(self) -> None:
        """At the start of each run: forget the last run's state; look whether any row is held.

        Without held rows the reads skip the held-rows check; rows this run holds back have ids
        below the ones it reads next, so that stays true for the whole run."""
        self.resending = False
        self._merge_sqls = None
        with self.store.reading() as conn:
            self._any_held = bool(conn.execute(self.table.any_held_sql()).fetchone()[0])

    def read_batch(self, after_id: int, limit: int, upto_id: int) -> list[Row]:
        """Up to ``limit`` waiting rows with ``after_id < id <= upto_id``, in id order."""
        sql = self._select_sql if self._any_held else self._select_sql_none_held
        params = (self.host_identifier, self.origin_id, pg_time(time.time()), after_id, upto_id, limit)
        return self.store.fetch_all(sql, params, as_tuples=True)

    def last_id(self) -> int:
        """The newest row's id: a run syncs up to it, so rows written meanwhile wait for the next run."""
        with self.store.reading() as conn:
            return conn.execute(self.table.last_id_sql()).fetchone()[0]

    def count_waiting(self) -> int:
        with self.store.reading() as conn:
            return conn.execute(self.table.waiting_sql()).fetchone()[0]

    def mark(self, outcome: BatchOutcome, run: RunProgress | None = None) -> None:
        """Record a committed batch: synced rows get ``synced_at``, bad rows are held back, and the
        run's journal entry counts them, all in one SQLite transaction."""
        now = int(time.time())
        with self.store.atomic() as conn:
            if run is not None:
                self.journal.add_batch(conn, run, len(outcome.synced), len(outcome.held), time.time())
            # A row edited since it was read keeps waiting: its revision moved on.
            plan = plan_marks([row[:2] for row in outcome.synced])
            if plan.range_ is not None:
                conn.execute(self.table.mark_synced_range_sql(), (now, *plan.range_, json.dumps(plan.excluded)))
            if plan.by_row:
                conn.execute(self.table.mark_synced_sql(), (now, json.dumps(plan.by_row)))
            conn.executemany(
                "INSERT INTO sync_held_rows (table_name, row_id, revision, reason, held_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (table_name, row_id) DO UPDATE SET revision = excluded.revision, "
                "reason = excluded.reason, held_at = excluded.held_at",
                [(self.table.name, row[0], row[1], reason, now) for row, reason in outcome.held],
            )
            # A row that was held and has now gone through is no longer held (none was, if the
            # run started with none held: rows it holds back have ids below the ones it reads next).
            if self._any_held:
                conn.execute(
                    "DELETE FROM sync_held_rows WHERE table_name = ? AND row_id IN (SELECT value FROM json_each(?))",
                    (self.table.name, json.dumps([row[0] for row in outcome.synced])),
                )

    # -- PostgreSQL side -------------------------------------------------------------------

    async def write_in_transaction(self, conn: asyncpg.Connection, rows: list[Row], timeout: float) -> BatchOutcome:
        """Write ``rows`` inside the caller's open transaction (which commits them): each attempt
        in a savepoint, bad rows isolated. Raises for anything else."""
        outcome = BatchOutcome()
        if not self.resending and all(row[1] == 0 for row in rows):  # never edited: most likely never sent
            try:
                async with conn.transaction():  # a savepoint
                    await self._copy(conn, self.table.name, rows, timeout)
                outcome.synced.extend(rows)
                return outcome
            except asyncpg.UniqueViolationError:
                self.resending = True  # already there: merge this batch and the rest of the run
            except Exception as exc:
                if classify(exc) is not ErrorKind.DATA:
                    raise
                # A bad value: merge, isolating the bad rows.
        if self._merge_sqls is None:
            keys = [list(r[0]) for r in await conn.fetch(PgStatements.UNIQUE_KEYS_SQL, self.name, timeout=timeout)]
            key = PgStatements.conflict_key(keys)
            self._merge_sqls = [sql for sql in (self.pg.moved_rows_sql(key), self.pg.merge_sql(key)) if sql]
        await conn.execute(self.pg.create_stage_sql(), timeout=timeout)
        await self._merge_isolating(conn, rows, outcome, timeout)
        return outcome

    async def _merge_isolating(
        self, conn: asyncpg.Connection, rows: list[Row], outcome: BatchOutcome, timeout: float
    ) -> None:
        try:
            async with conn.transaction():  # a savepoint: a refusal undoes only this attempt
                await conn.execute(f"TRUNCATE {self.pg.stage_table}", timeout=timeout)
                await self._copy(conn, self.pg.stage_table, rows, timeout)
                for sql in self._merge_sqls or ():
                    await conn.execute(sql, timeout=timeout)
        except Exception as exc:
            if classify(exc) is not ErrorKind.DATA:
                raise
            if len(rows) == 1:
                outcome.held.append((rows[0], f"row id {rows[0][0]}: {describe(exc)}"))
                return
            middle = len(rows) // 2
            await self._merge_isolating(conn, rows[:middle], outcome, timeout)
            await self._merge_isolating(conn, rows[middle:], outcome, timeout)
        else:
            outcome.synced.extend(rows)

    async def _copy(self, conn: asyncpg.Connection, table: str, rows: list[Row], timeout: float) -> None:
        try:
            await conn.copy_records_to_table(table, records=rows, columns=self.pg.copy_columns, timeout=timeout)
        except ENCODING_ERRORS as exc:
            # Raised by the driver while encoding values, before PostgreSQL saw them.
            raise RowEncodingError(f"cannot encode value: {exc}") from exc

    # -- held-back rows ------------------------------------------------------------------

    def held_rows(self) -> list[sqlite3.Row]:
        """The rows held back at their current revision."""
        with self.store.reading() as conn:
            return conn.execute(self.table.held_rows_sql()).fetchall()

    def release_held(self) -> int:
        """Forget held-back rows so that the next sync tries them again; returns how many."""
        return release_held(self.store, self.table)

