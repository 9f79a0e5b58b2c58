"""A crowded server ("too many clients"): a run that cannot get its second connection syncs on
one; a run that gets none fails quietly as an outage and is retried, never a traceback storm."""

from __future__ import annotations

from tests.support.rows import add_file_events

ROLE = "crowded_agent"


def grant_role(pg_server, database: str, connection_limit: int) -> str:
    pg_server.psql(
        f"DROP ROLE IF EXISTS {ROLE}; CREATE ROLE {ROLE} LOGIN CONNECTION LIMIT {connection_limit}; "
        f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {ROLE}; "
        f"GRANT CREATE, TEMP ON DATABASE \"{database}\" TO {ROLE}; GRANT ALL ON SCHEMA public TO {ROLE};",
        database,
    )
    return pg_server.url(database).replace("postgresql://postgres@", f"postgresql://{ROLE}@")


async def test_one_connection_allowed_still_syncs_everything(files_db, pg_server, pg_database, pg, manager_factory, caplog):
    add_file_events(files_db, 3000)
    url = grant_role(pg_server, pg_database, connection_limit=1)
    try:
        manager = await manager_factory(url, batch_size=500, upgrade_schema=False)
        result = (await manager.sync_all())["file_change_events"]
        assert (result.status, result.records_synced) == ("success", 3000)
        assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 3000
        assert "one connection only" in caplog.text  # the pipeline's second connection was refused
        assert "Traceback" not in caplog.text
    finally:
        await manager.close()
        pg_server.psql(f"REASSIGN OWNED BY {ROLE} TO postgres; DROP OWNED BY {ROLE}; DROP ROLE {ROLE}", pg_database)


async def test_no_connection_allowed_is_a_quiet_outage(files_db, pg_server, pg_database, manager_factory, caplog):
    add_file_events(files_db, 10)
    url = grant_role(pg_server, pg_database, connection_limit=0)
    try:
        manager = await manager_factory(url, upgrade_schema=False, slot_wait=0.5)
        for _ in range(3):
            result = (await manager.sync_all())["file_change_events"]
            assert result.transient_failure and result.records_left == 10
        warnings = [r for r in caplog.records if r.levelname == "WARNING" and "unreachable" in r.getMessage()]
        assert len(warnings) <= 2  # one at start-up, one for the outage: not one per run
        assert "too many connections" in warnings[-1].getMessage()
        waits = [r for r in caplog.records if "no free connection slot" in r.getMessage()]
        assert len(waits) == 1  # each run waited for a slot; said once
        assert not any(r.exc_info for r in caplog.records)
    finally:
        await manager.close()
        pg_server.psql(f"DROP OWNED BY {ROLE}; DROP ROLE {ROLE}", pg_database)
