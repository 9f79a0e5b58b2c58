"""Each sync run records this host in PostgreSQL's ``hosts`` table, and never fails for it."""

from __future__ import annotations

import logging

from host_agent import __version__
from host_agent.core.identity import host_id

from tests.support.rows import add_file_events


async def test_each_run_records_the_host_its_origins_version_and_last_sync(manager_factory, data_dir, files_db, pg_url, pg):
    manager = await manager_factory(pg_url, host_identifier="desk_me")
    add_file_events(files_db, 3)
    await manager.sync_all()
    first = await pg.fetchrow("SELECT * FROM hosts")
    assert str(first["host_id"]) == str(host_id(data_dir))
    assert (first["host_identifier"], first["previous_identifiers"], first["agent_version"]) == ("desk_me", [], __version__)
    assert first["last_sync_at"] is not None and first["clock_measured_at"] is not None
    origins = {str(r["origin_id"]) for r in await pg.fetch("SELECT origin_id FROM host_origins")}
    assert origins == {t.origin_id for t in manager._tables.values()}  # both local databases

    await manager.sync_all()
    second = await pg.fetchrow("SELECT * FROM hosts")
    assert second["first_seen"] == first["first_seen"]
    assert second["last_seen"] > first["last_seen"] and second["last_sync_at"] > first["last_sync_at"]
    assert await pg.fetchval("SELECT count(*) FROM host_origins") == 2


async def test_renaming_back_and_forth_keeps_each_former_name_once(manager_factory, files_db, pg_url, pg):
    for name in ("a", "b", "a", "c"):
        manager = await manager_factory(pg_url, host_identifier=name)
        await manager.sync_all()
        await manager.close()
    row = await pg.fetchrow("SELECT host_identifier, previous_identifiers FROM hosts")
    assert tuple(row) == ("c", ["b", "a"])


async def test_a_host_that_cannot_be_recorded_still_syncs_its_rows_and_says_so_once(
    manager_factory, files_db, pg_url, pg, caplog
):
    manager = await manager_factory(pg_url, host_identifier="desk_me")
    await pg.execute("ALTER TABLE hosts RENAME TO hosts_away")  # as if the table were gone or not granted
    add_file_events(files_db, 4)
    for _ in range(2):
        results = await manager.sync_all()
        assert all(r.status == "success" for r in results.values())
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "hosts table" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "desk_me" in warnings[0] and "its rows sync anyway" in warnings[0]

    await pg.execute("ALTER TABLE hosts_away RENAME TO hosts")
    await manager.sync_all()
    assert await pg.fetchval("SELECT host_identifier FROM hosts") == "desk_me"
    assert any("recorded in PostgreSQL's hosts table again" in r.getMessage() for r in caplog.records)
