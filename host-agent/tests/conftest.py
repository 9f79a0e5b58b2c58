"""Shared fixtures: real PostgreSQL (one server per session, one database per test), real
SQLite files in ``tmp_path``, and a guard against leaked threads."""

from __future__ import annotations

import logging
import threading

import asyncpg
import pytest

from tests.support.postgres import TestServer
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture(scope="session")
def pg_server():
    server = TestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(pg_server):
    """A fresh database with the current schema; returns its name."""
    name = pg_server.create_database()
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def pg_url(pg_server, pg_database) -> str:
    return pg_server.url(pg_database)


@pytest.fixture
def empty_pg_database(pg_server):
    """A fresh database with no schema at all."""
    name = pg_server.create_database(template=None)
    yield name
    pg_server.drop_database(name)


@pytest.fixture
async def pg(pg_url):
    """An asyncpg connection to the test's database, for assertions."""
    conn = await asyncpg.connect(pg_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def pg_proxy(pg_server, pg_database):
    """A proxy in front of the test server, to cut PostgreSQL off and bring it back."""
    proxy = TcpProxy("127.0.0.1", pg_server.server.port)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    """A test must stop every thread it started (watchers, stores, proxies)."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.daemon and t.name != "asyncio_0"
    ]
    for thread in leaked:
        thread.join(timeout=5)
    leaked = [t for t in leaked if t.is_alive()]
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture(autouse=True)
def _quiet_asyncpg_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="host_agent")
    yield
