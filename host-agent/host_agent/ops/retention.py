"""``reprospective-agent purge``: local retention applied from the command line.

The rule itself (what may be deleted, in small batches) lives in :mod:`host_agent.store.retention`,
which the sync engine also applies after each run.
"""

from __future__ import annotations

from host_agent.core.config import AgentConfig
from host_agent.store.retention import purge_synced
from host_agent.store.tables import local_tables


def purge_config(config: AgentConfig, *, batch_size: int = 1000, now: float | None = None) -> dict[str, int]:
    """Apply ``data_sync.retention_days`` to every local database that exists."""
    days = config.data_sync.retention_days
    return {
        local.name: purge_synced(local.db_path, local.table, days, batch_size, now=now) if local.db_path.exists() else 0
        for local in local_tables(config)
    }
