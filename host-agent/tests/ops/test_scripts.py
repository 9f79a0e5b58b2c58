"""The scripts in ``scripts/``, run as a person would, against a real agent and a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from reprospective_db.cluster import EmbeddedPostgres

from tests.ops.conftest import DEADLINE, SCRIPTS, clean_env, cli, pg_count, script
from tests.support.rows import add_file_events
from tests.support.waiting import wait_until


@pytest.fixture
def stop_leftover_agent():
    """Whatever a test started through the scripts is stopped at its end, even if it failed."""
    configs = []
    yield configs.append
    for config in configs:
        pid = running_pid(config)
        if pid:
            os.kill(int(pid), signal.SIGTERM)
            wait_until(lambda: not running_pid(config), DEADLINE, "the agent to stop")


def running_pid(config) -> str:
    """The running agent's pid, as ``paths --get agent_pid`` prints it ('' when none runs)."""
    return cli("paths", "--get", "agent_pid", "--config", str(config.path)).stdout.strip()


def test_start_trigger_and_stop_the_agent_with_the_scripts(make_config, pg_server, pg_database, pg_url, stop_leftover_agent):
    config = make_config(pg_url)
    stop_leftover_agent(config)
    started = script("start-agent.sh", "--config", str(config.path))
    assert started.returncode == 0, started.stderr
    assert "agent started (pid" in started.stderr
    log_file = config.data_dir / "agent.log"
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    pid = int(cli("paths", "--get", "agent_pid", "--config", str(config.path)).stdout)

    again = script("start-agent.sh", "--config", str(config.path))
    assert again.returncode == 0 and f"already running (pid {pid})" in again.stderr

    add_file_events(config.file_events_db, 7)
    triggered = script("trigger-sync.sh", env=clean_env(REPROSPECTIVE_CONFIG=str(config.path)))
    assert triggered.returncode == 0, triggered.stderr
    assert "7 synced" in triggered.stdout
    assert pg_count(pg_server, pg_database, "SELECT count(*) FROM file_change_events") == 7

    stopped = script("stop-agent.sh", "--config", str(config.path))
    assert stopped.returncode == 0, stopped.stderr
    assert "agent stopped" in stopped.stderr
    assert cli("paths", "--get", "agent_pid", "--config", str(config.path)).stdout.strip() == ""
    assert "Reprospective agent stopped" in log_file.read_text()

    nothing = script("trigger-sync.sh", "--config", str(config.path))
    assert nothing.returncode == 3
    assert "no agent is running" in nothing.stderr
    assert script("stop-agent.sh", "--config", str(config.path)).stderr.strip().endswith(
        f"no agent is running for data folder {config.data_dir}"
    )


