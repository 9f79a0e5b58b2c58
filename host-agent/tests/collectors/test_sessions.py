"""The pure session rules, table by table."""

from __future__ import annotations

import copy

import pytest
from host_agent.collectors.desktop.sessions import (
    EXCLUDED_TITLE,
    Activity,
    Decision,
    Observation,
    OpenSession,
    Rules,
    clock_jumped,
    decide,
    end_after_jump,
    end_on_stop,
)

T0 = 1_800_000_000
EDITOR = Activity("Gedit", "notes.txt")
OPEN_EDITOR = OpenSession(id=1, activity=EDITOR, start_time=T0)
RULES = Rules.build(300, [r"(?i)keepass"], [r"(?i)private browsing"])


def seen(offset: float, application: str | None = "Gedit", title: str | None = "notes.txt", **kw) -> Observation:
    return Observation(time=T0 + offset, application=application, title=title, **kw)


CASES = [
    # (what, open session, observation, expected decision)
    ("first window starts a session", None, seen(5), Decision("started", start=EDITOR, start_at=T0 + 5)),
    ("same application and title continue", OPEN_EDITOR, seen(60), Decision("continue")),
    (
        "a new title ends the session and starts the next",
        OPEN_EDITOR,
        seen(60, title="todo.txt"),
        Decision("changed", end_at=T0 + 60, start=Activity("Gedit", "todo.txt"), start_at=T0 + 60),
    ),
    (
        "another application ends the session and starts the next",
        OPEN_EDITOR,
        seen(61.9, application="Firefox", title="news"),
        Decision("changed", end_at=T0 + 61, start=Activity("Firefox", "news"), start_at=T0 + 61),
    ),
    (
        "a title turning into no title is a change",
        OPEN_EDITOR,
        seen(9, title=None),
        Decision("changed", end_at=T0 + 9, start=Activity("Gedit", None), start_at=T0 + 9),
    ),
    ("no active window ends the session now", OPEN_EDITOR, seen(30, application=None, title=None),
     Decision("no active window", end_at=T0 + 30)),
    ("no active window and no session: nothing", None, seen(30, application=None), Decision("no active window")),
    (
        "idle past the timeout ends the session at the last input",
        OPEN_EDITOR,
        seen(400, idle_seconds=310),
        Decision("idle", end_at=T0 + 90),
    ),
    ("idle just under the timeout continues", OPEN_EDITOR, seen(400, idle_seconds=299.9), Decision("continue")),
    ("idle with no session starts nothing", None, seen(400, idle_seconds=301), Decision("idle")),
    (
        "input resumed after idle starts a session now",
        None,
        seen(700, idle_seconds=0.4),
        Decision("started", start=EDITOR, start_at=T0 + 700),
    ),
    (
        "last input before the session began ends it at its start, never before",
        OpenSession(1, EDITOR, T0 + 200),
        seen(400, idle_seconds=350),
        Decision("idle", end_at=T0 + 200),
    ),
    (
        "the screen saver counts as idle at once, ending at the last input",
        OPEN_EDITOR,
        seen(100, idle_seconds=20, screen_saver_on=True),
        Decision("idle", end_at=T0 + 80),
    ),
    ("unknown idle time never counts as idle", OPEN_EDITOR, seen(100, idle_seconds=None), Decision("continue")),
    (
        "an excluded application is not recorded and ends the session",
        OPEN_EDITOR,
        seen(50, application="KeePassXC", title="Passwords.kdbx"),
        Decision("excluded application", end_at=T0 + 50),
    ),
    ("an excluded application with no session: nothing", None, seen(50, application="keepassxc"),
     Decision("excluded application")),
    (
        "an excluded title is stored as the placeholder",
        None,
        seen(5, application="Firefox", title="Bank — Private Browsing"),
        Decision("started", start=Activity("Firefox", EXCLUDED_TITLE), start_at=T0 + 5),
    ),
    (
        "two excluded titles of one application are one session",
        OpenSession(1, Activity("Firefox", EXCLUDED_TITLE), T0),
        seen(5, application="Firefox", title="Mail — Private Browsing"),
        Decision("continue"),
    ),
]


@pytest.mark.parametrize(("current", "observation", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(current, observation, expected):
    before = copy.deepcopy((current, observation, RULES))
    assert decide(current, observation, RULES) == expected
    assert (current, observation, RULES) == before, "the rules never change their arguments"


def test_idle_timeout_zero_turns_idle_detection_off():
    rules = Rules.build(0, [], [])
    assert decide(OPEN_EDITOR, seen(99_999, idle_seconds=99_000), rules) == Decision("continue")


def test_screen_saver_ends_the_session_even_with_idle_detection_off():
    rules = Rules.build(0, [], [])
    observation = seen(100, idle_seconds=0, screen_saver_on=True)
    assert decide(OPEN_EDITOR, observation, rules) == Decision("idle", end_at=T0 + 100)


JUMPS = [
    # (what, previous (wall, monotonic), current, jumped)
    ("first reading", None, (T0, 10.0), False),
    ("both clocks advance together", (T0, 10.0), (T0 + 5, 15.0), False),
    ("small drift is tolerated", (T0, 10.0), (T0 + 6.5, 15.0), False),
    ("suspend: wall moves, monotonic does not", (T0, 10.0), (T0 + 3600, 15.0), True),
    ("clock set back", (T0, 10.0), (T0 - 600, 15.0), True),
]


@pytest.mark.parametrize(("previous", "current", "jumped"), [j[1:] for j in JUMPS], ids=[j[0] for j in JUMPS])
def test_clock_jumped(previous, current, jumped):
    assert clock_jumped(previous, current) is jumped


def test_a_clock_jump_ends_the_session_when_it_was_last_seen():
    assert end_after_jump(OPEN_EDITOR, T0 + 42.7) == Decision("clock jump", end_at=T0 + 42)
    assert end_after_jump(OpenSession(1, EDITOR, T0 + 50), T0 + 42) == Decision("clock jump", end_at=T0 + 50)
    assert end_after_jump(None, T0) == Decision("clock jump")


def test_stopping_ends_the_open_session_at_the_given_time():
    assert end_on_stop(OPEN_EDITOR, T0 + 12.9, "monitor stopped") == Decision("monitor stopped", end_at=T0 + 12)
    assert end_on_stop(None, T0, "monitor stopped") == Decision("monitor stopped")


def test_exclude_patterns_search_anywhere_in_the_name():
    rules = Rules.build(0, ["pass"], ["secret"])
    assert decide(None, seen(0, application="KeePassXC"), rules).start == Activity("KeePassXC", "notes.txt")
    assert decide(None, seen(0, application="keepassxc"), rules).start is None
    assert decide(None, seen(0, title="my secret plan"), rules).start == Activity("Gedit", EXCLUDED_TITLE)
