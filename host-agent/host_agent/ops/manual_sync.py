"""``sync --once`` and ``held``: one full sync from the command line, and the held-back rows.

A manual sync uses its own :class:`DataSyncManager`. It is safe while the agent runs: both take
the same per-database file locks, so their runs take turns, and PostgreSQL merges on each row's
origin key, so no row is stored twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from host_agent.core.config import AgentConfig
from host_agent.core.errors import AgentError
from host_agent.ops import postgres
from host_agent.store.inspect import HeldRow, inspect_all
from host_agent.store.tables import local_tables, release_held
from host_agent.sync.manager import SyncManager
from host_agent.sync.result import TableResult

#: Below this many waiting rows a run takes about a second: no progress bar.
LARGE_BACKLOG_ROWS = 10_000


class _Bar:
    """A rich progress bar with one line per table, fed by the sync manager's callback."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, table: str, done: int, waiting: int) -> None:
        if table not in self.tasks:
            self.tasks[table] = self.progress.add_task(table, total=max(waiting, done))
        self.progress.update(self.tasks[table], completed=done, total=max(waiting, done))


async def sync_once(config: AgentConfig, *, console: Console | None = None) -> dict[str, TableResult]:
    """Sync every table once, draining its backlog; shows a progress bar for a large backlog."""
    settings = config.data_sync
    if not settings.enabled:
        raise AgentError("data sync is disabled (data_sync.enabled: false)", hint="enable it in the config file")
    started_cluster = False
    if config.uses_embedded_postgres:
        url, started_cluster = await asyncio.to_thread(postgres.start_embedded, config)
    else:
        url = config.postgres_url or ""
    console = console or Console(stderr=True)
    waiting = sum(t.waiting for t in (await asyncio.to_thread(inspect_all, config)).values())
    bar = _Bar(console) if waiting >= LARGE_BACKLOG_ROWS and console.is_terminal else None
    manager = SyncManager(
        url,
        local_tables(config),
        batch_size=settings.batch_size,
        sync_interval=settings.interval_seconds,
        max_retries=settings.max_retries,
        retry_backoff_seconds=settings.retry_backoff_seconds,
        statement_timeout=settings.statement_timeout_seconds,
        run_timeout=settings.run_timeout_seconds,
        progress=bar,
        host_identifier=config.host_identifier,
        data_dir=config.data_dir,
    )
    try:
        await manager.initialize()
        if bar is None:
            return await manager.sync_all()
        with bar.progress:
            return await manager.sync_all()
    finally:
        await manager.close()
        if started_cluster:
            await asyncio.to_thread(postgres.stop_embedded, config, force=True)


def results_ok(results: dict[str, TableResult]) -> bool:
    return all(r.status == "success" for r in results.values())


def render_results(results: dict[str, TableResult] | dict[str, dict[str, Any]]) -> str:
    """One line per table: rows synced, held back (refused by PostgreSQL) and left waiting."""
    figures = {name: r.as_dict() if isinstance(r, TableResult) else r for name, r in results.items()}
    lines = []
    for name, r in figures.items():
        lines.append(
            f"{name:<26} {r['records_synced']:>8} synced  {r.get('records_held', 0):>6} held back  "
            f"{r.get('records_left', 0):>6} left waiting  {r['status']}"
        )
        if r["error_message"]:
            lines.append(f"  {r['error_message']}")
    total = sum(r["records_synced"] for r in figures.values())
    lines.append(f"{'total':<26} {total:>8} synced")
    return "\n".join(lines)


# -- held-back rows ------------------------------------------------------------------------------


def held_rows(config: AgentConfig) -> list[HeldRow]:
    return [row for table in inspect_all(config).values() for row in table.held]


def release_held_rows(config: AgentConfig) -> int:
    """Forget every held-back mark so that the next sync tries those rows again."""
    released = 0
    for local in local_tables(config):
        if local.db_path.exists():
            with local.table.store(local.db_path) as store:
                released += release_held(store, local.table)
    return released


def render_held(rows: list[HeldRow]) -> str:
    if not rows:
        return "No rows are held back."
    lines = [f"{len(rows)} row(s) held back (PostgreSQL refused them; they stay in the local database):"]
    for row in rows:
        at = datetime.fromtimestamp(row.held_at).astimezone()
        reason = row.reason.removeprefix(f"row id {row.row_id}: ")
        lines.append(f"  {row.table_name} row {row.row_id} (held {at:%Y-%m-%d %H:%M:%S %Z}): {reason}")
    lines.append("Fix the cause, then run 'reprospective-agent held --retry'.")
    return "\n".join(lines)
