"""``reprospective-agent held``: rows PostgreSQL refused, listed with the reason, and sent again."""

from __future__ import annotations

import json
import sqlite3
import time

from tests.ops.conftest import cli, pg_count
from tests.support.rows import add_file_events


def add_refused_event(db_path):
    """An event type PostgreSQL's CHECK constraint refuses (written around the store's validation)."""
    now = int(time.time())
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, "
            "monitored_root, created_at) VALUES (?, '2026-11-27T00:00:00+00:00', 'renamed', '/p/a.txt', 'a.txt', "
            "'/p', ?)",
            (now, now),
        )
    conn.close()


def test_held_lists_refused_rows_and_retry_sends_them_once_the_cause_is_fixed(
    make_config, run_agent, pg_server, pg_database, pg_url
):
    config = make_config(pg_url)
    run_agent(config)
    add_file_events(config.file_events_db, 4)
    add_refused_event(config.file_events_db)
    done = cli("trigger", "--config", str(config.path))
    assert done.returncode == 1  # partial success: one row held back
    assert "partial_success" in done.stdout

    listed = cli("held", "--config", str(config.path))
    assert listed.returncode == 1
    assert "file_change_events row 5" in listed.stdout and "CheckViolationError" in listed.stdout
    status = cli("status", "--json", "--config", str(config.path))
    assert status.returncode == 1
    assert json.loads(status.stdout)["tables"]["file_change_events"]["held"] == 1

    # The cause is fixed on the server; the row goes through on request.
    pg_server.psql(
        "ALTER TABLE file_change_events DROP CONSTRAINT file_change_events_event_type_check", database=pg_database
    )
    retried = cli("held", "--retry", "--json", "--config", str(config.path))
    assert retried.returncode == 0, retried.stderr
    report = json.loads(retried.stdout)
    assert report["released"] == 1 and report["held"] == []
    assert report["results"]["file_change_events"]["records_synced"] == 1
    assert pg_count(pg_server, pg_database, "SELECT count(*) FROM file_change_events WHERE event_type = 'renamed'") == 1
    assert pg_count(pg_server, pg_database, "SELECT count(*) FROM file_change_events") == 5
    assert cli("status", "--config", str(config.path)).returncode == 0
