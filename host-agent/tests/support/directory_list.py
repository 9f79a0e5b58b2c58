"""One read of a host's directory list from PostgreSQL, as its own process (a host of a fleet).

Usage: python -m tests.support.directory_list URL CACHE_FILE HOST
Prints where the list came from (``postgresql``, ``last list seen`` or ``config.yaml``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from host_agent.collectors.files.directories import PostgresDirectories


async def main(url: str, cache: Path, host: str) -> None:
    found = await PostgresDirectories(url, [], cache, host=host).load()
    print(found.origin)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
