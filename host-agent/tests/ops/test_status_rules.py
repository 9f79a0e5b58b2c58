"""The 'needs attention' rules of ``status``, as a table: facts in, lines out."""

from __future__ import annotations

import pytest
from host_agent.ops.status_rules import Facts, TableFacts, age, clock_note, needs_attention

NOW = 1_780_000_000.0
FINE = dict(now=NOW, agent_running=True, sync_enabled=True, interval_seconds=300, postgres_checked=True,
            postgres_reachable=True)  # fmt: skip


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(**FINE), []),
        (Facts(**FINE | {"agent_running": False}), ["the agent is not running (start it with scripts/start-agent.sh)"]),
        (
            Facts(**FINE, tables=(TableFacts("file_change_events", held=2), TableFacts("desktop_activity_sessions", held=1))),
            ["3 row(s) held back by PostgreSQL (see 'reprospective-agent held')"],
        ),
        # unreachable for less than an interval: a blip, not yet a problem
        (Facts(**FINE | {"postgres_reachable": False}, failing_since=NOW - 200), []),
        (
            Facts(**FINE | {"postgres_reachable": False}, failing_since=NOW - 400),
            ["PostgreSQL unreachable for 7 min (more than one sync interval)"],
        ),
        # reachable, and still every run fails
        (
            Facts(**FINE, failing_since=NOW - 3 * 3600, last_error="InsufficientPrivilegeError [42501]: permission denied"),
            ["sync runs failing for 3 h 0 min (more than one sync interval): "
             "InsufficientPrivilegeError [42501]: permission denied"],
        ),  # fmt: skip
        # rows waiting longer than two intervals and a margin while the agent runs
        (
            Facts(**FINE, tables=(TableFacts("file_change_events", oldest_waiting_at=NOW - 700),)),
            ["file_change_events: rows have been waiting for 12 min although the agent runs (sync every 300 s; see its log)"],
        ),
        (Facts(**FINE, tables=(TableFacts("file_change_events", oldest_waiting_at=NOW - 600),)), []),
        # the agent down: waiting rows are explained by that line alone
        (
            Facts(**FINE | {"agent_running": False}, tables=(TableFacts("file_change_events", oldest_waiting_at=NOW - 9999),)),
            ["the agent is not running (start it with scripts/start-agent.sh)"],
        ),
        # sync disabled: neither failures nor waiting rows are the sync's business
        (
            Facts(**FINE | {"sync_enabled": False}, failing_since=NOW - 9999,
                  tables=(TableFacts("file_change_events", oldest_waiting_at=NOW - 9999),)),
            [],
        ),  # fmt: skip
        (
            Facts(**FINE, tables=(TableFacts("file_change_events", error="cannot read /d/file_changes.db: disk I/O error"),)),
            ["cannot read /d/file_changes.db: disk I/O error"],
        ),
        (Facts(**FINE, run_started_at=NOW - 500), []),
        (Facts(**FINE, run_started_at=NOW - 1200), ["a sync run has been in progress for 20 min (see the agent's log)"]),
        (Facts(**FINE, clock_offset=-45.0), []),
        (
            Facts(**FINE, clock_offset=-3600.0),
            ["this host's clock is 60 min behind PostgreSQL's: its rows may land in the wrong hour or day "
             "(set the clock, e.g. with NTP)"],
        ),  # fmt: skip
        (
            Facts(**FINE, identity_error="host id file /d/host_id does not hold a host id (a UUID)"),
            ["host id file /d/host_id does not hold a host id (a UUID)"],
        ),
        (
            Facts(**FINE, failed_collectors=(("filesystem watcher", "StoreError: /d/file_changes.db is not usable"),)),
            ["the filesystem watcher stopped after a failure (StoreError: /d/file_changes.db is not usable); "
             "the agent restarts it (see its log)"],
        ),  # fmt: skip
    ],
    ids=["all fine", "agent down", "held rows", "short outage", "long outage", "failing runs", "stuck rows",
         "waiting within the limit", "agent down explains waiting", "sync disabled", "unreadable database",
         "a run of 8 min", "a run of 20 min", "clock 45 s behind", "clock an hour behind", "unreadable host id",
         "a failed collector"],
)  # fmt: skip
def test_needs_attention(facts, expected):
    assert needs_attention(facts) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (89, "89 s"), (90, "2 min"), (5399, "90 min"), (5400, "1 h 30 min"), (47 * 3600, "47 h 0 min"),
     (3 * 86400, "3 days"), (-5, "0 s")],
)  # fmt: skip
def test_ages_read_as_people_say_them(seconds, text):
    assert age(seconds) == text


@pytest.mark.parametrize(
    ("offset", "note"),
    [
        (None, None),
        (0.2, None),
        (60.0, None),
        (-60.0, None),
        (61.0, "this host's clock is 61 s ahead of PostgreSQL's: its rows may land in the wrong hour or day"),
        (-61.0, "this host's clock is 61 s behind PostgreSQL's: its rows may land in the wrong hour or day"),
        (2 * 86400, "this host's clock is 2 days ahead of PostgreSQL's: its rows may land in the wrong hour or day"),
    ],
)  # fmt: skip
def test_a_clock_offset_is_worth_a_note_past_a_minute(offset, note):
    assert clock_note(offset) == note
