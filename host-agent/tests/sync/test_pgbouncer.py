"""Through a real PgBouncer in transaction pooling mode, the way a fleet may reach one server:
a client holds a server connection only for one transaction, so nothing the sync relies on may
live in a session (prepared statements, advisory locks, settings, temporary tables)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
from host_agent.common.data_sync import DataSyncManager
from host_agent.collectors.files.directories import FROM_POSTGRESQL
from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase
from reprospective_db.schema import load_migrations
from reprospective_db.testing import PgBouncer

from tests.support.rows import BASE_TIME, add_file_events, file_event, local_file_rows, pg_file_rows

HOST_AGENT_DIR = Path(__file__).resolve().parents[2]
#: Staging tables left on a server connection would outlive the transaction that made them.
STAGING_TABLES = "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_stage\\_%' AND relpersistence = 't'"


def host_folder(base: Path, host: int, files: int, sessions: int) -> Path:
    folder = base / f"host{host}"
    with FileChangeDatabase(folder / "file_changes.db") as db:
        add_file_events(db, files)
    with DesktopActivityDatabase(folder / "desktop_activity.db") as desktop:
        for i in range(sessions):
            session = desktop.start_session("editor", f"host {host} file {i}", BASE_TIME + i)
            desktop.end_session(session, BASE_TIME + i + 5)
    return folder


async def sync_folders(url: str, folders: list[Path], **options) -> list[dict]:
    """One sync run of each folder, all at once, each its own manager (its own pool)."""
    managers = [
        DataSyncManager(url, f / "desktop_activity.db", f / "file_changes.db", batch_size=100, **options)
        for f in folders
    ]
    try:
        await asyncio.gather(*(m.initialize() for m in managers))
        return await asyncio.gather(*(m.sync_all() for m in managers))
    finally:
        await asyncio.gather(*(m.close() for m in managers))


async def test_hosts_sharing_a_small_pgbouncer_pool_sync_row_for_row(tmp_path, pgbouncer, pgbouncer_url, pg, caplog):
    # Six hosts, two connections each, through four server connections: every statement of
    # every batch runs wherever PgBouncer puts it.
    folders = [host_folder(tmp_path, host, 700 + 50 * host, 120) for host in range(6)]
    runs = await sync_folders(pgbouncer_url, folders)
    for results in runs:
        assert {r.status for r in results.values()} == {"success"}
    for folder in folders:
        with FileChangeDatabase(folder / "file_changes.db") as db:
            assert await pg_file_rows(pg, db.origin_id) == local_file_rows(db)
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions") == 6 * 120
    # Each run's log row reached sync_logs (one per table per host), none of them a failure.
    statuses = [r["status"] for r in await pg.fetch("SELECT status FROM sync_logs")]
    assert statuses == ["success"] * 12
    assert "prepared statement" not in caplog.text and "Traceback" not in caplog.text


async def test_a_resent_backlog_and_edited_sessions_merge_through_pgbouncer(tmp_path, pgbouncer_url, pg):
    folders = [host_folder(tmp_path, host, 500, 60) for host in range(3)]
    await sync_folders(pgbouncer_url, folders)
    for folder in folders:
        with FileChangeDatabase(folder / "file_changes.db") as db, db.atomic() as conn:
            conn.execute("UPDATE file_change_events SET synced_at = NULL")  # the marks were lost
        with DesktopActivityDatabase(folder / "desktop_activity.db") as desktop, desktop.atomic() as conn:
            conn.execute("UPDATE desktop_activity_sessions SET duration_seconds = 9")  # edited since synced

    runs = await sync_folders(pgbouncer_url, folders)
    for results in runs:
        assert results["file_change_events"].records_synced == 500
        assert results["desktop_activity_sessions"].records_synced == 60
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 3 * 500
    assert await pg.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM file_change_events GROUP BY origin_id, local_id HAVING count(*) > 1) d"
    ) == 0
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions WHERE duration_seconds = 9") == 3 * 60
    # The merge's staging tables lived inside their transactions: none is left on the server
    # connections PgBouncer keeps open for the next clients.
    assert await pg.fetchval(STAGING_TABLES) == 0


async def test_rows_postgresql_refuses_are_held_back_through_pgbouncer(data_dir, files_db, pgbouncer_url, pg):
    add_file_events(files_db, 50)
    nul = files_db.save_event(file_event(50, file_name="evil\x00name.py"))
    add_file_events(files_db, 50, start=51)
    manager = DataSyncManager(pgbouncer_url, data_dir / "desktop_activity.db", files_db.db_path, batch_size=16)
    await manager.initialize()
    try:
        result = (await manager.sync_all())["file_change_events"]
        held = manager.held_rows("file_change_events")
    finally:
        await manager.close()
    assert (result.records_synced, result.records_held, result.status) == (100, 1, "partial_success")
    assert [(row_id, "CharacterNotInRepertoireError [22021]" in reason) for row_id, _, reason, _ in held] == [(nul, True)]
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 100
    assert await pg.fetchval(STAGING_TABLES) == 0


async def test_hosts_starting_at_once_on_an_empty_database_upgrade_its_schema_through_pgbouncer(
    tmp_path, pgbouncer, pg_server, pg_database, empty_pg_database
):
    folders = [host_folder(tmp_path, host, 200, 10) for host in range(4)]
    runs = await sync_folders(pgbouncer.url(empty_pg_database), folders)
    for results in runs:
        assert {r.status for r in results.values()} == {"success"}
    conn = await asyncpg.connect(pg_server.url(empty_pg_database))
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [m.version for m in load_migrations()]
        assert await conn.fetchval("SELECT count(*) FROM file_change_events") == 4 * 200
        assert await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    finally:
        await conn.close()
    assert pg_server.dump_schema(empty_pg_database) == pg_server.dump_schema(pg_database)


def test_hosts_one_after_another_read_their_directory_list_and_the_schema_through_pgbouncer(
    tmp_path, pg_server, pg_database
):
    # One server connection behind PgBouncer, kept from client to client: whatever one host's
    # process left prepared there, the next host's process (numbering its statements from 1
    # again) meets.
    bouncer = PgBouncer(pg_server, pool_size=1)
    bouncer.start()
    try:
        url = bouncer.url(pg_database)
        origins = [
            subprocess.run(
                [sys.executable, "-m", "tests.support.directory_list", url, str(tmp_path / f"{host}.json"), host],
                cwd=HOST_AGENT_DIR, capture_output=True, text=True, timeout=60,
            ).stdout.strip()
            for host in ("alpha", "bravo", "charlie")
        ]  # fmt: skip
        statuses = [
            subprocess.run(
                [str(Path(sys.executable).parent / "reprospective-db"), "status", "--database-url", url],
                capture_output=True, text=True, timeout=60,
            )
            for _ in range(2)
        ]  # fmt: skip
    finally:
        bouncer.stop()
    assert origins == [FROM_POSTGRESQL] * 3
    for status in statuses:
        assert status.returncode == 0, status.stdout + status.stderr
