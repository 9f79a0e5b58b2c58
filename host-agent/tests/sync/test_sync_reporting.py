"""What a failing run says, to the log and to sync_logs: rows refused and rows not reached are
told apart, and a permanent error is a traceback once, then one line per run."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

from host_agent.store.journal import INTERRUPTED

from tests.support.rows import add_file_events, file_event
from tests.support.waiting import wait_until

HOST_AGENT_DIR = Path(__file__).resolve().parents[2]


def tracebacks(caplog) -> int:
    return sum(1 for r in caplog.records if r.exc_info and r.name.startswith("host_agent"))


async def test_an_outage_leaves_rows_waiting_and_says_so_without_calling_them_held_back(
    files_db, pg_proxy, pg_database, pg, manager_factory, caplog
):
    add_file_events(files_db, 25)
    pg_proxy.down()
    manager = await manager_factory(pg_proxy.url(pg_database), connect_timeout=2)
    result = (await manager.sync_all())["file_change_events"]
    assert (result.records_synced, result.records_held, result.records_left) == (0, 0, 25)
    assert "25 rows stay local" in caplog.text
    assert "held back" not in caplog.text

    pg_proxy.up()
    files_db.save_event(file_event(99, file_path="/home/me/src/app/bad\x00name.py"))  # PostgreSQL refuses NUL
    await manager.sync_all()
    logged = await pg.fetch(
        "SELECT records_synced, records_failed, error_message FROM sync_logs WHERE table_name = $1 ORDER BY id",
        "file_change_events",
    )
    assert [(r["records_synced"], r["records_failed"]) for r in logged] == [(0, 25), (25, 1)]
    assert "25 rows left waiting for the next run" in logged[0]["error_message"]
    assert "held back" not in logged[0]["error_message"]
    assert logged[1]["error_message"].startswith("1 rows held back: row id 26")
    assert "file_change_events 25 synced, 1 held back" in caplog.text


async def test_a_permanent_error_is_a_traceback_once_then_one_line_per_run(files_db, pg_url, pg, manager_factory, caplog):
    add_file_events(files_db, 3)
    manager = await manager_factory(pg_url)
    await pg.execute("ALTER TABLE file_change_events RENAME TO file_change_events_away")
    caplog.set_level(logging.INFO, logger="host_agent")
    for _ in range(3):
        assert (await manager.sync_all())["file_change_events"].status == "failed"
    assert tracebacks(caplog) == 1
    still = [r for r in caplog.records if "file_change_events still failing" in r.getMessage()]
    assert len(still) == 2 and all(r.exc_info is None for r in still)

    await pg.execute("ALTER TABLE file_change_events_away RENAME TO file_change_events")
    assert (await manager.sync_all())["file_change_events"].records_synced == 3
    await pg.execute("ALTER TABLE file_change_events RENAME TO file_change_events_away")
    add_file_events(files_db, 2, start=3)
    assert (await manager.sync_all())["file_change_events"].status == "failed"
    assert tracebacks(caplog) == 2  # failing again after a success: told in full again


def test_a_run_killed_midway_is_accounted_for_in_sync_logs_row_for_row(data_dir, files_db, pg_url, pg_server, pg_database):
    """kill -9 during a run: its journal entry counts exactly the rows it marked (marks and counts
    change in one SQLite transaction), and reaches sync_logs as an interrupted run."""
    add_file_events(files_db, 6000)

    def marked() -> int:
        with files_db.reading() as conn:
            return conn.execute("SELECT count(*) FROM file_change_events WHERE synced_at IS NOT NULL").fetchone()[0]

    def sync_once() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.sync_once", pg_url, str(data_dir), "50"],
            cwd=HOST_AGENT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    proc = sync_once()
    wait_until(lambda: marked() >= 1000 or proc.poll() is not None, 60, "a thousand rows marked")
    assert proc.poll() is None, "the sync finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    at_kill = marked()

    proc = sync_once()
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    rows = [line.split("|") for line in pg_server.psql(
        "SELECT records_synced, status, coalesce(error_message, '') FROM sync_logs "
        "WHERE table_name = 'file_change_events' ORDER BY id", pg_database
    ).splitlines()]  # fmt: skip
    interrupted, completed = rows
    assert interrupted == [str(at_kill), "partial_success", INTERRUPTED]
    assert completed[1] == "success"
    # every row moved is accounted for (a batch committed but not marked when killed is re-sent)
    assert int(interrupted[0]) + int(completed[0]) >= 6000
    assert int(pg_server.psql("SELECT count(*) FROM file_change_events", pg_database)) == 6000


async def test_each_run_compares_the_host_clock_with_postgresql(files_db, pg_url, manager_factory):
    manager = await manager_factory(pg_url)
    assert manager.clock_offset is None  # not measured before a run reached the server
    await manager.sync_all()
    assert manager.clock_offset is not None
    assert abs(manager.clock_offset) < 5  # the same machine's clock, read twice
