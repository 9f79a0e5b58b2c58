"""What one sync run did for one table: the figures ``sync_all()`` returns and ``sync_logs`` keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from host_agent.common.sync_errors import ErrorKind

#: Held-back rows named one by one in a sync_logs error_message; the rest are counted.
MAX_REASONS_LOGGED = 10


@dataclass
class TableResult:
    """What one run did for one table."""

    table_name: str
    records_synced: int = 0
    records_failed: int = 0
    status: str = "success"  # success | partial_success | failed
    error: str | None = None  # why the run stopped early (PostgreSQL away, ...)
    error_kind: ErrorKind | None = None
    held: list[str] = field(default_factory=list)  # why each held-back row was refused
    started_at: float = 0.0
    completed_at: float = 0.0

    @property
    def error_message(self) -> str | None:
        """For ``sync_logs``: the run's error, then the held-back rows (their local id and cause)."""
        parts = ([self.error] if self.error else []) + self.held[:MAX_REASONS_LOGGED]
        if len(self.held) > MAX_REASONS_LOGGED:
            parts.append(
                f"and {len(self.held) - MAX_REASONS_LOGGED} more held-back rows"
            )
        return "; ".join(parts) or None

    @property
    def transient_failure(self) -> bool:
        return self.error_kind is ErrorKind.TRANSIENT

    @property
    def worth_logging(self) -> bool:
        return bool(self.records_synced or self.records_failed or self.error_message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table_name": self.table_name,
            "records_synced": self.records_synced,
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
