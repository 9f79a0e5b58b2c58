"""Stopping the agent while PostgreSQL hangs (it accepts bytes and never answers): the agent
exits within its last-sync budget, a second signal exits at once, and no row is lost."""

from __future__ import annotations

import signal
import time

from host_agent.store.inspect import inspect_table
from host_agent.store.tables import FILE_CHANGE_EVENTS, LocalTable

from tests.support.rows import add_file_events
from tests.support.waiting import wait_until

FINAL_SYNC_SECONDS = 3


def stuck_in_a_sync(agent, pg_proxy, config) -> None:
    """Rows to send, a loop that runs every second, and a server that stopped answering."""
    add_file_events(config.file_events_db, 200)
    pg_proxy.stall()
    before = pg_proxy.stalled_bytes
    wait_until(lambda: pg_proxy.stalled_bytes > before, 30, "the agent's next run to talk to the hung server")


def exit_seconds(agent, *signals: int) -> float:
    started = time.monotonic()
    for signum in signals:
        agent.process.send_signal(signum)
    agent.process.wait(timeout=120)  # the budget is asserted below; this only ends a hang
    return time.monotonic() - started


def test_sigterm_while_postgresql_hangs_exits_within_the_last_sync_budget(make_config, run_agent, pg_proxy, pg_database):
    config = make_config(pg_proxy.url(pg_database), interval_seconds=1, final_sync_timeout_seconds=FINAL_SYNC_SECONDS)
    agent = run_agent(config)
    stuck_in_a_sync(agent, pg_proxy, config)

    seconds = exit_seconds(agent, signal.SIGTERM)
    log = agent.log()
    assert agent.process.returncode == 0, log
    # the budget, plus stopping the collectors (none here) and closing cut-off connections
    assert seconds < FINAL_SYNC_SECONDS + 10, f"took {seconds:.0f} s:\n{log}"
    assert "the remaining rows stay queued locally" in log
    assert "Traceback" not in log
    # nothing was lost: the rows wait in SQLite for the next start
    assert inspect_table(LocalTable(FILE_CHANGE_EVENTS, config.file_events_db)).waiting > 0


def test_a_second_signal_skips_the_last_sync_at_once(make_config, run_agent, pg_proxy, pg_database):
    config = make_config(pg_proxy.url(pg_database), interval_seconds=1, final_sync_timeout_seconds=600)
    agent = run_agent(config)
    stuck_in_a_sync(agent, pg_proxy, config)

    agent.process.send_signal(signal.SIGTERM)
    agent.wait_for_log("last sync before exit")
    seconds = exit_seconds(agent, signal.SIGINT)
    log = agent.log()
    assert agent.process.returncode == 0, log
    assert seconds < 15, f"took {seconds:.0f} s after the second signal:\n{log}"
    assert "skipping the last sync" in log
