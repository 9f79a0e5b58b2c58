"""A server that stops answering (connections open, nothing comes back) never holds a run for
long: a statement past statement_timeout fails the run as 'PostgreSQL away', and a run past
run_timeout is abandoned; the rows wait for the next run either way."""

from __future__ import annotations

from tests.support.rows import add_file_events


async def test_a_hung_server_fails_the_run_after_the_statement_timeout(files_db, pg_proxy, pg_database, manager_factory, caplog):
    add_file_events(files_db, 300)
    manager = await manager_factory(pg_proxy.url(pg_database), connect_timeout=2, statement_timeout=1)
    pg_proxy.stall()
    result = (await manager.sync_all())["file_change_events"]
    assert result.status == "failed" and result.transient_failure
    assert result.records_left == 300
    assert "PostgreSQL unreachable" in caplog.text
    assert "Traceback" not in caplog.text


async def test_a_run_longer_than_the_run_timeout_is_abandoned_and_journaled(files_db, pg_proxy, pg_database, manager_factory):
    add_file_events(files_db, 300)
    manager = await manager_factory(pg_proxy.url(pg_database), connect_timeout=30, statement_timeout=30, run_timeout=1)
    pg_proxy.stall()
    result = (await manager.sync_all())["file_change_events"]
    assert result.transient_failure and result.records_left == 300
    assert result.error == "run abandoned after 1 s (run_timeout_seconds)"
    assert manager.run_started_at is None  # the run is over
