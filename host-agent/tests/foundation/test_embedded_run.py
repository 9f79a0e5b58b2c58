"""`make run` with no DATABASE_URL: the agent starts its own PostgreSQL, and stops cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.waiting import wait_until


@pytest.fixture
def shared_tmp():
    # As root the embedded server runs as 'postgres', which must be able to enter the folder.
    path = Path(tempfile.mkdtemp(prefix="reprospective-run-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_run_without_a_database_url_uses_an_embedded_cluster_and_stops_on_ctrl_c(shared_tmp):
    data_dir = shared_tmp / "data"
    config = shared_tmp / "config.yaml"
    config.write_text(
        f"agent:\n  data_dir: {data_dir}\n"
        "desktop_monitor:\n  enabled: false\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    log_path = shared_tmp / "agent.log"
    with open(log_path, "w") as log_file:
        agent = subprocess.Popen(
            [sys.executable, "-m", "host_agent", "run", "--config", str(config)],
            stdout=log_file, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            wait_until(lambda: "sync loop started" in log_path.read_text(), 90, "the sync loop to start")
            agent.send_signal(signal.SIGINT)
            assert agent.wait(timeout=60) == 0
        finally:
            if agent.poll() is None:
                agent.kill()
    log = log_path.read_text()
    assert f"data folder {data_dir}" in log
    assert f"embedded cluster in {data_dir / 'postgres'}" in log
    assert "PostgreSQL schema: applied 04_add_sync_origin.sql" in log
    assert "Reprospective agent stopped" in log
    assert "Traceback" not in log
    # A clean first start has nothing to warn about, though the watcher asks for its directory
    # list before the sync engine has created the schema.
    assert " WARNING " not in log and " ERROR " not in log, log
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "the embedded server was left running"
