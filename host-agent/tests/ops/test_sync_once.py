"""``reprospective-agent sync --once``: one full sync from the command line, alone or racing the agent."""

from __future__ import annotations

import subprocess

from host_agent.store.inspect import inspect_table
from host_agent.store.tables import FILE_CHANGE_EVENTS, LocalTable

from tests.ops.conftest import AGENT_BIN, DEADLINE, clean_env, cli, pg_count
from tests.support.rows import add_file_events
from tests.support.waiting import wait_until


def test_sync_once_racing_the_agents_loop_sends_every_row_exactly_once(
    make_config, run_agent, pg_server, pg_database, pg_url
):
    # A loop that syncs every 0.1 s in small batches, and two manual runs started at once:
    # the runs take turns on the databases' sync locks, and no row is stored twice.
    config = make_config(pg_url, interval_seconds=0.1, batch_size=500)
    add_file_events(config.file_events_db, 12_000)
    run_agent(config)
    racers = [
        subprocess.Popen(
            [str(AGENT_BIN), "sync", "--once", "--json", "--config", str(config.path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
        )  # fmt: skip
        for _ in range(2)
    ]
    add_file_events(config.file_events_db, 3_000, start=12_000)
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        assert "lock" not in err.lower() and "Traceback" not in err

    table = LocalTable(FILE_CHANGE_EVENTS, config.file_events_db)
    wait_until(lambda: inspect_table(table).waiting == 0, DEADLINE, "backlog drained")
    total = "SELECT count(*) FROM file_change_events"
    distinct = "SELECT count(DISTINCT (origin_id, local_id)) FROM file_change_events"
    assert pg_count(pg_server, pg_database, total) == 15_000
    assert pg_count(pg_server, pg_database, distinct) == 15_000


def test_sync_once_shows_a_progress_bar_for_a_large_backlog_and_a_summary(make_config, pg_server, pg_database, pg_url):
    config = make_config(pg_url, batch_size=2000)
    add_file_events(config.file_events_db, 10_000)
    done = cli("sync", "--once", "--config", str(config.path), env=clean_env(TTY_COMPATIBLE="1", COLUMNS="120"))
    assert done.returncode == 0, done.stderr
    assert "10000/10000" in done.stderr  # the bar's last state, on stderr
    assert "file_change_events" in done.stdout and "10000 synced" in done.stdout
    assert pg_count(pg_server, pg_database, "SELECT count(*) FROM file_change_events") == 10_000


def test_sync_once_fails_with_a_clear_summary_when_postgresql_is_away(make_config, pg_proxy, pg_database):
    config = make_config(pg_proxy.url(pg_database))
    add_file_events(config.file_events_db, 3)
    pg_proxy.down()
    done = cli("sync", "--once", "--config", str(config.path))
    assert done.returncode == 1
    assert "file_change_events" in done.stdout and "failed" in done.stdout
    assert "Traceback" not in done.stderr
    assert inspect_table(LocalTable(FILE_CHANGE_EVENTS, config.file_events_db)).waiting == 3
