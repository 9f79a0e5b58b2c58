"""What one sync run did for one table: the figures ``sync_all()`` returns and ``sync_logs`` keeps.

Two different things can keep a row from arriving, and they are kept apart: a row PostgreSQL
*refused* is held back locally (``records_held``, with its reason); a row the run *did not reach*
because it stopped early (PostgreSQL went away) is simply still waiting (``records_left``) and
goes with the next run. ``records_failed``, the plan's ``sync_logs`` column, is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from host_agent.sync.errors import ErrorKind

#: Held-back rows named one by one in a sync_logs error_message; the rest are counted.
MAX_REASONS_LOGGED = 10


@dataclass
class TableResult:
    """What one run did for one table."""

    table_name: str
    records_synced: int = 0
    records_held: int = 0  # refused by PostgreSQL in this run, held back locally
    records_left: int = 0  # not attempted: the run stopped early; they wait for the next run
    status: str = "success"  # success | partial_success | failed
    error: str | None = None  # why the run stopped early (PostgreSQL away, ...)
    error_kind: ErrorKind | None = None
    held: list[str] = field(default_factory=list)  # why each held-back row was refused
    started_at: float = 0.0
    completed_at: float = 0.0

    @property
    def records_failed(self) -> int:
        return self.records_held + self.records_left

    @property
    def error_message(self) -> str | None:
        """For ``sync_logs``: the run's error, rows left waiting, then the held-back rows and why."""
        parts = [self.error] if self.error else []
        if self.records_left:
            parts.append(f"{self.records_left} rows left waiting for the next run")
        if self.held:
            parts.append(f"{len(self.held)} rows held back: " + "; ".join(self.held[:MAX_REASONS_LOGGED]))
            if len(self.held) > MAX_REASONS_LOGGED:
                parts.append(f"and {len(self.held) - MAX_REASONS_LOGGED} more held-back rows")
        return "; ".join(parts) or None

    @property
    def transient_failure(self) -> bool:
        return self.error_kind is ErrorKind.TRANSIENT

    @property
    def worth_logging(self) -> bool:
        return bool(self.records_synced or self.records_failed or self.error_message)

    def summary(self) -> str:
        """One phrase for the agent's log: ``file_change_events 120 synced, 2 held back``."""
        parts = [f"{self.records_synced} synced"]
        if self.records_held:
            parts.append(f"{self.records_held} held back")
        if self.records_left:
            parts.append(f"{self.records_left} left waiting")
        return f"{self.table_name} {', '.join(parts)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "table_name": self.table_name,
            "records_synced": self.records_synced,
            "records_held": self.records_held,
            "records_left": self.records_left,
            "records_failed": self.records_failed,
            "status": self.status,
            "error_message": self.error_message,
        }

    def finish(self, completed_at: float) -> None:
        self.completed_at = completed_at
        self.status = _status(self)


def _status(result: TableResult) -> str:
    if result.error is None and not result.held:
        return "success"
    return "partial_success" if result.records_synced else "failed"
