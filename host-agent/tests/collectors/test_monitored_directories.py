"""The watched directories kept in PostgreSQL's ``monitored_directories``, with a real server."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import asyncpg
import pytest
from host_agent.collectors.files.directories import (
    CACHE_FILE_NAME,
    FROM_CACHE,
    FROM_CONFIG,
    FROM_POSTGRESQL,
    PostgresDirectories,
    StaticDirectories,
)
from host_agent.core.identity import host_id, host_identifier
from reprospective_db.schema import load_migrations, migrations_dir, upgrade_schema

from tests.collectors.fs_harness import RecordedLoads, read_events, running_watcher, settings, wait_for_rows
from tests.support.waiting import eventually

PASSWORD = "pw-never-logged"


def with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


@pytest.fixture
def folders(tmp_path) -> list[Path]:
    made = []
    for name in ("alpha", "beta", "gamma"):
        path = tmp_path / name
        path.mkdir()
        made.append(path)
    return made


def source_for(url: str, config_dirs, data_dir: Path, **kwargs) -> PostgresDirectories:
    return PostgresDirectories(url, config_dirs, data_dir / CACHE_FILE_NAME, timeout=2, **kwargs)


async def test_empty_table_is_filled_from_config_on_first_contact(pg_url, pg, folders, data_dir):
    listing = await source_for(pg_url, folders[:2], data_dir).load()
    assert listing.origin == FROM_POSTGRESQL
    assert listing.directories == tuple(folders[:2])
    rows = await pg.fetch(
        "SELECT directory_path, enabled, host_identifier, created_by FROM monitored_directories ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        (str(folders[0]), True, host_identifier(), "agent"),
        (str(folders[1]), True, host_identifier(), "agent"),
    ]


async def test_a_host_watches_its_own_rows_and_the_shared_ones_but_not_another_hosts(pg_url, pg, folders, data_dir):
    await pg.execute(
        "INSERT INTO monitored_directories (directory_path, host_identifier) VALUES ($1, NULL), ($2, $4), ($3, 'other_host')",
        str(folders[0]),
        str(folders[1]),
        str(folders[2]),
        host_identifier(),
    )
    listing = await source_for(pg_url, [], data_dir).load()
    assert listing.directories == (folders[0], folders[1])
    # a third host sees the shared row only; since a row applies to it, its config.yaml is not copied
    other = await source_for(pg_url, [folders[2]], data_dir, host="third_host").load()
    assert other.directories == (folders[0],)
    assert await pg.fetchval("SELECT count(*) FROM monitored_directories") == 3


async def test_a_renamed_host_keeps_the_directories_set_for_it_and_a_namesake_does_not_get_them(
    pg_url, pg, folders, data_dir, tmp_path
):
    def source(name: str, folder: Path, config_dirs) -> PostgresDirectories:
        return PostgresDirectories(pg_url, config_dirs, folder / CACHE_FILE_NAME, host=name, data_dir=folder, timeout=2)

    first = await source("laptop_me", data_dir, folders[:1]).load()
    assert first.directories == (folders[0],)
    me = host_id(data_dir)
    assert await pg.fetchval("SELECT host_id FROM monitored_directories") == me
    await pg.execute("INSERT INTO monitored_directories (directory_path, host_id, host_identifier) VALUES ($1, $2, $3)",
                     str(folders[1]), me, "laptop_me")

    renamed = await source("laptop_renamed", data_dir, folders[2:]).load()
    assert renamed.directories == (folders[0], folders[1])
    assert await pg.fetchval("SELECT count(*) FROM monitored_directories") == 2  # config.yaml not copied again

    namesake_folder = tmp_path / "namesake"
    namesake = await source("laptop_me", namesake_folder, []).load()
    assert namesake.directories == ()
    assert host_id(namesake_folder) != me


async def test_a_table_with_rows_is_not_filled_and_only_enabled_rows_count(pg_url, pg, folders, data_dir):
    await pg.execute(
        "INSERT INTO monitored_directories (directory_path, enabled) VALUES ($1, false), ($2, true)",
        str(folders[0]),
        str(folders[1]),
    )
    listing = await source_for(pg_url, [folders[2]], data_dir).load()
    assert listing.directories == (folders[1],)
    assert await pg.fetchval("SELECT count(*) FROM monitored_directories") == 2


async def test_only_disabled_rows_means_nothing_is_watched(pg_url, pg, folders, data_dir):
    await pg.execute("INSERT INTO monitored_directories (directory_path, enabled) VALUES ($1, false)", str(folders[0]))
    listing = await source_for(pg_url, folders, data_dir).load()
    assert listing.directories == ()


async def test_unreachable_postgres_means_the_last_list_seen_said_once(pg_proxy, pg_database, folders, data_dir, caplog):
    source = source_for(with_password(pg_proxy.url(pg_database)), folders[:1], data_dir)
    first = await source.load()
    assert first.origin == FROM_POSTGRESQL
    assert json.loads((data_dir / CACHE_FILE_NAME).read_text())["directories"] == [str(folders[0])]

    pg_proxy.down()
    again = await source.load()
    await source.load()
    assert again.origin == FROM_CACHE
    assert again.directories == (folders[0],)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot read them from PostgreSQL" in warnings[0] and "the last list seen" in warnings[0]

    pg_proxy.up()
    back = await source.load()
    assert back.origin == FROM_POSTGRESQL
    assert PASSWORD not in caplog.text


async def test_unreachable_postgres_without_a_saved_list_means_config(pg_proxy, pg_database, folders, data_dir, caplog):
    pg_proxy.down()
    listing = await source_for(with_password(pg_proxy.url(pg_database)), folders[:2], data_dir).load()
    assert listing.origin == FROM_CONFIG
    assert listing.directories == tuple(folders[:2])
    assert "using config.yaml" in caplog.text
    assert PASSWORD not in caplog.text


async def test_a_damaged_saved_list_is_reported_and_config_is_used(pg_proxy, pg_database, folders, data_dir, caplog):
    (data_dir / CACHE_FILE_NAME).write_text("{not json")
    pg_proxy.down()
    listing = await source_for(pg_proxy.url(pg_database), folders[:1], data_dir).load()
    assert listing.origin == FROM_CONFIG
    assert f"ignoring the saved directory list {data_dir / CACHE_FILE_NAME}" in caplog.text


async def test_config_only_source_lists_config_directories(folders):
    listing = await StaticDirectories([folders[0], Path(str(folders[0]) + "/"), folders[1]]).load()
    assert listing.origin == FROM_CONFIG
    assert listing.directories == (folders[0], folders[1])


async def test_directories_added_disabled_reenabled_and_removed_in_the_table_while_running(
    pg_url, pg, folders, data_dir
):
    alpha, beta, _ = folders
    source = source_for(pg_url, [alpha], data_dir)
    async with running_watcher(source, data_dir, settings(refresh_interval_seconds=0.2)) as watcher:
        assert set(watcher.roots) == {str(alpha)}

        await pg.execute("INSERT INTO monitored_directories (directory_path) VALUES ($1)", str(beta))
        await eventually(lambda: str(beta) in watcher.roots, what="beta watched")
        (beta / "one.txt").write_text("1")
        await wait_for_rows(data_dir / "file_changes.db", lambda rows: len(rows) == 1)

        await pg.execute("UPDATE monitored_directories SET enabled = false WHERE directory_path = $1", str(beta))
        await eventually(lambda: str(beta) not in watcher.roots, what="beta dropped")
        (beta / "unseen.txt").write_text("x")

        await pg.execute("UPDATE monitored_directories SET enabled = true WHERE directory_path = $1", str(beta))
        await eventually(lambda: str(beta) in watcher.roots, what="beta watched again")
        (beta / "two.txt").write_text("2")
        await wait_for_rows(data_dir / "file_changes.db", lambda rows: len(rows) == 2)

        await pg.execute("DELETE FROM monitored_directories WHERE directory_path = $1", str(alpha))
        await eventually(lambda: str(alpha) not in watcher.roots, what="alpha dropped")
        (alpha / "after-removal.txt").write_text("x")
        (beta / "three.txt").write_text("3")
        await wait_for_rows(data_dir / "file_changes.db", lambda rows: len(rows) == 3)
    assert [r["file_name"] for r in read_events(data_dir / "file_changes.db")] == ["one.txt", "two.txt", "three.txt"]


async def test_watcher_keeps_watching_the_last_list_while_postgres_is_down(pg_proxy, pg_database, pg, folders, data_dir):
    alpha, beta, _ = folders
    await pg.execute("INSERT INTO monitored_directories (directory_path) VALUES ($1)", str(beta))
    source = RecordedLoads(source_for(pg_proxy.url(pg_database), [alpha], data_dir))
    async with running_watcher(source, data_dir, settings(refresh_interval_seconds=0.2)) as watcher:
        assert set(watcher.roots) == {str(beta)}
        pg_proxy.down()
        await eventually(lambda: source.origins[-1] == FROM_CACHE, what="the saved list in use")
        (beta / "while-down.txt").write_text("x")
        rows = await wait_for_rows(data_dir / "file_changes.db", lambda rows: len(rows) == 1)
        assert set(watcher.roots) == {str(beta)}  # not config.yaml's alpha
    assert rows[0]["file_name"] == "while-down.txt"


async def test_a_restarted_agent_without_postgres_watches_the_list_it_saw_last(
    pg_proxy, pg_database, pg, folders, data_dir
):
    alpha, beta, gamma = folders
    await pg.execute("INSERT INTO monitored_directories (directory_path) VALUES ($1), ($2)", str(beta), str(gamma))
    await source_for(pg_proxy.url(pg_database), [alpha], data_dir).load()
    pg_proxy.down()
    restarted = source_for(pg_proxy.url(pg_database), [alpha], data_dir)
    async with running_watcher(restarted, data_dir, settings()) as watcher:
        assert set(watcher.roots) == {str(beta), str(gamma)}


async def test_rows_with_non_utf8_names_and_moves_reach_postgresql_unchanged(pg_url, pg, tmp_path, data_dir):
    """Issue 5: undecodable names never crash the watcher nor block the sync."""
    from host_agent.collectors.files.file_events import unescape_path_bytes
    from host_agent.common.data_sync import DataSyncManager

    root = tmp_path / "w"
    root.mkdir()
    raw = os.fsencode(root) + b"/caf\xe9.txt"
    source = source_for(pg_url, [root], data_dir)
    async with running_watcher(source, data_dir, settings()):
        with open(raw, "wb") as f:
            f.write(b"x")
        os.rename(raw, os.fsencode(root) + b"/menu.txt")
        await wait_for_rows(data_dir / "file_changes.db", lambda rows: len(rows) == 2)
    manager = DataSyncManager(pg_url, data_dir / "desktop_activity.db", data_dir / "file_changes.db")
    await manager.initialize()
    try:
        results = await manager.sync_all()
    finally:
        await manager.close()
    assert all(r.status == "success" for r in results.values())
    rows = await pg.fetch(
        "SELECT event_type, file_path, file_name, old_file_path FROM file_change_events ORDER BY event_time, id"
    )
    assert [tuple(r) for r in rows] == [
        ("created", str(root) + "/caf\\xe9.txt", "caf\\xe9.txt", None),
        ("moved", str(root / "menu.txt"), "menu.txt", str(root) + "/caf\\xe9.txt"),
    ]
    assert unescape_path_bytes(rows[1]["old_file_path"]) == raw


async def test_a_database_without_the_table_falls_back_and_says_why(pg_server, empty_pg_database, folders, data_dir, caplog):
    listing = await source_for(pg_server.url(empty_pg_database), folders[:1], data_dir).load()
    assert listing.origin == FROM_CONFIG
    assert 'relation "monitored_directories" does not exist' in caplog.text


async def test_a_database_the_agent_has_not_upgraded_yet_is_read_after_the_upgrade(
    pg_server, empty_pg_database, folders, data_dir, caplog
):
    """The watcher may read before the sync engine applies the newest schema at start-up: that is
    said quietly, and the next refresh reads the table."""
    for migration in load_migrations():
        if migration.version < 17:  # 17 gave the table the host id the agent reads with
            pg_server.psql(migrations_dir() / migration.name, empty_pg_database)
    url = pg_server.url(empty_pg_database)
    source = source_for(url, folders[:1], data_dir)
    with caplog.at_level(logging.INFO):
        before = await source.load()
    assert before.origin == FROM_CONFIG
    assert [r.levelname for r in caplog.records if "cannot read them from PostgreSQL" in r.message] == ["INFO"]
    conn = await asyncpg.connect(url)
    try:
        await upgrade_schema(conn)
    finally:
        await conn.close()
    after = await source.load()
    assert (after.origin, after.directories) == (FROM_POSTGRESQL, (folders[0],))
