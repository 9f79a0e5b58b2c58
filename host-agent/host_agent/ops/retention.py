"""``reprospective-agent purge``: local retention applied from the command line.

The rule itself (what may be deleted, in small batches) lives in :mod:`host_agent.common.retention`,
which the sync engine also applies after each run.
"""

from __future__ import annotations

from host_agent.common.retention import purge_stores, purge_synced
from host_agent.config import AgentConfig
from host_agent.ops.local import table_paths

__all__ = ["purge_config", "purge_stores", "purge_synced"]


def purge_config(config: AgentConfig, *, batch_size: int = 1000, now: float | None = None) -> dict[str, int]:
    """Apply ``data_sync.retention_days`` to both local databases (those that exist)."""
    days = config.data_sync.retention_days
    return {
        table: purge_synced(path, table, days, batch_size, now=now) if path.exists() else 0
        for table, path in table_paths(config).items()
    }
