"""The PostgreSQL schema: both ways in (psql file by file, the shared upgrade routine) give the
same result, upgrades keep rows, and ``reprospective-db`` brings a server up to date."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest
from reprospective_db.schema import MIGRATION_NAME, load_migrations, migrations_dir, upgrade_schema


async def versions(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r["version"] for r in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
    finally:
        await conn.close()


def test_migration_files_are_numbered_snake_case_and_in_sequence():
    files = sorted(p.name for p in migrations_dir().glob("*.sql"))
    assert files[:3] == ["01_init_schema.sql", "02_add_monitored_directories.sql", "03_add_sync_logs.sql"]
    assert all(MIGRATION_NAME.match(name) for name in files)
    numbers = [m.version for m in load_migrations()]
    # Ascending and unique from 1; a number may be missing while the change holding it is elsewhere.
    assert numbers[0] == 1 and numbers == sorted(set(numbers))


async def test_agent_upgrade_of_an_empty_database_equals_applying_every_file_with_psql(
    pg_server, pg_database, empty_pg_database
):
    # pg_database was built by psql applying every file in name order (the Docker way).
    conn = await asyncpg.connect(pg_server.url(empty_pg_database))
    try:
        applied = await upgrade_schema(conn)
    finally:
        await conn.close()
    assert applied == [m.name for m in load_migrations()]
    assert pg_server.dump_schema(empty_pg_database) == pg_server.dump_schema(pg_database)
    assert await versions(pg_server.url(empty_pg_database)) == await versions(pg_server.url(pg_database))


async def test_every_migration_file_can_run_twice_without_changing_the_schema(pg_server, pg_database):
    before = pg_server.dump_schema(pg_database)
    for path in sorted(migrations_dir().glob("*.sql")):
        pg_server.psql(path, pg_database)
    assert pg_server.dump_schema(pg_database) == before


async def test_upgrade_from_version_1_keeps_rows_and_records_every_version(pg_server, empty_pg_database):
    first = migrations_dir() / "01_init_schema.sql"
    pg_server.psql(first, empty_pg_database)
    pg_server.psql(
        "INSERT INTO desktop_activity_sessions (start_time, start_time_iso, application_name, window_title) "
        "VALUES ('2026-01-02T03:04:05Z', '2026-01-02T03:04:05+00:00', 'Emacs', 'notes.org');"
        "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, monitored_root) "
        "VALUES ('2026-01-02T03:04:06Z', '2026-01-02T03:04:06+00:00', 'created', '/p/a.py', 'a.py', '/p');",
        empty_pg_database,
    )
    url = pg_server.url(empty_pg_database)
    assert await versions(url) == [1]

    conn = await asyncpg.connect(url)
    try:
        applied = await upgrade_schema(conn)
        assert applied == [m.name for m in load_migrations()][1:]
        assert await upgrade_schema(conn) == []  # a second start-up has nothing to do
        session = await conn.fetchrow("SELECT application_name, window_title, origin_id FROM desktop_activity_sessions")
        assert (session["application_name"], session["window_title"], session["origin_id"]) == ("Emacs", "notes.org", None)
        assert await conn.fetchval("SELECT file_path FROM file_change_events") == "/p/a.py"
        assert await conn.fetchval("SELECT to_regclass('sync_logs') IS NOT NULL")
        assert await conn.fetchval("SELECT to_regclass('monitored_directories') IS NOT NULL")
    finally:
        await conn.close()
    assert await versions(url) == [m.version for m in load_migrations()]


async def test_sync_logs_has_the_plans_columns_and_four_indexes(pg):
    columns = [r["column_name"] for r in await pg.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'sync_logs' ORDER BY ordinal_position"
    )]
    assert columns == [
        "id", "sync_started_at", "sync_completed_at", "table_name", "records_synced", "records_failed",
        "status", "error_message", "host_identifier", "created_at",
    ]
    indexes = {r["indexname"] for r in await pg.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'sync_logs'")}
    assert {
        "idx_sync_logs_started_at", "idx_sync_logs_table_name", "idx_sync_logs_status", "idx_sync_logs_host_identifier"
    } <= indexes


async def test_session_titles_keep_no_trigram_index_since_18(pg):
    """A title search reads back along the start-time index with bitmap scans off, so a GIN
    index on titles would only cost every session written."""
    definitions = [r["indexdef"] for r in await pg.fetch(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'desktop_activity_sessions'")]
    assert definitions and not [d for d in definitions if "gin_trgm_ops" in d]


async def test_an_unknown_event_type_is_refused_by_postgresql(pg):
    with pytest.raises(asyncpg.CheckViolationError):
        await pg.execute(
            "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, monitored_root) "
            "VALUES (now(), 'x', 'renamed', '/p/a', 'a', '/p')"
        )


async def test_the_same_local_row_of_the_same_database_instance_cannot_be_stored_twice(pg):
    insert = (
        "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, monitored_root, "
        "origin_id, local_id) VALUES (now(), 'x', 'created', '/p/a', 'a', '/p', $1, 7)"
    )
    await pg.execute(insert, "8d0f3a3e-6a55-4a55-9a55-0123456789ab")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pg.execute(insert, "8d0f3a3e-6a55-4a55-9a55-0123456789ab")
    await pg.execute(insert, "11111111-2222-4333-8444-555555555555")  # another database instance: fine


async def test_monitored_directories_keeps_updated_at_current_and_requires_absolute_paths(pg):
    await pg.execute("INSERT INTO monitored_directories (directory_path) VALUES ('/home/me/src')")
    before = await pg.fetchval("SELECT updated_at FROM monitored_directories")
    await pg.execute("UPDATE monitored_directories SET enabled = false")
    assert await pg.fetchval("SELECT updated_at FROM monitored_directories") > before
    with pytest.raises(asyncpg.CheckViolationError):
        await pg.execute("INSERT INTO monitored_directories (directory_path) VALUES ('src')")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pg.execute("INSERT INTO monitored_directories (directory_path) VALUES ('/home/me/src')")


def test_schema_files_hold_no_destructive_statements():
    for migration in load_migrations():
        assert not re.search(r"\bDROP\s+(TABLE|COLUMN)\b", migration.sql, re.IGNORECASE), migration.name


async def test_a_directory_path_is_unique_per_host_with_null_meaning_every_host(pg):
    insert = "INSERT INTO monitored_directories (directory_path, host_identifier) VALUES ($1, $2)"
    await pg.execute(insert, "/srv/code", None)
    await pg.execute(insert, "/srv/code", "laptop_me")
    await pg.execute(insert, "/srv/code", "desktop_me")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pg.execute(insert, "/srv/code", "laptop_me")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pg.execute(insert, "/srv/code", None)
    # The agent's seeding statement: a second copy of a shared row is silently skipped.
    assert await pg.execute(
        "INSERT INTO monitored_directories (directory_path) VALUES ('/srv/code') ON CONFLICT DO NOTHING"
    ) == "INSERT 0 0"
    shown = await pg.fetch(
        "SELECT host_identifier FROM monitored_directories WHERE enabled "
        "AND directory_applies_to(host_id, host_identifier, NULL, $1) ORDER BY id", "laptop_me"
    )
    assert [r["host_identifier"] for r in shown] == [None, "laptop_me"]


async def test_upgrading_to_17_lets_rows_named_for_one_known_host_follow_its_id(pg_server, empty_pg_database):
    for migration in load_migrations():
        if migration.version < 17:
            pg_server.psql(migrations_dir() / migration.name, empty_pg_database)
    pg_server.psql(
        "INSERT INTO hosts (host_id, host_identifier) VALUES ('00000000-0000-4000-8000-00000000000a', 'solo_me'),"
        " ('00000000-0000-4000-8000-00000000000b', 'twin_me'), ('00000000-0000-4000-8000-00000000000c', 'twin_me');"
        "INSERT INTO monitored_directories (directory_path, host_identifier) VALUES"
        " ('/srv/solo', 'solo_me'), ('/srv/twins', 'twin_me'), ('/srv/nobody', 'gone_me'), ('/srv/all', NULL);",
        empty_pg_database,
    )
    conn = await asyncpg.connect(pg_server.url(empty_pg_database))
    try:
        assert [name for name in await upgrade_schema(conn) if name.startswith("17_")]
        rows = await conn.fetch("SELECT directory_path, host_id::text, host_identifier FROM monitored_directories "
                                "ORDER BY directory_path")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("/srv/all", None, None),
        ("/srv/nobody", None, "gone_me"),  # no host of that name yet: it stays a name
        ("/srv/solo", "00000000-0000-4000-8000-00000000000a", "solo_me"),
        ("/srv/twins", None, "twin_me"),  # two hosts share the name: both still watch it
    ]


async def test_directory_display_name_and_description_lengths_are_limited(pg):
    with pytest.raises(asyncpg.CheckViolationError):
        await pg.execute("INSERT INTO monitored_directories (directory_path, display_name) VALUES ('/a', $1)", "x" * 101)
    with pytest.raises(asyncpg.CheckViolationError):
        await pg.execute("INSERT INTO monitored_directories (directory_path, description) VALUES ('/a', $1)", "x" * 501)
    await pg.execute(
        "INSERT INTO monitored_directories (directory_path, display_name, description) VALUES ('/a', $1, $2)",
        "x" * 100, "x" * 500,
    )


async def test_the_gateway_role_reads_activity_and_writes_only_directories(pg):
    await pg.execute("SET ROLE reprospective_api")
    try:
        assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions") == 0
        assert await pg.fetchval("SELECT count(*) FROM sync_logs") == 0
        await pg.execute("INSERT INTO monitored_directories (directory_path, created_by) VALUES ('/srv', 'admin')")
        await pg.execute("UPDATE monitored_directories SET enabled = false")
        await pg.execute("DELETE FROM monitored_directories")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pg.execute("DELETE FROM desktop_activity_sessions")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pg.execute("INSERT INTO sync_logs (sync_started_at, table_name, status) VALUES (now(), 'x', 'success')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pg.execute("CREATE TABLE intruder (id int)")
    finally:
        await pg.execute("RESET ROLE")
    assert await pg.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'reprospective_api'") is False


async def test_the_gateway_role_reads_hosts_and_their_origins_but_never_writes_them(pg):
    host = "6c1f5a52-2a6e-4c43-9d43-8f1f3c0d2a10"
    await pg.execute("INSERT INTO hosts (host_id, host_identifier) VALUES ($1, 'desk')", host)
    await pg.execute("INSERT INTO host_origins (origin_id, host_id) VALUES (gen_random_uuid(), $1)", host)
    await pg.execute("SET ROLE reprospective_api")
    try:
        assert await pg.fetchval("SELECT host_identifier FROM hosts") == "desk"
        assert len(await pg.fetchval("SELECT origins_of_host('desk')")) == 1
        assert len(await pg.fetchval("SELECT origins_of_host($1)", host)) == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pg.execute("UPDATE hosts SET host_identifier = 'other'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pg.execute("DELETE FROM host_origins")
    finally:
        await pg.execute("RESET ROLE")


@pytest.mark.parametrize("route", ["direct", "pgbouncer"])
async def test_hosts_upgrading_one_empty_database_at_once_apply_each_file_once(
    route, request, pg_server, pg_database, empty_pg_database
):
    # Through PgBouncer in transaction mode, each statement outside a transaction may run on
    # another server connection: the lock must hold anyway, and leave nothing locked behind.
    url = (request.getfixturevalue("pgbouncer") if route == "pgbouncer" else pg_server).url(empty_pg_database)
    hosts = 6
    conns = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(hosts)]
    try:
        applied = await asyncio.gather(*(upgrade_schema(conn) for conn in conns))
        assert sorted(name for names in applied for name in names) == [m.name for m in load_migrations()]
        assert await upgrade_schema(conns[0]) == []
        held = await conns[0].fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        assert held == 0
    finally:
        for conn in conns:
            await conn.close()
    assert pg_server.dump_schema(empty_pg_database) == pg_server.dump_schema(pg_database)
    assert await versions(pg_server.url(empty_pg_database)) == await versions(pg_server.url(pg_database))
