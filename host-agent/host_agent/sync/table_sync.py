"""Syncing one table, once: the routine every table description drives.

A :class:`~host_agent.store.tables.SyncedTable` says which local columns travel (same names on
both sides); :class:`PgStatements` derives its PostgreSQL statements. :class:`TableSync` does the
work for any table:

1. read a batch of waiting rows from SQLite by keyset (``synced_at IS NULL AND id > last``),
   skipping rows held back at their current revision; SQLite writes the whole batch as one
   block of ``COPY`` text (``copy_text()``, see :mod:`host_agent.store.pg_values`), so no
   Python code runs per row or value. A row holding a value that cannot travel (wrong type,
   not UTF-8) makes the batch be read again row by row: that row is held back with its
   reason, the others go;
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
3. if PostgreSQL refuses a value, the batch is split into its lines (each half in a savepoint)
   until the bad rows are found; the good rows go through;
4. after the commit, the batch is marked synced in SQLite in one short transaction (only rows
   whose revision is still the one sent; a backlog's nearly dense ids as one id range, see
   :mod:`host_agent.store.marks`), and held-back rows are recorded with their reason.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from host_agent.store.sqlite_store import SQLiteStore
from host_agent.store.journal import RunProgress, SyncJournal
from host_agent.store.marks import MarkPlan, plan_marks
from host_agent.store.pg_values import finish_copy_row, markers_per_row, pg_time_text
from host_agent.store.tables import SyncedTable, release_held
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
        """In the order of the lines SQLite writes (:meth:`SyncedTable.select_waiting_sql`)."""
        return ["local_id", "local_revision", *self.table.columns, "host_identifier", "origin_id", "synced_at"]

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


Row = tuple[Any, ...]  # (id, revision sent, COPY line) of one row


@dataclass
class Batch:
    """Waiting rows read in one go: the rows that travel as one block of COPY text, and the rows
    that cannot travel (a value of the wrong type, text that is not UTF-8) with their reasons."""

    #: Every row read, those that cannot travel included: the next batch reads after ``last_id``.
    read: int = 0
    first_id: int = 0
    last_id: int = 0
    #: The revision every row read is at, or ``None`` if they differ.
    revision: int | None = 0
    #: The rows that travel, as COPY text: one line per row, each ending with a newline.
    data: bytes = b""
    #: How many lines ``data`` holds.
    count: int = 0
    problems: list[tuple[Row, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.read > 0

    @property
    def edited(self) -> bool:
        """Whether a row read was edited since it was first written (``sync_revision > 0``)."""
        return self.revision != 0

    def __len__(self) -> int:
        return self.count

    @property
    def dense(self) -> bool:
        """Every id from the first to the last travels, all at one revision: marked as one id range."""
        return self.revision is not None and not self.problems and self.count == self.last_id - self.first_id + 1

    def rows(self) -> list[Row]:
        """The rows that travel, one by one (for splitting a refused batch, for irregular marks)."""
        rows = []
        for line in self.data.split(b"\n")[:-1]:
            row_id, revision, _rest = line.split(b"\t", 2)
            rows.append((int(row_id), int(revision), line + b"\n"))
        return rows

    def mark_plan(self) -> MarkPlan:
        if self.dense:
            return MarkPlan(range_=(self.first_id, self.last_id), revision=self.revision)  # dense: one revision
        return plan_marks([row[:2] for row in self.rows()])


@dataclass
class BatchOutcome:
    """What PostgreSQL took of a batch: the whole :class:`Batch`, or the rows that went through."""

    synced: Batch | Sequence[Row] = field(default_factory=list)
    held: list[tuple[Row, str]] = field(default_factory=list)

    def mark_plan(self) -> MarkPlan:
        if isinstance(self.synced, Batch):
            return self.synced.mark_plan()
        return plan_marks([row[:2] for row in self.synced])

    def synced_ids(self) -> list[int]:
        rows = self.synced.rows() if isinstance(self.synced, Batch) else self.synced
        return [row[0] for row in rows]


#: Bytes of COPY text handed to the driver at a time: the socket's flow control paces them, so a
#: batch is never copied whole into the driver's or the transport's buffers.
COPY_CHUNK = 256 * 1024


async def _chunks(data: bytes) -> AsyncIterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), COPY_CHUNK):
        yield view[start : start + COPY_CHUNK]


class TableSync:
    """The sync routine for one table of one local store."""

    def __init__(self, table: SyncedTable, store: SQLiteStore, host_identifier: str) -> None:
        self.table = table
        self.pg = PgStatements(table)
        self.store = store
        self.host_identifier = host_identifier
        self.origin_id = store.origin_id
        self.journal = SyncJournal(store, table.name)
        self._batch_sql = table.select_batch_sql()
        self._batch_sql_none_held = table.select_batch_sql(skip_held=False)
        self._rows_sql = table.select_waiting_sql()
        self._markers = markers_per_row(len(table.columns), table.LINE_CONSTANTS)
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

    def read_batch(self, after_id: int, limit: int, upto_id: int) -> Batch:
        """Up to ``limit`` waiting rows with ``after_id < id <= upto_id``, as one :class:`Batch`."""
        sql = self._batch_sql if self._any_held else self._batch_sql_none_held
        constants = (self.host_identifier, self.origin_id, pg_time_text(time.time()))
        read, first, last, lowest, highest, data = self.store.fetch_all(sql, (*constants, after_id, upto_id, limit))[0]
        if not read:
            return Batch()
        if data is None:  # a value that cannot travel somewhere: find its row, and why
            return self._read_rows(constants, first, last, read)
        return Batch(read, first, last, highest if lowest == highest else None, data, read)

    def _read_rows(self, constants: tuple, first: int, last: int, limit: int) -> Batch:
        """The rows of ``first..last`` one by one: a row whose text is not UTF-8 cannot travel."""
        batch = Batch(0, first, last)
        lines = []
        for row_id, revision, problem, raw in self.store.fetch_all(
            self._rows_sql, (*constants, first - 1, last, limit), as_tuples=True
        ):
            batch.revision = revision if batch.read == 0 or batch.revision == revision else None
            batch.read += 1
            if problem is None:
                try:
                    lines.append(finish_copy_row(raw, self._markers))
                    continue
                except UnicodeError as exc:
                    problem = f"cannot encode value: {exc}"
            batch.problems.append(((row_id, revision, None), self._reason(row_id, problem)))
        batch.data, batch.count = b"".join(lines), len(lines)
        return batch

    @staticmethod
    def _reason(row_id: int, problem: str) -> str:
        return f"row id {row_id}: {describe(RowEncodingError(problem))}"

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
            plan = outcome.mark_plan()
            if plan.range_ is not None:
                conn.execute(self.table.mark_synced_range_sql(),
                             (now, *plan.range_, plan.revision, json.dumps(plan.excluded)))
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
                    (self.table.name, json.dumps(outcome.synced_ids())),
                )

    # -- PostgreSQL side -------------------------------------------------------------------

    async def write_in_transaction(self, conn: asyncpg.Connection, batch: Batch, timeout: float) -> BatchOutcome:
        """Write ``batch`` inside the caller's open transaction (which commits it): each attempt
        in a savepoint, bad rows isolated. Raises for anything else."""
        outcome = BatchOutcome(held=list(batch.problems))
        if not batch.count:
            return outcome
        refused: BaseException | None = None
        if not self.resending and not batch.edited:  # never edited: most likely never sent
            try:
                async with conn.transaction():  # a savepoint
                    await self._copy(conn, self.table.name, batch.data, timeout)
                outcome.synced = batch
                return outcome
            except asyncpg.UniqueViolationError:
                self.resending = True  # already there: merge this batch and the rest of the run
            except Exception as exc:
                if classify(exc) is not ErrorKind.DATA:
                    raise
                refused = exc  # a bad value: isolate the bad rows through the merge
        if self._merge_sqls is None:
            keys = [list(r[0]) for r in await conn.fetch(PgStatements.UNIQUE_KEYS_SQL, self.name, timeout=timeout)]
            key = PgStatements.conflict_key(keys)
            self._merge_sqls = [sql for sql in (self.pg.moved_rows_sql(key), self.pg.merge_sql(key)) if sql]
        await conn.execute(self.pg.create_stage_sql(), timeout=timeout)
        if refused is None:
            try:
                await self._merge(conn, batch.data, timeout)
                outcome.synced = batch
                return outcome
            except Exception as exc:
                if classify(exc) is not ErrorKind.DATA:
                    raise
                refused = exc
        outcome.synced = []
        await self._split(conn, batch.rows(), refused, outcome, timeout)
        return outcome

    async def _merge(self, conn: asyncpg.Connection, data: bytes, timeout: float) -> None:
        async with conn.transaction():  # a savepoint: a refusal undoes only this attempt
            await conn.execute(f"TRUNCATE {self.pg.stage_table}", timeout=timeout)
            await self._copy(conn, self.pg.stage_table, data, timeout)
            for sql in self._merge_sqls or ():
                await conn.execute(sql, timeout=timeout)

    async def _split(
        self, conn: asyncpg.Connection, rows: list[Row], refused: BaseException, outcome: BatchOutcome, timeout: float
    ) -> None:
        """``rows`` were refused together: hold the row back if it is one, else try each half."""
        if len(rows) == 1:
            outcome.held.append((rows[0], f"row id {rows[0][0]}: {describe(refused)}"))
            return
        middle = len(rows) // 2
        for part in (rows[:middle], rows[middle:]):
            try:
                await self._merge(conn, b"".join(row[2] for row in part), timeout)
            except Exception as exc:
                if classify(exc) is not ErrorKind.DATA:
                    raise
                await self._split(conn, part, exc, outcome, timeout)
            else:
                outcome.synced.extend(part)

    async def _copy(self, conn: asyncpg.Connection, table: str, data: bytes, timeout: float) -> None:
        await conn.copy_to_table(
            table, source=_chunks(data), columns=self.pg.copy_columns, format="text", timeout=timeout
        )

    # -- held-back rows ------------------------------------------------------------------

    def held_rows(self) -> list[sqlite3.Row]:
        """The rows held back at their current revision."""
        with self.store.reading() as conn:
            return conn.execute(self.table.held_rows_sql()).fetchall()

    def release_held(self) -> int:
        """Forget held-back rows so that the next sync tries them again; returns how many."""
        return release_held(self.store, self.table)