def table_rows(output: str, section: str) -> dict[str, list[str]]:
    """The rows of one psql table in the script's output, keyed by their first column."""
    lines = output.split(section, 1)[1].splitlines()[1:]
    rows = {}
    for line in lines[2:]:  # after the header and the ---+--- line
        if "|" not in line:
            break
        cells = [cell.strip() for cell in line.split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_show_sync_stats_shows_the_figures_sync_logs_holds(make_config, pg_server, pg_database, pg_url):
    config = make_config(pg_url)
    for start, count in ((0, 5), (5, 3)):
        add_file_events(config.file_events_db, count, start=start)
        assert cli("sync", "--once", "--config", str(config.path)).returncode == 0
    # A run from three days ago, from another host: only --all shows it.
    pg_server.psql(
        "INSERT INTO sync_logs (sync_started_at, sync_completed_at, table_name, records_synced, records_failed, "
        "status, host_identifier) VALUES (now() - interval '3 days', now() - interval '3 days', "
        "'file_change_events', 40, 2, 'partial_success', 'otherhost_bob')",
        database=pg_database,
    )
    host = pg_server.psql("SELECT DISTINCT host_identifier FROM sync_logs WHERE records_synced = 5", pg_database)

    today = script("show-sync-stats.sh", env=clean_env(DATABASE_URL=pg_url))
    assert today.returncode == 0, today.stderr
    assert "Latest sync runs (today" in today.stdout
    latest = [line for line in today.stdout.split("Per table")[0].splitlines() if "file_change_events" in line]
    assert len(latest) == 2
    assert table_rows(today.stdout, "Per table (today)")["file_change_events"][:3] == ["2", "8", "0"]
    assert table_rows(today.stdout, "Per host (today)")[host][:3] == ["2", "8", "0"]
    assert "otherhost_bob" not in today.stdout

    everything = script("show-sync-stats.sh", "--all", env=clean_env(DATABASE_URL=pg_url))
    assert everything.returncode == 0, everything.stderr
    assert table_rows(everything.stdout, "Per table (all time)")["file_change_events"][:3] == ["3", "48", "2"]
    assert table_rows(everything.stdout, "Per host (all time)")["otherhost_bob"][:3] == ["1", "40", "2"]
    figures = pg_server.psql(
        "SELECT count(*) || ' ' || sum(records_synced) FROM sync_logs WHERE table_name = 'file_change_events'",
        pg_database,
    )
    assert figures == "3 48"


def test_show_sync_stats_uses_the_agents_config_and_never_prints_the_password(make_config, pg_server, pg_database):
    password_url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{pg_server.server.port}/{pg_database}"  # trust auth
    config = make_config(password_url)
    add_file_events(config.file_events_db, 2)
    assert cli("sync", "--once", "--config", str(config.path)).returncode == 0
    shown = script("show-sync-stats.sh", "--config", str(config.path))
    assert shown.returncode == 0, shown.stderr
    assert "file_change_events" in shown.stdout
    url = cli("db", "url", "--config", str(config.path))
    assert url.stdout.strip() == f"postgresql://postgres@127.0.0.1:{pg_server.server.port}/{pg_database}"
    for output in (shown.stdout, shown.stderr, url.stdout, url.stderr):
        assert "s3cret-pw" not in output


def test_show_sync_stats_says_clearly_when_it_cannot_connect(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    done = script("show-sync-stats.sh", env=clean_env(DATABASE_URL=f"postgresql://u:pw-xyz@127.0.0.1:{port}/db"))
    assert done.returncode == 1
    assert "cannot connect to PostgreSQL (postgresql://u:***@127.0.0.1" in done.stderr
    assert "pw-xyz" not in done.stderr


def test_reset_db_refuses_without_a_terminal_and_resets_with_yes(make_config, pg_server, pg_database, pg_url, run_agent):
    config = make_config(pg_url)
    add_file_events(config.file_events_db, 3)
    assert cli("sync", "--once", "--config", str(config.path)).returncode == 0
    count = "SELECT count(*) FROM file_change_events"

    refused = script("reset-db.sh", "--config", str(config.path))  # stdin is /dev/null: no terminal
    assert refused.returncode == 2
    assert "refusing to reset without confirmation" in refused.stderr and "--yes" in refused.stderr
    assert pg_count(pg_server, pg_database, count) == 3

    agent = run_agent(config)
    while_running = script("reset-db.sh", "--yes", "--config", str(config.path))
    assert while_running.returncode == 1 and "is running" in while_running.stderr
    agent.stop()

    reset = script("reset-db.sh", "--yes", "--config", str(config.path))
    assert reset.returncode == 0, reset.stderr
    assert "schema re-created" in reset.stdout
    assert pg_count(pg_server, pg_database, count) == 0
    assert pg_count(pg_server, pg_database, "SELECT count(*) FROM sync_logs") == 0
    assert pg_count(pg_server, pg_database, "SELECT max(version) FROM schema_version") >= 4


def test_reset_db_asks_on_a_terminal_and_stops_unless_confirmed(make_config, pg_server, pg_database, pg_url):
    config = make_config(pg_url)
    add_file_events(config.file_events_db, 2)
    assert cli("sync", "--once", "--config", str(config.path)).returncode == 0
    primary, secondary = os.openpty()
    try:
        proc = subprocess.Popen(
            [str(SCRIPTS / "reset-db.sh"), "--config", str(config.path)],
            stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
        )  # fmt: skip
        os.write(primary, b"no\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 1, err
    assert "Type 'reset' to continue" in err and "not confirmed; nothing was changed" in err
    assert pg_count(pg_server, pg_database, "SELECT count(*) FROM file_change_events") == 2


@pytest.fixture
def embedded_folder():
    # The embedded server runs as 'postgres' when the tests run as root: it must be able to
    # enter the folder, which pytest's private tmp_path does not allow.
    folder = Path(tempfile.mkdtemp(prefix="repro-ops-"))
    os.chmod(folder, 0o711)
    yield folder
    EmbeddedPostgres(folder / "data" / "postgres").stop("immediate")  # if a failed test left it running
    shutil.rmtree(folder, ignore_errors=True)


def test_start_and_stop_the_embedded_postgresql_with_the_scripts(embedded_folder):
    config_path = embedded_folder / "config.yaml"
    config_path.write_text(
        f"agent:\n  data_dir: {embedded_folder / 'data'}\n"
        "desktop_monitor:\n  enabled: false\nfilesystem_watcher:\n  enabled: false\n"
    )
    env = clean_env(REPROSPECTIVE_CONFIG=str(config_path))
    started = script("start.sh", env=env)
    assert started.returncode == 0, started.stderr
    assert "embedded PostgreSQL started" in started.stdout

    add_file_events(embedded_folder / "data" / "file_changes.db", 4)
    synced = cli("sync", "--once", env=env)
    assert synced.returncode == 0, synced.stderr
    shown = script("show-sync-stats.sh", env=env)
    assert shown.returncode == 0, shown.stderr
    assert table_rows(shown.stdout, "Per table (today)")["file_change_events"][:3] == ["1", "4", "0"]

    stopped = script("stop.sh", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "embedded PostgreSQL stopped" in stopped.stdout
    gone = script("show-sync-stats.sh", env=env)
    assert gone.returncode == 1
    assert "cannot connect to PostgreSQL" in gone.stderr and "not running" in gone.stderr
