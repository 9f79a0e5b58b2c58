"""pytest fixtures on :class:`~reprospective_db.testing.TestServer`, shared by every test suite.

A suite's top-level ``conftest.py`` loads them as a plugin::

    pytest_plugins = ["reprospective_db.fixtures"]
"""

from __future__ import annotations

import asyncpg
import pytest

from reprospective_db.testing import LAYOUTS, PgBouncer, TestServer


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "both_layouts: run each test using the test database once per layout (plain, partitioned)"
    )


def pytest_generate_tests(metafunc):
    """A test marked ``both_layouts`` (``pytestmark = pytest.mark.both_layouts`` for a module)
    whose database comes from :func:`pg_database` runs once per layout."""
    if metafunc.definition.get_closest_marker("both_layouts") and "pg_layout" in metafunc.fixturenames:
        metafunc.parametrize("pg_layout", LAYOUTS)


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the whole test session."""
    with TestServer() as server:
        yield server


@pytest.fixture
def pg_layout() -> str:
    """The layout of :func:`pg_database`'s fact tables: ``plain``, or each of
    :data:`~reprospective_db.testing.LAYOUTS` for a test marked ``both_layouts``."""
    return "plain"


@pytest.fixture
def pg_database(pg_server, pg_layout):
    """A fresh database with the current schema (applied by psql, the Docker way), in the
    layout :func:`pg_layout` names; its name."""
    name = pg_server.create_database(pg_server.template(pg_layout))
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
