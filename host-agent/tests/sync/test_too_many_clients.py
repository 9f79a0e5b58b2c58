"""More hosts than PostgreSQL has connection slots: the refusals ("too many clients already",
"remaining connection slots are reserved") are waited out quietly, and every row arrives."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from host_agent.common.database import FileChangeDatabase
from host_agent.sync.errors import ErrorKind, classify, is_crowded
from reprospective_db.testing import TestServer

from tests.support.rows import add_file_events, local_file_rows, pg_file_rows
from tests.support.waiting import eventually

HOST_AGENT_DIR = Path(__file__).resolve().parents[2]
#: Eight slots, three of them kept for superusers: five for the agents' role.
MAX_CONNECTIONS = 8
RESERVED = 3
AGENT_SLOTS = MAX_CONNECTIONS - RESERVED
ROLE = "fleet_agent"
WAITING = "has no free connection slot"


@pytest.fixture(scope="module")
def small_server():
    settings = {"max_connections": MAX_CONNECTIONS, "superuser_reserved_connections": RESERVED}
    with TestServer(prefix="reprospective-pg-small-", settings=settings) as server:
        yield server


@pytest.fixture
def small_database(small_server):
    name = small_server.create_database()
    small_server.psql(
        f"DROP ROLE IF EXISTS {ROLE}; CREATE ROLE {ROLE} LOGIN; "
        f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {ROLE}; "
        f'GRANT TEMP ON DATABASE "{name}" TO {ROLE};',
        name,
    )
    yield name
    small_server.drop_database(name)
    small_server.psql(f"DROP OWNED BY {ROLE}; DROP ROLE {ROLE}", "postgres")


def agent_url(server: TestServer, database: str) -> str:
    return server.url(database).replace("postgresql://postgres@", f"postgresql://{ROLE}@")


async def connect_refused(url: str) -> BaseException:
    with pytest.raises(asyncpg.PostgresError) as refused:
        await asyncpg.connect(url)
    return refused.value


async def test_both_full_server_refusals_are_crowding_a_transient_wait(small_server, small_database):
    agents = agent_url(small_server, small_database)
    held = [await asyncpg.connect(agents) for _ in range(AGENT_SLOTS)]
    try:
        reserved = await connect_refused(agents)
        held += [await asyncpg.connect(small_server.url(small_database)) for _ in range(RESERVED)]
        full = await connect_refused(small_server.url(small_database))
    finally:
        await asyncio.gather(*(conn.close() for conn in held))
    assert "remaining connection slots are reserved" in str(reserved)
    assert "too many clients already" in str(full)
    for refusal in (reserved, full):
        assert refusal.sqlstate == "53300"
        assert (classify(refusal), is_crowded(refusal)) == (ErrorKind.TRANSIENT, True)


async def test_more_hosts_than_slots_wait_for_one_quietly_and_every_row_arrives(tmp_path, small_server, small_database):
    hosts = 8  # each would like two connections: sixteen asked of five slots
    folders = []
    for host in range(hosts):
        folder = tmp_path / f"host{host}"
        add_file_events(folder / "file_changes.db", 1500 + 100 * host)
        folders.append(folder)
    url = agent_url(small_server, small_database)

    # Every slot is taken when the hosts start, so each meets a full server first.
    held = [await asyncpg.connect(url) for _ in range(AGENT_SLOTS)]
    logs = [folder / "sync.log" for folder in folders]
    processes = []
    try:
        for folder, log_path in zip(folders, logs, strict=True):
            with open(log_path, "wb") as log_file:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "tests.support.sync_once", url, str(folder), "200"],
                    cwd=HOST_AGENT_DIR, stdout=log_file, stderr=subprocess.STDOUT,
                ))  # fmt: skip
        await eventually(lambda: all(WAITING in p.read_text() for p in logs), 120, "every host to meet the full server", 0.05)
    finally:
        await asyncio.gather(*(conn.close() for conn in held))
        for proc in processes:
            try:
                await asyncio.to_thread(proc.wait, 300)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    for proc, log_path in zip(processes, logs, strict=True):
        text = log_path.read_text()
        assert proc.returncode == 0, text
        assert text.count(WAITING) == 1, text  # one line per host, not one per attempt
        assert "remaining connection slots are reserved" in text
        assert "unreachable" not in text and "failed" not in text and "Traceback" not in text

    conn = await asyncpg.connect(small_server.url(small_database))
    try:
        for folder in folders:
            with FileChangeDatabase(folder / "file_changes.db") as db:
                assert await pg_file_rows(conn, db.origin_id) == local_file_rows(db)
        # No run counted as failed: nothing for status to alarm about.
        assert await conn.fetchval("SELECT count(*) FROM sync_logs WHERE status <> 'success'") == 0
        assert await conn.fetchval("SELECT count(DISTINCT table_name) FROM sync_logs") == 1
    finally:
        await conn.close()
