"""One ``DataSyncManager.sync_all()`` in this process, reported as one line of JSON: the run
``bench_sync.py`` measures (rows, seconds, peak memory, CPU).

It imports nothing of the agent but the plan's ``host_agent.common.data_sync``, whose
constructor every revision keeps, so the same worker also runs the engine of an earlier
revision: ``bench_sync.py --reference REV`` puts that revision's ``host-agent`` and
``services/database`` first on ``PYTHONPATH``.

Usage: python bench/sync_worker.py URL DB BATCH TABLE
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(rows: int, seconds: float) -> None:
    """What a worker prints last: its rows and time, its process's peak memory and CPU (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_rss_mb(),
                      "cpu_s": usage.ru_utime + usage.ru_stime}))


async def sync(url: str, db: Path, batch: int, table: str) -> int:
    """``table``'s store is ``db``; the other table's is an empty store beside it."""
    from host_agent.common.data_sync import DataSyncManager

    desktop = db if table == "desktop_activity_sessions" else db.with_name("desktop_activity.db")
    files = db if table == "file_change_events" else db.with_name("file_changes.db")
    manager = DataSyncManager(url, desktop, files, batch_size=batch)
    await manager.initialize()
    try:
        results = await manager.sync_all()
    finally:
        await manager.close()
    result = results[table]
    assert result.status == "success", result
    return result.records_synced


def main() -> None:
    url, db, batch, table = sys.argv[1:5]
    started = time.perf_counter()
    rows = asyncio.run(sync(url, Path(db), int(batch), table))
    report(rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
