"""pytest fixtures on :class:`~reprospective_db.testing.TestServer`, shared by every test suite.

A suite's top-level ``conftest.py`` loads them as a plugin::

    pytest_plugins = ["reprospective_db.fixtures"]
"""

from __future__ import annotations

import asyncpg
import pytest

from reprospective_db.testing import PgBouncer, TestServer


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the whole test session."""
    with TestServer() as server:
        yield server


@pytest.fixture
def pg_database(pg_server):
    """A fresh database with the current schema (applied by psql, the Docker way); its name."""
    name = pg_server.create_database()
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def empty_pg_database(pg_server):
    """A fresh database with no schema at all; its name."""
    name = pg_server.create_database(template=None)
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def pg_url(pg_server, pg_database) -> str:
    return pg_server.url(pg_database)


@pytest.fixture(scope="session")
def pgbouncer(pg_server):
    """A real PgBouncer in transaction pooling mode in front of the session's server."""
    with PgBouncer(pg_server) as bouncer:
        yield bouncer


@pytest.fixture
def pgbouncer_url(pgbouncer, pg_database) -> str:
    """The test's database (with the current schema), reached through :func:`pgbouncer`."""
    return pgbouncer.url(pg_database)


@pytest.fixture
async def pg(pg_url):
    """An asyncpg connection to the test's database, for assertions."""
    conn = await asyncpg.connect(pg_url)
    try:
        yield conn
    finally:
        await conn.close()
