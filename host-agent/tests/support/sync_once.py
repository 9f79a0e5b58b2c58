"""One sync of a data folder, as its own process (for tests that kill it midway).

Usage: python -m tests.support.sync_once URL DATA_DIR BATCH_SIZE
Exit code 0 when every table synced completely.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from host_agent.common.data_sync import DataSyncManager


async def main(url: str, data_dir: Path, batch_size: int) -> int:
    manager = DataSyncManager(url, data_dir / "desktop_activity.db", data_dir / "file_changes.db", batch_size=batch_size)
    await manager.initialize()
    try:
        results = await manager.sync_all()
    finally:
        await manager.close()
    return 0 if all(r.status == "success" for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))
