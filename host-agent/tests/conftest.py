"""Shared fixtures: real PostgreSQL (one server per session, one database per test), real
SQLite files in ``tmp_path``, and a guard against leaked threads."""

from __future__ import annotations

import logging
import threading

import pytest

from tests.support.tcp_proxy import TcpProxy

pytest_plugins = ["reprospective_db.fixtures"]  # pg_server, pg_database, empty_pg_database, pg_url, pg


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
    caplog.set_level(logging.DEBUG, logger="reprospective_db")
    yield
