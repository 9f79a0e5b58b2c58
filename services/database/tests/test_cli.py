"""``reprospective-db``: an operator brings a server's schema up to date without an agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reprospective_db.schema import load_migrations

DB_BIN = Path(sys.executable).parent / "reprospective-db"


def run(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.run([str(DB_BIN), *args], capture_output=True, text=True, env=env, timeout=60)


def test_upgrade_brings_an_empty_database_to_the_latest_version_then_has_nothing_to_do(pg_server, empty_pg_database):
    url = pg_server.url(empty_pg_database)
    latest = load_migrations()[-1].version

    status = run("status", "--database-url", url)
    assert status.returncode == 1
    assert "versions applied: none" in status.stdout

    first = run("upgrade", url=url)  # the URL from $DATABASE_URL
    assert first.returncode == 0, first.stderr
    assert f"now at version {latest}" in first.stdout
    assert "01_init_schema.sql" in first.stdout

    again = run("upgrade", "--database-url", url)
    assert again.returncode == 0
    assert f"up to date at version {latest}" in again.stdout
    assert run("status", "--database-url", url).returncode == 0


def test_an_unreachable_server_is_one_line_without_the_password(pg_server):
    url = f"postgresql://someone:s3cret-pw@127.0.0.1:{pg_server.server.port + 1}/nowhere"
    done = run("upgrade", "--database-url", url)
    assert done.returncode == 1
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert "someone:***@127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_url_it_says_how_to_give_one():
    done = run("upgrade")
    assert done.returncode == 2
    assert "--database-url" in done.stderr
