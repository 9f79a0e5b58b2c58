"""The running agent's control socket: ``reprospective-agent trigger`` makes it sync now, for real."""

from __future__ import annotations

import json
import socket
import stat

from tests.ops.conftest import cli, pg_count
from tests.support.rows import add_file_events


def test_trigger_makes_the_running_agent_sync_and_reports_what_it_did(make_config, run_agent, pg_server, pg_database, pg_url):
    config = make_config(pg_url)  # interval 1 h: only the trigger can sync the new rows
    agent = run_agent(config)
    socket_file = config.data_dir / "agent.sock"
    assert stat.S_IMODE(socket_file.stat().st_mode) == 0o600

    add_file_events(config.file_events_db, 25)
    done = cli("trigger", "--config", str(config.path))

    assert done.returncode == 0, done.stderr
    assert "file_change_events" in done.stdout and "25 synced" in done.stdout
    assert pg_count(pg_server, pg_database, "SELECT count(*) FROM file_change_events") == 25
    assert "sync requested through the control socket" in agent.log()

    assert ask_raw(socket_file, b"not json\n") == {
        "ok": False, "error": "bad request: expected one JSON object with a 'command'",
    }  # fmt: skip
    assert ask_raw(socket_file, b'{"command": "shutdown"}\n') == {"ok": False, "error": "unknown command 'shutdown'"}
    assert agent.stop() == 0
    assert not socket_file.exists()


def ask_raw(path, line: bytes) -> dict:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(line)
        return json.loads(sock.makefile("rb").readline())


def test_trigger_says_clearly_that_no_agent_runs(make_config, pg_url):
    config = make_config(pg_url)
    done = cli("trigger", "--config", str(config.path))
    assert done.returncode == 3
    assert "no agent is running for data folder" in done.stderr
    assert "Traceback" not in done.stderr
