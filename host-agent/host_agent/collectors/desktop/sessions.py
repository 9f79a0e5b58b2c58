"""The session rules, as pure functions: no I/O, no clock, no mutation of arguments.

A session is a stretch of time with the same application and the same window title in the
foreground. Given the open session (or none), one observation of the desktop and the
settings, :func:`decide` says what to record: nothing, "end the open session at T", "start a
session at T", or both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: What an excluded title is stored as.
EXCLUDED_TITLE = "[excluded]"

#: How far wall-clock and monotonic time may drift apart between two observations before it
#: counts as a clock jump. Suspend/resume or a manual clock change moves the wall clock by
#: minutes to hours; NTP slews the clock by at most 0.5 ms per second (adjtime(3)), and steps
#: it only when it is off by more than 128 ms, which is small next to this margin.
CLOCK_JUMP_TOLERANCE = 2.0


@dataclass(frozen=True)
class Activity:
    """What is in the foreground, after the privacy rules were applied."""

    application: str
    title: str | None


@dataclass(frozen=True)
class Observation:
    """One look at the desktop.

    ``application``/``title`` describe the active window (``application`` is None when there is
    none); ``idle_seconds`` is the time since the last keyboard or mouse input (None when the
    X server cannot tell); ``screen_saver_on`` is True while the screen saver (or a locker
    using it) is active.
    """

    time: float
    application: str | None
    title: str | None
    idle_seconds: float | None = None
    screen_saver_on: bool = False


@dataclass(frozen=True)
class OpenSession:
    """The session being recorded."""

    id: int
    activity: Activity
    start_time: int


@dataclass(frozen=True)
class Rules:
    """The settings the rules need, compiled once."""

    idle_timeout_seconds: float = 0
    exclude_applications: tuple[re.Pattern[str], ...] = ()
    exclude_titles: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def build(
        cls, idle_timeout_seconds: float, exclude_applications: Iterable[str], exclude_titles: Iterable[str]
    ) -> Rules:
        return cls(
            idle_timeout_seconds=idle_timeout_seconds,
            exclude_applications=tuple(re.compile(p) for p in exclude_applications),
            exclude_titles=tuple(re.compile(p) for p in exclude_titles),
        )


@dataclass(frozen=True)
class Decision:
    """What to record. ``end_at`` ends the open session; ``start`` begins a new one at ``start_at``."""

    reason: str
    end_at: int | None = None
    start: Activity | None = None
    start_at: int | None = None

    @property
    def changes_anything(self) -> bool:
        return self.end_at is not None or self.start is not None


CONTINUE = Decision("continue")


def foreground_activity(observation: Observation, rules: Rules) -> tuple[Activity | None, str]:
    """The activity to record for an observation, or None with the reason nothing is recorded."""
    if observation.application is None:
        return None, "no active window"
    if _idle_since(observation, rules) is not None:
        return None, "idle"
    if any(p.search(observation.application) for p in rules.exclude_applications):
        return None, "excluded application"
    title = observation.title
    if title is not None and any(p.search(title) for p in rules.exclude_titles):
        title = EXCLUDED_TITLE
    return Activity(observation.application, title), "active"


def _idle_since(observation: Observation, rules: Rules) -> float | None:
    """When input stopped, if the user counts as away; None while they are present."""
    idle = observation.idle_seconds
    if observation.screen_saver_on:
        return observation.time - (idle or 0.0)
    if rules.idle_timeout_seconds <= 0 or idle is None or idle < rules.idle_timeout_seconds:
        return None
    return observation.time - idle


def decide(current: OpenSession | None, observation: Observation, rules: Rules) -> Decision:
    """The rule: same application and title continue the session; anything else ends it.

    - A change of application or title ends the open session now and starts the next one now.
    - Idle (no input for ``idle_timeout_seconds``, or the screen saver on) ends it at the time
      of the last input; nothing is recorded until input resumes.
    - No active window, or an excluded application, ends it now and records nothing.
    """
    activity, why = foreground_activity(observation, rules)
    now = int(observation.time)
    if current is not None and activity == current.activity:
        return CONTINUE
    end_at = None
    if current is not None:
        if why == "idle":
            last_input = _idle_since(observation, rules)
            assert last_input is not None
            end_at = max(current.start_time, min(now, int(last_input)))
        else:
            end_at = now
    if activity is None:
        return Decision(why, end_at=end_at) if end_at is not None else Decision(why)
    return Decision("changed" if current is not None else "started", end_at=end_at, start=activity, start_at=now)


def clock_jumped(previous: tuple[float, float] | None, current: tuple[float, float]) -> bool:
    """Whether the wall clock jumped between two ``(wall, monotonic)`` readings.

    The monotonic clock stops during suspend and never steps; when the wall clock moved by a
    different amount, the wall clock was changed or the machine slept.
    """
    if previous is None:
        return False
    wall_delta = current[0] - previous[0]
    mono_delta = current[1] - previous[1]
    return abs(wall_delta - mono_delta) > CLOCK_JUMP_TOLERANCE


def end_after_jump(current: OpenSession | None, last_seen_wall: float) -> Decision:
    """After a clock jump, the open session ends when it was last seen, before the jump."""
    if current is None:
        return Decision("clock jump")
    return Decision("clock jump", end_at=max(current.start_time, int(last_seen_wall)))


def end_on_stop(current: OpenSession | None, time: float, reason: str) -> Decision:
    """The monitor stops or loses the display: the open session ends at ``time``."""
    if current is None:
        return Decision(reason)
    return Decision(reason, end_at=max(current.start_time, int(time)))
