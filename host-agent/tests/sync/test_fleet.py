"""Many hosts at once: ten agent processes, each with its own data folder and backlog, syncing
into one PostgreSQL at the same time, arrive row for row, nothing twice, nothing missing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase

from tests.support.rows import BASE_TIME, add_file_events, local_file_rows

HOST_AGENT_DIR = Path(__file__).resolve().parents[2]
HOSTS = 10


def test_ten_hosts_syncing_at_once_arrive_row_for_row(tmp_path, pg_url):
    folders = []
    for host in range(HOSTS):
        folder = tmp_path / f"host{host}"
        with FileChangeDatabase(folder / "file_changes.db") as files:
            add_file_events(files, 2000 + 100 * host)
        with DesktopActivityDatabase(folder / "desktop_activity.db") as desktop:
            for i in range(200):
                session = desktop.start_session("editor", f"host {host} file {i}", BASE_TIME + i)
                desktop.end_session(session, BASE_TIME + i + 5)
        folders.append(folder)

    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.sync_once", pg_url, str(folder), "500"],
            cwd=HOST_AGENT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        for folder in folders
    ]
    for proc in processes:
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()

    async def remote():
        conn = await asyncpg.connect(pg_url)
        try:
            files = {
                str(origin): [tuple(r) for r in await conn.fetch(
                    "SELECT local_id, file_path, event_type FROM file_change_events WHERE origin_id = $1 "
                    "ORDER BY local_id", origin
                )]
                for origin in await conn.fetchval("SELECT array_agg(DISTINCT origin_id) FROM file_change_events")
            }  # fmt: skip
            sessions = await conn.fetchval("SELECT count(*) FROM desktop_activity_sessions WHERE duration_seconds = 5")
            duplicates = await conn.fetchval(
                "SELECT count(*) FROM (SELECT origin_id, local_id FROM file_change_events "
                "GROUP BY 1, 2 HAVING count(*) > 1) AS d"
            )
            return files, sessions, duplicates
        finally:
            await conn.close()

    files, sessions, duplicates = asyncio.run(remote())
    assert duplicates == 0
    assert sessions == 200 * HOSTS
    assert len(files) == HOSTS
    for folder in folders:
        with FileChangeDatabase(folder / "file_changes.db") as db:
            assert files[db.origin_id] == local_file_rows(db)
