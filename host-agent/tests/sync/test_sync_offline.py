"""PostgreSQL away for a while is normal life: nothing is lost, nothing raises, it catches up."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest
from reprospective_db.cluster import EmbeddedPostgres
from reprospective_db.schema import upgrade_schema
from host_agent.sync.errors import ErrorKind, RowEncodingError, classify
from host_agent.sync.manager import backoff_delay

from reprospective_db.testing import free_port
from tests.support.rows import add_file_events
from tests.support.waiting import eventually


async def test_unreachable_postgresql_is_not_an_error_and_the_outage_shows_in_sync_logs_later(
    files_db, pg_proxy, pg_database, pg, manager_factory, caplog
):
    pg_proxy.down()
    add_file_events(files_db, 40)
    manager = await manager_factory(pg_proxy.url(pg_database), connect_timeout=2)  # does not raise
    result = (await manager.sync_all())["file_change_events"]  # nor does this
    assert (result.status, result.records_synced, result.records_failed) == ("failed", 0, 40)
    assert result.transient_failure
    await manager.sync_all()  # a second failed run with the same cause is folded into the first
    assert "PostgreSQL unreachable" in caplog.text
    assert "Traceback" not in caplog.text

    pg_proxy.up()
    result = (await manager.sync_all())["file_change_events"]
    assert (result.status, result.records_synced) == ("success", 40)
    logs = await pg.fetch("SELECT status, records_synced, records_failed, error_message FROM sync_logs "
                          "WHERE table_name = 'file_change_events' ORDER BY id")
    assert [(r["status"], r["records_synced"], r["records_failed"]) for r in logs] == [
        ("failed", 0, 40),
        ("success", 40, 0),
    ]
    assert "(2 attempts)" in logs[0]["error_message"]
    assert "reachable again" in caplog.text


async def test_the_loop_drains_the_backlog_by_itself_when_postgresql_comes_back(
    files_db, pg_proxy, pg_database, pg, manager_factory
):
    pg_proxy.down()
    manager = await manager_factory(
        pg_proxy.url(pg_database), sync_interval=0.5, retry_backoff_seconds=0.1, max_retries=2, connect_timeout=1
    )
    task = manager.start_sync_loop()
    add_file_events(files_db, 500)  # the collectors keep writing locally meanwhile
    await eventually(lambda: _async(manager.consecutive_failures >= 2), 20, "failed runs")
    assert not task.done()

    pg_proxy.up()
    await eventually(lambda: _count(pg), 30, "the backlog to arrive")
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 500
    assert not task.done()


async def test_a_connection_cut_in_the_middle_of_a_run_is_replaced_and_nothing_is_lost(
    files_db, pg_proxy, pg_database, pg, manager_factory
):
    add_file_events(files_db, 3000)

    def cut_after_1000_rows(table, done, waiting):
        if done >= 1000:
            pg_proxy.down()

    manager = await manager_factory(
        pg_proxy.url(pg_database), batch_size=20, connect_timeout=2, progress=cut_after_1000_rows
    )
    first = (await manager.sync_all())["file_change_events"]
    assert first.status == "partial_success" and first.transient_failure
    assert 1000 <= first.records_synced < 3000

    pg_proxy.up()
    manager.progress = None
    second = (await manager.sync_all())["file_change_events"]
    assert second.status == "success"
    assert first.records_synced + second.records_synced == 3000
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 3000


async def test_postgresql_stopped_and_started_around_a_running_loop(files_db, manager_factory):
    base = Path(tempfile.mkdtemp(prefix="reprospective-restart-"))
    os.chmod(base, 0o711)
    server = EmbeddedPostgres(base / "cluster", port=free_port(), tcp_host="127.0.0.1")
    try:
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(server.ensure_database, "restart")
        url = server.url("restart")
        manager = await manager_factory(url, sync_interval=0.3, retry_backoff_seconds=0.1, max_retries=3, connect_timeout=2)
        manager.start_sync_loop()
        add_file_events(files_db, 100)
        await eventually(lambda: _count_url(url, 100), 30, "the first rows")

        await asyncio.to_thread(server.stop, "immediate")
        add_file_events(files_db, 200, start=100)
        await eventually(lambda: _async(manager.consecutive_failures >= 1), 20, "a failed run")

        await asyncio.to_thread(server.start)
        await eventually(lambda: _count_url(url, 300), 30, "the rows written during the outage")
    finally:
        await asyncio.to_thread(server.stop, "immediate")
        shutil.rmtree(base, ignore_errors=True)


async def test_a_password_in_the_url_never_reaches_logs_or_sync_logs(
    files_db, pg_proxy, pg_database, pg, manager_factory, caplog
):
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-Pa55word"
    url = pg_proxy.url(pg_database).replace("postgres@", f"postgres:{secret}@")
    pg_proxy.down()
    add_file_events(files_db, 5)
    manager = await manager_factory(url, connect_timeout=1)
    await manager.sync_all()
    pg_proxy.up()
    await manager.sync_all()
    assert secret not in caplog.text
    # The repr names where the rows go (host, port and database), never the password.
    shown = repr(manager)
    assert f"127.0.0.1:{pg_proxy.port}/{pg_database}" in shown and secret not in shown
    assert secret not in manager.target
    messages = await pg.fetch("SELECT error_message FROM sync_logs")
    assert messages and all(secret not in (m["error_message"] or "") for m in messages)


async def test_schema_is_brought_up_to_date_when_postgresql_becomes_reachable(
    files_db, pg_server, empty_pg_database, manager_factory
):
    url = pg_server.url(empty_pg_database)
    add_file_events(files_db, 3)
    manager = await manager_factory(url)
    assert (await manager.sync_all())["file_change_events"].records_synced == 3
    conn = await asyncpg.connect(url)
    try:
        assert await upgrade_schema(conn) == []
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("attempt", "base"), [(1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (9, 300)]
)
def test_backoff_doubles_from_retry_backoff_seconds_and_is_capped_at_the_interval(attempt, base):
    assert backoff_delay(attempt, 30, 300, jitter=lambda low, high: 1.0) == base
    assert backoff_delay(attempt, 30, 300, jitter=lambda low, high: low) == pytest.approx(base * 0.8)
    assert backoff_delay(attempt, 30, 300, jitter=lambda low, high: high) == pytest.approx(base * 1.2)


def test_backoff_is_jittered_so_agents_do_not_return_together():
    delays = {backoff_delay(2, 30, 300) for _ in range(50)}
    assert len(delays) > 40 and min(delays) >= 48 and max(delays) <= 72


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(111, "Connection refused"), ErrorKind.TRANSIENT),
        (asyncio.TimeoutError(), ErrorKind.TRANSIENT),
        (OSError(101, "Network is unreachable"), ErrorKind.TRANSIENT),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), ErrorKind.TRANSIENT),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), ErrorKind.TRANSIENT),  # 57P01
        (asyncpg.exceptions.CannotConnectNowError("starting up"), ErrorKind.TRANSIENT),  # 57P03
        (asyncpg.exceptions.TooManyConnectionsError("too many"), ErrorKind.TRANSIENT),  # 53300
        (asyncpg.exceptions.SerializationError("conflict"), ErrorKind.TRANSIENT),  # 40001
        (asyncpg.exceptions.CheckViolationError("check"), ErrorKind.DATA),  # 23514
        (asyncpg.exceptions.CharacterNotInRepertoireError("0x00"), ErrorKind.DATA),  # 22021
        (asyncpg.exceptions.NotNullViolationError("null"), ErrorKind.DATA),  # 23502
        (RowEncodingError("surrogates not allowed"), ErrorKind.DATA),
        (asyncpg.exceptions.UndefinedTableError("no table"), ErrorKind.FATAL),  # 42P01
        (asyncpg.exceptions.InsufficientPrivilegeError("denied"), ErrorKind.FATAL),  # 42501
        (RuntimeError("bug"), ErrorKind.FATAL),
    ],
)
def test_errors_are_classified_as_retry_later_or_bad_row(exc, kind):
    assert classify(exc) is kind


async def _async(value):
    return value


async def _count(pg) -> bool:
    return await pg.fetchval("SELECT count(*) FROM file_change_events") >= 500


async def _count_url(url: str, expected: int) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        return await conn.fetchval("SELECT count(*) FROM file_change_events") >= expected
    finally:
        await conn.close()


async def test_a_url_that_asks_for_tls_is_never_downgraded_to_plain_text(files_db, pg_server, pg_database, manager_factory, caplog):
    # The test server has no TLS: a URL with sslmode=require must fail, not quietly send in clear.
    url = pg_server.url(pg_database) + "?sslmode=require"
    add_file_events(files_db, 3)
    manager = await manager_factory(url, connect_timeout=2)
    result = (await manager.sync_all())["file_change_events"]
    assert result.status == "failed" and result.records_synced == 0
    assert "SSL" in (result.error or "") or "ssl" in (result.error or "")
