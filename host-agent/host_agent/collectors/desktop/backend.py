"""The seam between the desktop monitor and a display system (X11 today; Wayland later).

A backend answers four questions on one connection, every call blocking (the monitor calls
them from its own thread): which window is in front (:class:`WindowInfo`), how long the user
has been idle (:class:`InputState`), and "wait until something changes". It raises
:class:`DisplayUnavailable` when there is no display to connect to and :class:`DisplayLost`
when the connection went away; nothing else is expected of it. The session rules and the
recorder never see a backend.

Backends are chosen by ``desktop_monitor.backend`` (``auto`` or ``x11``) and imported only
when chosen, so a machine without python-xlib can still run the rest of the agent.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from host_agent.core.errors import AgentError


class DisplayUnavailable(AgentError):
    """No display to connect to (none configured, or no server answers there)."""


class DisplayLost(AgentError):
    """The display server closed the connection."""


@dataclass(frozen=True)
class WindowInfo:
    window_id: int
    application: str
    title: str | None


@dataclass(frozen=True)
class InputState:
    idle_seconds: float
    screen_saver_on: bool


class DesktopBackend(Protocol):
    """One connection to a display. ``open`` first, ``close`` at the end."""

    #: The display, for log lines (``X display :0``).
    label: str

    @property
    def connected(self) -> bool: ...

    def open(self) -> None:
        """Connect; raises :class:`DisplayUnavailable`."""

    def close(self) -> None: ...

    def active_window(self) -> WindowInfo | None:
        """The focused window, or None (nothing focused, or it vanished). Raises :class:`DisplayLost`."""

    def input_state(self) -> InputState | None:
        """Time since the last input and whether the screen saver runs; None when unknown."""

    def wait_for_change(self, timeout: float, wake_fd: int) -> bool:
        """Block until something that may change the answers happens (True), ``wake_fd`` is
        readable or ``timeout`` passes (False)."""


#: Backend name → module with ``create_backend(display_name)``.
BACKENDS = {"x11": "host_agent.collectors.desktop.x11"}
#: What ``auto`` means today: X11 (under Wayland, XWayland provides DISPLAY).
AUTO = "x11"


def create_backend(name: str, display_name: str | None) -> DesktopBackend:
    """The backend ``name`` (``auto`` or one of :data:`BACKENDS`); imported only now."""
    module = BACKENDS[AUTO if name == "auto" else name]
    return importlib.import_module(module).create_backend(display_name)
