"""What a synced table is: one description per table, and everything derived from it.

A :class:`SyncedTable` names the table (the same locally and in PostgreSQL), the local store
class holding it, the columns that travel, the config key of its database file, since when a
waiting row counts as waiting, and which synced rows retention may delete. The sync routine,
retention, ``status``, ``held`` and the read-only views all take their SQL from it, so a third
table is one new description in :data:`SYNCED_TABLES`.

SQL is built here from the descriptions' fixed identifiers only (checked below); values always
travel as parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from host_agent.core.config import AgentConfig
from host_agent.store.pg_values import (
    FLAG,
    INTEGER,
    TEXT,
    TIME,
    copy_text_sql,
    has_nul_sql,
    line_args_sql,
    line_concat_sql,
    line_format_sql,
    problem_sql,
)
from host_agent.store.desktop_activity import DESKTOP_DATA_COLUMNS, DesktopActivityDatabase
from host_agent.store.file_changes import FILE_DATA_COLUMNS, FileChangeDatabase
from host_agent.store.sqlite_store import SQLiteStore

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class SyncedTable:
    """One synced table. Times are UTC epoch seconds locally and ``timestamptz`` remotely;
    flags are 0/1 locally and ``boolean`` remotely; SQLite writes the rows as the sync's COPY
    text (:mod:`host_agent.store.pg_values`)."""

    name: str
    store: type[SQLiteStore]
    #: The columns that travel, with the same names on both sides.
    columns: tuple[str, ...]
    #: The :class:`AgentConfig` attribute holding the local database's path.
    config_path: str
    #: The column telling since when a waiting row waits.
    waiting_since: str
    #: What a synced row must also satisfy before retention may delete it.
    purgeable_when: str = "1"
    #: The columns that are not text: times (epoch seconds), integers, flags (0/1).
    times: frozenset[str] = frozenset()
    integers: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for identifier in (self.name, self.waiting_since, *self.columns):
            if not _IDENTIFIER.match(identifier):
                raise ValueError(f"{identifier!r} is not a plain SQL identifier")
        unknown = (self.times | self.integers | self.flags) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.name}: typed columns that do not travel: {', '.join(sorted(unknown))}")

    def kind(self, column: str) -> str:
        if column in self.times:
            return TIME
        if column in self.integers:
            return INTEGER
        if column in self.flags:
            return FLAG
        return TEXT

    def db_path(self, config: AgentConfig) -> Path:
        return getattr(config, self.config_path)

    # -- SQLite statements ---------------------------------------------------------------

    def not_held(self, alias: str = "t") -> str:
        """A row counts as held back only at the revision PostgreSQL refused: once edited, it waits again."""
        return (
            f"NOT EXISTS (SELECT 1 FROM sync_held_rows AS h WHERE h.table_name = '{self.name}' "
            f"AND h.row_id = {alias}.id AND h.revision = {alias}.sync_revision)"
        )

    #: The values every line ends with, the same for the whole run: host, origin, synced_at.
    LINE_CONSTANTS = 3

    def _waiting(self, up_to: str, skip_held: bool) -> str:
        """The condition of a waiting row ``t`` after id ``?4`` and up to ``up_to``."""
        held = f" AND {self.not_held()}" if skip_held else ""
        return f"t.synced_at IS NULL AND t.id > ?4 AND t.id <= {up_to}{held}"

    def _waiting_sql(self, select: str, skip_held: bool) -> str:
        return f"SELECT {select} FROM {self.name} AS t WHERE {self._waiting('?5', skip_held)} ORDER BY t.id LIMIT ?6"

    def _line_sql(self) -> str:
        """The row as SQLite writes it for COPY (bytes, see :mod:`~host_agent.store.pg_values`): id,
        revision, the columns, then host, origin and synced_at (parameters 1 to 3)."""
        columns = [(c, self.kind(c)) for c in self.columns]
        fmt = line_format_sql(len(columns), self.LINE_CONSTANTS)
        constants = [f"?{n}" for n in range(1, self.LINE_CONSTANTS + 1)]
        return (
            f"CAST(CASE WHEN {has_nul_sql(columns)} THEN {line_concat_sql(columns, constants)} "
            f"ELSE printf({fmt}, t.id, t.sync_revision, {line_args_sql(columns)}, {', '.join(constants)}) END AS BLOB)"
        )

    def select_waiting_sql(self, *, skip_held: bool = True) -> str:
        """Waiting rows one by one: ``(id, sync_revision, problem, line)``; ``problem`` says why the
        row cannot travel (NULL if it can). Parameters: host, origin, synced_at (ISO text), after
        id, up to id, limit.

        ``skip_held=False`` leaves out the held-rows check, for a run that found none held."""
        columns = [(c, self.kind(c)) for c in self.columns]
        return self._waiting_sql(
            f"t.id, t.sync_revision, {problem_sql(columns)}, {self._line_sql()}", skip_held
        )

    def select_batch_sql(self, *, skip_held: bool = True) -> str:
        """A batch of waiting rows in one result row, written by ``copy_text()``: ``(rows, first
        id, last id, lowest and highest revision, COPY text)``; the text is NULL if a row cannot
        travel. Parameters as :meth:`select_waiting_sql`.

        The batch's last id is found first, on the ``synced_at`` index alone; the rows up to it
        then go straight to ``copy_text()``, with no subquery handing each value on (about a
        fifth less work for SQLite). The lines come in id order, though COPY needs none."""
        last_id = f"(SELECT max(id) FROM ({self._waiting_sql('t.id', skip_held)}))"
        columns = [(f"t.{c}", self.kind(c)) for c in self.columns]
        constants = [f"?{n}" for n in range(1, self.LINE_CONSTANTS + 1)]
        return (
            f"SELECT count(*), min(t.id), max(t.id), min(t.sync_revision), max(t.sync_revision), "
            f"{copy_text_sql('t.id', 't.sync_revision', columns, constants)} FROM {self.name} AS t "
            f"WHERE {self._waiting(last_id, skip_held)}"
        )

    def any_held_sql(self) -> str:
        return f"SELECT EXISTS (SELECT 1 FROM sync_held_rows WHERE table_name = '{self.name}')"

    def waiting_sql(self) -> str:
        """How many rows wait (held-back rows excluded) and since when the oldest waits."""
        return (
            f"SELECT COUNT(*), MIN(t.{self.waiting_since}) FROM {self.name} AS t "
            f"WHERE t.synced_at IS NULL AND {self.not_held()}"
        )

    def last_id_sql(self) -> str:
        return f"SELECT COALESCE(MAX(id), 0) FROM {self.name}"

    def last_synced_sql(self) -> str:
        return f"SELECT MAX(synced_at) FROM {self.name}"

    def mark_synced_sql(self) -> str:
        """Parameters: synced_at, a JSON array of ``[id, revision sent]``. One statement per batch;
        a row edited since it was read (its revision moved on) keeps waiting."""
        return (
            f"UPDATE {self.name} SET synced_at = ? FROM json_each(?) AS j "
            f"WHERE {self.name}.id = json_extract(j.value, '$[0]') "
            f"AND {self.name}.sync_revision = json_extract(j.value, '$[1]')"
        )

    def mark_synced_range_sql(self) -> str:
        """Parameters: synced_at, first id, last id, the revision sent, a JSON array of ids in
        between not to mark (see :mod:`host_agent.store.marks`). Only rows still waiting at the
        revision sent are marked.

        The unary ``+`` keeps SQLite from walking the ``synced_at`` index that the statement
        changes (which costs it a second pass over the rows); it walks the ids instead, about
        a fifth less work for a batch (``bench/bench_sync.py``)."""
        return (
            f"UPDATE {self.name} SET synced_at = ? WHERE id BETWEEN ? AND ? "
            f"AND +synced_at IS NULL AND sync_revision = ? "
            f"AND id NOT IN (SELECT value FROM json_each(?))"
        )

    def held_rows_sql(self) -> str:
        """The rows held back at their current revision, oldest id first."""
        return (
            f"SELECT h.row_id, h.revision, h.reason, h.held_at FROM sync_held_rows AS h "
            f"JOIN {self.name} AS t ON t.id = h.row_id AND t.sync_revision = h.revision "
            f"WHERE h.table_name = '{self.name}' AND t.synced_at IS NULL ORDER BY h.row_id"
        )

    def release_held_sql(self) -> str:
        """Forget every held-back mark of this table: the next run tries those rows again."""
        return f"DELETE FROM sync_held_rows WHERE table_name = '{self.name}'"

    def purge_sql(self) -> str:
        """Parameters: cutoff (epoch seconds), batch size."""
        return (
            f"DELETE FROM {self.name} WHERE id IN (SELECT id FROM {self.name} "
            f"WHERE synced_at IS NOT NULL AND synced_at < ? AND {self.purgeable_when} LIMIT ?)"
        )


DESKTOP_ACTIVITY_SESSIONS = SyncedTable(
    name="desktop_activity_sessions",
    store=DesktopActivityDatabase,
    columns=(*DESKTOP_DATA_COLUMNS, "created_at", "updated_at"),
    config_path="desktop_db_path",
    times=frozenset({"start_time", "end_time", "created_at", "updated_at"}),
    integers=frozenset({"duration_seconds"}),
    # A session waits from its last change: closing a synced session makes it wait again.
    waiting_since="updated_at",
    # An open session (no end yet) will change again: it stays.
    purgeable_when="end_time IS NOT NULL",
)

FILE_CHANGE_EVENTS = SyncedTable(
    name="file_change_events",
    store=FileChangeDatabase,
    columns=(*FILE_DATA_COLUMNS, "created_at"),
    config_path="file_events_db_path",
    times=frozenset({"event_time", "detected_at", "created_at"}),
    integers=frozenset({"file_size"}),
    flags=frozenset({"is_symlink"}),
    waiting_since="created_at",
)

#: Every synced table, in the order a run syncs them.
SYNCED_TABLES: tuple[SyncedTable, ...] = (DESKTOP_ACTIVITY_SESSIONS, FILE_CHANGE_EVENTS)


@dataclass(frozen=True)
class LocalTable:
    """A synced table and the local database file holding it."""

    table: SyncedTable
    db_path: Path

    @property
    def name(self) -> str:
        return self.table.name


def local_tables(config: AgentConfig, tables: tuple[SyncedTable, ...] = SYNCED_TABLES) -> list[LocalTable]:
    """Each synced table with its database file, as the configuration places them."""
    return [LocalTable(table, table.db_path(config)) for table in tables]


def release_held(store: SQLiteStore, table: SyncedTable) -> int:
    """Forget the held-back marks of ``table`` in an open store; returns how many."""
    with store.atomic() as conn:
        return conn.execute(table.release_held_sql()).rowcount
