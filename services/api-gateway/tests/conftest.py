"""A real PostgreSQL per session, a database per test, and the app driven through httpx."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import asyncpg
import httpx
import pytest
import pytest_asyncio

from reprospective_db.testing import eventually as shared_eventually

from api_gateway.app import create_app
from api_gateway.config import Settings
from browser_support import CHROMIUM, CHROMIUM_ARGS, ServerThread, open_page

pytest_plugins = ["reprospective_db.fixtures"]  # pg_server, pg_database, empty_pg_database, pg_url, pg

ADMIN = "admin-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@asynccontextmanager
async def serve(settings: Settings, *, client: tuple[str, int] = ("127.0.0.1", 40000), host: str = "127.0.0.1",
                clock=lambda: NOW):
    app = create_app(settings)
    app.state.clock = clock
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
            yield http


async def eventually(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.05):
    """The shared wait on a condition (never a fixed sleep), with a longer default deadline for
    tests that start processes and browsers."""
    return await shared_eventually(predicate, timeout, what, interval)


@pytest.fixture
def settings(pg_url) -> Settings:
    return Settings(database_url=pg_url)


@pytest.fixture
async def api(settings):
    """The app with no token configured, called from loopback."""
    async with serve(settings) as http:
        yield http


@pytest.fixture
async def secured(pg_url):
    """The app with an admin token and a read-only token."""
    async with serve(Settings(database_url=pg_url, admin_token=ADMIN, read_tokens=(READER,))) as http:
        yield http


# -- the browser tests: one server and one Chromium per module, a page per test ---------------


@pytest.fixture(scope="module")
def dashboard_db(pg_server):
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def server(dashboard_db):
    thread = ServerThread(Settings(database_url=dashboard_db))
    thread.start()
    yield thread
    thread.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def db(dashboard_db):
    """A connection to the browser tests' database, every table emptied first."""
    conn = await asyncpg.connect(dashboard_db)
    await conn.execute("TRUNCATE desktop_activity_sessions, file_change_events, sync_logs, monitored_directories")
    yield conn
    await conn.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser, server):
    context, watched = await open_page(browser, server)
    yield watched
    await context.close()
    assert watched.problems == []


class Seeder:
    """Rows as the agent's sync writes them: host, origin and local id on every row."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.origins: dict[str, uuid.UUID] = {}
        self.next_id = 1

    def origin(self, host: str) -> uuid.UUID:
        return self.origins.setdefault(host, uuid.uuid4())

    async def session(self, start: datetime, end: datetime | None, *, app: str = "Emacs", title: str | None = "notes",
                      host: str = "laptop_me", revision: int = 0) -> int:
        local_id, self.next_id = self.next_id, self.next_id + 1
        return await self.conn.fetchval(
            "INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, end_time_iso, application_name, "
            "window_title, duration_seconds, host_identifier, origin_id, local_id, local_revision, synced_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            start, end, start.isoformat(), end.isoformat() if end else None, app, title,
            int((end - start).total_seconds()) if end else None, host, self.origin(host), local_id, revision,
            NOW - timedelta(minutes=2),
        )

    async def file_event(self, when: datetime, path: str, *, event_type: str = "modified", project: str | None = "repro",
                         host: str = "laptop_me", root: str = "/home/me/src") -> int:
        local_id, self.next_id = self.next_id, self.next_id + 1
        name = path.rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else None
        return await self.conn.fetchval(
            "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, file_extension, "
            "monitored_root, project_name, host_identifier, origin_id, local_id, synced_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            when, when.isoformat(), event_type, path, name, ext, root, project, host, self.origin(host), local_id,
            NOW - timedelta(minutes=3),
        )

    async def sync_log(self, started: datetime, *, table: str = "desktop_activity_sessions", status: str = "success",
                       rows: int = 10, failed: int = 0, error: str | None = None, host: str = "laptop_me") -> None:
        await self.conn.execute(
            "INSERT INTO sync_logs (sync_started_at, sync_completed_at, table_name, records_synced, records_failed, "
            "status, error_message, host_identifier) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            started, started + timedelta(seconds=2), table, rows, failed, status, error, host,
        )


@pytest.fixture
def seed(pg) -> Seeder:
    return Seeder(pg)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)
