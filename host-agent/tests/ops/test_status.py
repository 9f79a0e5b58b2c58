"""``reprospective-agent status``: before, during and after a PostgreSQL outage, and with the agent down."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time

import yaml

from tests.ops.conftest import DEADLINE, cli
from tests.support.rows import add_file_events
from tests.support.waiting import wait_until


def status(config):
    done = cli("status", "--json", "--config", str(config.path))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_status_reports_an_outage_longer_than_an_interval_and_its_end(make_config, run_agent, pg_proxy, pg_database):
    config = make_config(pg_proxy.url(pg_database), interval_seconds=1, retry_backoff_seconds=0.2)
    run_agent(config)
    add_file_events(config.file_events_db, 10)
    wait_until(lambda: status(config)[1]["tables"]["file_change_events"]["waiting"] == 0, DEADLINE, "the backlog to drain")

    code, before = status(config)
    assert code == 0, before["attention"]
    assert before["ok"] and before["agent"]["running"] and before["agent"]["responding"]
    assert before["postgres"]["reachable"]
    assert before["tables"]["file_change_events"]["last_rows_moved"]["records_synced"] == 10
    assert before["tables"]["file_change_events"]["last_success"]["status"] == "success"
    assert before["collectors"]["filesystem_watcher"] == {"enabled": False, "running": False, "figures": None,
                                                          "failure": None}

    pg_proxy.down()
    add_file_events(config.file_events_db, 5, start=10)

    def outage_reported():
        code, report = status(config)
        return (code, report) if code == 1 else None

    code, during = wait_until(outage_reported, DEADLINE, "status to report the outage")
    assert not during["postgres"]["reachable"]
    assert any("PostgreSQL unreachable for" in item for item in during["attention"])
    assert during["tables"]["file_change_events"]["waiting"] == 5
    assert during["tables"]["file_change_events"]["oldest_waiting"]["age_seconds"] >= 0
    assert during["postgres"]["failing_since"] is not None

    text = cli("status", "--config", str(config.path))
    assert text.returncode == 1
    assert "UNREACHABLE" in text.stdout and "Needs attention" in text.stdout
    assert "password" not in text.stdout.lower()

    pg_proxy.up()

    def recovered():
        code, report = status(config)
        return report if code == 0 and report["tables"]["file_change_events"]["waiting"] == 0 else None

    after = wait_until(recovered, DEADLINE, "the agent to catch up and status to recover")
    assert after["postgres"]["reachable"] and after["postgres"]["failing_since"] is None
    assert after["tables"]["file_change_events"]["journal_pending"] == 0


def test_status_needs_attention_when_the_agent_is_down(make_config, pg_url):
    config = make_config(pg_url)
    code, report = status(config)
    assert code == 1
    assert report["agent"] == {"running": False, "pid": None, "responding": False, "started": None}
    assert report["attention"] == ["the agent is not running (start it with scripts/start-agent.sh)"]
    assert report["postgres"]["reachable"]
    assert report["tables"]["file_change_events"]["exists"] is False
    assert not config.file_events_db.exists()  # looking creates nothing


def test_status_needs_attention_when_rows_wait_far_longer_than_the_interval(make_config, run_agent, pg_url):
    config = make_config(pg_url)  # interval 1 h: rows waiting more than 2 h + 1 min are stuck
    run_agent(config)
    add_file_events(config.file_events_db, 3)
    with sqlite3.connect(config.file_events_db) as conn:
        conn.execute("UPDATE file_change_events SET created_at = ?", (int(time.time()) - 3 * 3600,))
    conn.close()
    code, report = status(config)
    assert code == 1
    assert report["tables"]["file_change_events"]["oldest_waiting"]["age_seconds"] >= 3 * 3600
    assert any(item.startswith("file_change_events: rows have been waiting for 3 h") for item in report["attention"])

    assert cli("trigger", "--config", str(config.path)).returncode == 0
    code, report = status(config)
    assert code == 0, report["attention"]


def test_status_needs_attention_when_every_run_fails_although_postgresql_answers(make_config, run_agent, pg_url, pg_server, pg_database):
    config = make_config(pg_url, interval_seconds=1)
    run_agent(config)
    pg_server.psql("ALTER TABLE file_change_events RENAME TO file_change_events_away", pg_database)
    add_file_events(config.file_events_db, 3)

    def failing_reported():
        code, report = status(config)
        return report if code == 1 else None

    report = wait_until(failing_reported, DEADLINE, "status to report the failing runs")
    assert report["postgres"]["reachable"]
    reason = next(item for item in report["attention"] if item.startswith("sync runs failing for"))
    assert 'relation "file_change_events" does not exist' in reason


def test_status_shows_what_each_running_collector_did(make_config, run_agent, tmp_path):
    watched = tmp_path / "project"
    watched.mkdir()
    config = make_config(None, enabled=False)  # no PostgreSQL needed to record
    settings = yaml.safe_load(config.path.read_text())
    settings["filesystem_watcher"] = {"enabled": True, "monitored_directories": [str(watched)],
                                      "buffer": {"flush_interval": 0.1}}  # fmt: skip
    config.path.write_text(yaml.safe_dump(settings))
    run_agent(config)

    def watcher_figures():
        return status(config)[1]["collectors"]["filesystem_watcher"]["figures"] or {}

    # the agent answers before its watcher has applied its first directory list
    wait_until(lambda: watcher_figures().get("trees_watched") == 1, DEADLINE, "the folder to be watched")
    (watched / "notes.md").write_text("hello")

    def written():
        _code, report = status(config)
        figures = report["collectors"]["filesystem_watcher"]["figures"]
        return report if figures and figures["rows_written"] >= 1 else None

    report = wait_until(written, DEADLINE, "the watcher's figures to show a row written")
    figures = report["collectors"]["filesystem_watcher"]["figures"]
    assert figures["trees_watched"] == 1 and figures["events_not_kept"] == 0
    text = cli("status", "--config", str(config.path)).stdout
    assert "filesystem watcher: trees watched 1, rows written 1" in text


def test_a_watcher_that_fails_is_restarted_by_itself_once_the_cause_is_fixed(make_config, run_agent, tmp_path):
    watched = tmp_path / "project"
    watched.mkdir()
    config = make_config(None, enabled=False)
    settings = yaml.safe_load(config.path.read_text())
    settings["filesystem_watcher"] = {"enabled": True, "monitored_directories": [str(watched)],
                                      "buffer": {"flush_interval": 0.1}}  # fmt: skip
    config.path.write_text(yaml.safe_dump(settings))
    config.data_dir.mkdir(mode=0o700)
    config.file_events_db.write_bytes(b"this is no SQLite database\n" * 100)  # another program wrote over it
    agent = run_agent(config)

    agent.wait_for_log("filesystem watcher stopped unexpectedly", DEADLINE)

    def status_between_tries():  # not during a try, when the watcher runs again for a moment
        code, report = status(config)
        return (code, report) if report["collectors"]["filesystem_watcher"]["failure"] else None

    code, report = wait_until(status_between_tries, DEADLINE, "a status between tries")
    assert code != 0
    watcher = report["collectors"]["filesystem_watcher"]
    assert watcher["running"] is False
    assert "file is not a database" in watcher["failure"]["error"]
    assert any(item.startswith("the filesystem watcher stopped after a failure") for item in report["attention"])

    def text_between_tries():
        text = cli("status", "--config", str(config.path)).stdout
        return re.search(r"filesystem watcher: failed \d+ s ago, restarting", text) and text

    text = wait_until(text_between_tries, DEADLINE, "the text status between tries")
    assert "the filesystem watcher stopped after a failure (StoreError: " in text

    config.file_events_db.rename(config.file_events_db.with_suffix(".broken"))  # what the operator does
    wait_until(
        lambda: (status(config)[1]["collectors"]["filesystem_watcher"]["figures"] or {}).get("trees_watched") == 1,
        DEADLINE, "the folder to be watched again",
    )  # fmt: skip
    (watched / "notes.md").write_text("hello")

    def recorded():
        with contextlib.closing(sqlite3.connect(config.file_events_db)) as conn:
            return conn.execute("SELECT file_name FROM file_change_events").fetchall()

    assert wait_until(recorded, DEADLINE, "the restarted watcher to record the new file") == [("notes.md",)]
    code, report = status(config)
    assert report["collectors"]["filesystem_watcher"]["failure"] is None
    assert not any("watcher" in item for item in report["attention"])
    log = agent.log()
    assert "Traceback" not in log  # a store that cannot be opened is an expected condition: one line
    assert log.count("filesystem watcher stopped unexpectedly") == 1
