"""What in ``status`` needs a person, as a pure function of what was found: no I/O, no clock.

:func:`needs_attention` takes the facts ``status`` gathered (:class:`Facts`) and returns one
line per problem; an empty list means OK. The rules:

- the agent is not running;
- rows are held back by PostgreSQL;
- PostgreSQL has been unreachable for more than one sync interval;
- sync runs have been failing for more than one sync interval for another reason (a revoked
  grant, a read-only database), with the last error;
- a sync run has been in progress for more than ten minutes (a huge backlog, or a server that
  hangs: the statement and run timeouts end it);
- rows wait far longer than the interval (two intervals plus a margin) although the agent runs:
  a failure that is not an outage, or a loop that does not run;
- this host's clock is more than a minute away from PostgreSQL's (rows may land in the wrong
  hour or day);
- a local database cannot be read;
- this host's id file cannot be read (core/identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: A waiting row older than two sync intervals plus this margin means the agent's sync is stuck.
LAG_MARGIN_SECONDS = 60
#: A run in progress longer than this is worth a look.
LONG_RUN_SECONDS = 600
#: A host clock further than this from PostgreSQL's puts rows in the wrong hour or day.
CLOCK_OFFSET_SECONDS = 60


@dataclass(frozen=True)
class TableFacts:
    name: str
    oldest_waiting_at: float | None = None
    held: int = 0
    error: str | None = None  # the local database cannot be read


@dataclass(frozen=True)
class Facts:
    now: float
    agent_running: bool
    sync_enabled: bool
    interval_seconds: float
    postgres_checked: bool = False
    postgres_reachable: bool = False
    #: The start of the oldest failed run not followed by a success (the local journal), and its error.
    failing_since: float | None = None
    last_error: str | None = None
    #: When the agent's run in progress started, if one is.
    run_started_at: float | None = None
    #: This host's clock minus PostgreSQL's, as the agent last measured it (the running agent's
    #: figure, else the one its last run recorded in PostgreSQL's hosts table).
    clock_offset: float | None = None
    #: Why this host's id file cannot be read, if it cannot.
    identity_error: str | None = None
    #: The collectors the running agent is about to restart after a failure, and the error.
    failed_collectors: tuple[tuple[str, str], ...] = ()
    tables: tuple[TableFacts, ...] = field(default_factory=tuple)


def age(seconds: float) -> str:
    """``42 s``, ``7 min``, ``3 h 5 min``, ``4 days``."""
    seconds = max(seconds, 0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"
    return f"{seconds / 86400:.0f} days"


def clock_note(offset: float | None) -> str | None:
    """What a clock offset means for the rows, when it is worth saying (over a minute)."""
    if offset is None or abs(offset) <= CLOCK_OFFSET_SECONDS:
        return None
    side = "ahead of" if offset > 0 else "behind"
    return f"this host's clock is {age(abs(offset))} {side} PostgreSQL's: its rows may land in the wrong hour or day"


def needs_attention(facts: Facts) -> list[str]:
    found = []
    if not facts.agent_running:
        found.append("the agent is not running (start it with scripts/start-agent.sh)")
    held = sum(t.held for t in facts.tables)
    if held:
        found.append(f"{held} row(s) held back by PostgreSQL (see 'reprospective-agent held')")
    failing_for = facts.now - facts.failing_since if facts.failing_since is not None else None
    if facts.sync_enabled and failing_for is not None and failing_for > facts.interval_seconds:
        if facts.postgres_checked and not facts.postgres_reachable:
            found.append(f"PostgreSQL unreachable for {age(failing_for)} (more than one sync interval)")
        else:
            why = f": {facts.last_error}" if facts.last_error else ""
            found.append(f"sync runs failing for {age(failing_for)} (more than one sync interval){why}")
    if facts.run_started_at is not None and facts.now - facts.run_started_at > LONG_RUN_SECONDS:
        found.append(f"a sync run has been in progress for {age(facts.now - facts.run_started_at)} (see the agent's log)")
    clock = clock_note(facts.clock_offset)
    if clock:
        found.append(f"{clock} (set the clock, e.g. with NTP)")
    lag_limit = 2 * facts.interval_seconds + LAG_MARGIN_SECONDS
    for table in facts.tables:
        waited = facts.now - table.oldest_waiting_at if table.oldest_waiting_at else None
        if facts.agent_running and facts.sync_enabled and waited is not None and waited > lag_limit:
            found.append(
                f"{table.name}: rows have been waiting for {age(waited)} although the agent runs "
                f"(sync every {facts.interval_seconds:g} s; see its log)"
            )
    for label, error in facts.failed_collectors:
        found.append(f"the {label} stopped after a failure ({error}); the agent restarts it (see its log)")
    found += [t.error for t in facts.tables if t.error]
    if facts.identity_error:
        found.append(facts.identity_error)
    return found
