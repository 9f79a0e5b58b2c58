"""Re-sending is harmless: no crash, lost update, restored backup or second sync makes a copy."""

from __future__ import annotations

import pytest

import asyncio
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from host_agent.common.database import FileChangeDatabase

from tests.support.rows import add_file_events, local_file_rows, pg_file_rows

pytestmark = pytest.mark.both_layouts  # each test using the database runs on the plain and partitioned layouts

HOST_AGENT_DIR = Path(__file__).resolve().parents[2]


async def test_a_lost_flag_update_does_not_duplicate_rows(files_db, pg_url, pg, manager_factory):
    add_file_events(files_db, 300)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    with files_db.atomic() as conn:  # the marks never reached the disk
        conn.execute("UPDATE file_change_events SET synced_at = NULL")
    result = await manager.sync_all()
    assert result["file_change_events"].status == "success"
    assert await pg_file_rows(pg) == [(i, p, t) for i, p, t in local_file_rows(files_db)]


async def test_an_old_backup_of_the_local_database_restored_does_not_duplicate_rows(
    data_dir, files_db, pg_url, pg, manager_factory
):
    add_file_events(files_db, 100)
    with files_db.reading() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backup = data_dir / "backup.db"
    shutil.copy(files_db.db_path, backup)
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    await manager.close()
    files_db.close()

    for suffix in ("-wal", "-shm"):
        Path(str(files_db.db_path) + suffix).unlink(missing_ok=True)
    shutil.copy(backup, files_db.db_path)
    restored = FileChangeDatabase(files_db.db_path)
    add_file_events(restored, 20, start=100)
    manager = await manager_factory(pg_url)
    result = await manager.sync_all()
    assert result["file_change_events"].records_synced == 120  # all re-sent, harmlessly
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 120
    restored.close()


async def test_a_recreated_local_database_syncs_its_new_rows_as_new_ones(data_dir, pg_url, pg, manager_factory):
    path = data_dir / "file_changes.db"
    first = FileChangeDatabase(path)
    add_file_events(first, 10)
    first_origin = first.origin_id
    manager = await manager_factory(pg_url)
    await manager.sync_all()
    await manager.close()
    first.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)

    second = FileChangeDatabase(path)  # ids start at 1 again
    add_file_events(second, 10, start=500)
    manager = await manager_factory(pg_url)
    assert (await manager.sync_all())["file_change_events"].records_synced == 10
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 20
    assert [r[0] for r in await pg_file_rows(pg, second.origin_id)] == list(range(1, 11))
    assert [r[1] for r in await pg_file_rows(pg, first_origin)] == [f"/home/me/src/app/file_{i}.py" for i in range(10)]
    second.close()


async def test_two_syncs_at_once_neither_duplicate_nor_fail(files_db, pg_url, pg, manager_factory):
    add_file_events(files_db, 2000)
    one = await manager_factory(pg_url, batch_size=50)
    two = await manager_factory(pg_url, batch_size=50)
    first, second = await asyncio.gather(one.sync_all(), two.sync_all())
    statuses = {first["file_change_events"].status, second["file_change_events"].status}
    assert statuses == {"success"}
    assert first["file_change_events"].records_synced + second["file_change_events"].records_synced == 2000
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 2000


def test_a_sync_killed_at_random_moments_leaves_postgresql_equal_to_sqlite(data_dir, files_db, pg_url):
    """Kill -9 the syncing process at random points of its run, five times, then let a run
    complete; PostgreSQL must then hold exactly the local rows: nothing missing, nothing twice."""
    add_file_events(files_db, 20000)
    rng = random.Random(1234)

    def synced() -> int:
        with files_db.reading() as conn:
            return conn.execute("SELECT count(*) FROM file_change_events WHERE synced_at IS NOT NULL").fetchone()[0]

    def start():
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.sync_once", pg_url, str(data_dir), "25"],
            cwd=HOST_AGENT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    for _kill in range(5):
        target = synced() + rng.randint(1, 2500)
        proc = start()
        deadline = time.monotonic() + 60
        while proc.poll() is None and synced() < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.02))  # land anywhere: between COPY, commit and the SQLite mark
        assert proc.poll() is None, "the sync finished before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert 0 < synced() < 20000

    proc = start()
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    local = local_file_rows(files_db)
    remote = asyncio.run(_remote_rows(pg_url))
    assert len(remote) == len(local) == 20000
    assert remote == local
    assert synced() == 20000


async def _remote_rows(url):
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await pg_file_rows(conn)
    finally:
        await conn.close()
