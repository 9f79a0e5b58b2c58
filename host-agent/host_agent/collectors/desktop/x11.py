"""The X11 desktop backend: the active window through python-xlib, on one persistent connection.

It implements :class:`~host_agent.collectors.desktop.backend.DesktopBackend`. Every method here
blocks on the X server; the desktop monitor calls them from its own thread, never from the
asyncio loop. It raises the backend errors:

- :class:`DisplayUnavailable`: no ``DISPLAY``, or no X server answers there;
- :class:`DisplayLost`: the server went away (every later call would fail).

A window that vanishes between two requests is not an error: it reads as "no active window".
"""

from __future__ import annotations

import logging
import select

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import screensaver

from host_agent.collectors.desktop.backend import DisplayLost, DisplayUnavailable, InputState, WindowInfo

log = logging.getLogger(__name__)

#: Longest title read, in bytes; longer titles are cut (a title is a label, not a document,
#: and one GetProperty request of this size is answered at once).
MAX_TITLE_BYTES = 4096

#: What is recorded when a window has neither a class nor a known process.
UNKNOWN_APPLICATION = "unknown"

#: Properties of the active window whose change can change what is recorded.
_WINDOW_PROPERTIES = ("_NET_WM_NAME", "WM_NAME", "WM_CLASS")


def decode_title(raw: bytes, truncated: bool = False) -> str:
    """Window title bytes as text: UTF-8, else Latin-1 (which decodes any byte string).

    A title cut at :data:`MAX_TITLE_BYTES` may end inside a UTF-8 sequence; up to three
    trailing bytes are dropped before giving up on UTF-8. NUL characters are removed
    (PostgreSQL text cannot hold them).
    """
    candidates = [raw]
    if truncated:
        candidates += [raw[:-n] for n in (1, 2, 3) if len(raw) > n]
    for candidate in candidates:
        try:
            text = candidate.decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        text = raw.decode("latin-1")
    return text.replace("\x00", "")


def process_name(pid: int) -> str | None:
    """The command name of a local process (``/proc/PID/comm``), or None."""
    try:
        with open(f"/proc/{int(pid)}/comm", encoding="utf-8", errors="replace") as handle:
            name = handle.read().strip()
    except (OSError, ValueError):
        return None
    return name or None


class X11Desktop:
    """One connection to an X display. Call :meth:`open` first and :meth:`close` at the end."""

    def __init__(self, display_name: str | None) -> None:
        self.display_name = display_name
        self._display: xdisplay.Display | None = None
        self._root = None
        self._atoms: dict[str, int] = {}
        self._watched: int | None = None
        self._has_screensaver = False
        self._saver_event: int | None = None

    # -- connection ---------------------------------------------------------------------

    def open(self) -> None:
        if not self.display_name:
            raise DisplayUnavailable("no X display (DISPLAY is not set)")
        try:
            self._display = xdisplay.Display(self.display_name)
        except xerror.DisplayNameError:
            raise DisplayUnavailable(f"{self.display_name!r} is not a valid X display name") from None
        except (xerror.DisplayConnectionError, xerror.XauthError, xerror.XNoAuthError, OSError) as exc:
            raise DisplayUnavailable(f"cannot connect to X display {self.display_name} ({_short(exc)})") from None
        except xerror.ConnectionClosedError as exc:
            raise DisplayUnavailable(f"X display {self.display_name} closed the connection ({_short(exc)})") from None
        try:
            self._root = self._display.screen().root
            for name in ("_NET_ACTIVE_WINDOW", "_NET_WM_PID", *_WINDOW_PROPERTIES):
                self._atoms[name] = self._display.intern_atom(name)
            self._has_screensaver = self._display.has_extension("MIT-SCREEN-SAVER")
            self._root.change_attributes(event_mask=X.PropertyChangeMask)
            if self._has_screensaver:
                # ScreenSaverNotify: the screen saver (or a locker using it) turning on or off.
                self._saver_event = self._display.query_extension("MIT-SCREEN-SAVER").first_event
                self._root.screensaver_select_input(screensaver.NotifyMask)
            self._display.sync()
        except (xerror.ConnectionClosedError, OSError) as exc:
            self.close()
            raise DisplayUnavailable(f"X display {self.display_name} closed the connection ({_short(exc)})") from None
        self._watched = None

    def close(self) -> None:
        display, self._display = self._display, None
        if display is None:
            return
        try:
            display.close()
        except (xerror.ConnectionClosedError, OSError):
            pass  # the server is already gone: nothing left to close

    @property
    def label(self) -> str:
        return f"X display {self.display_name}"

    @property
    def connected(self) -> bool:
        return self._display is not None

    @property
    def has_screensaver(self) -> bool:
        return self._has_screensaver

    def fileno(self) -> int:
        assert self._display is not None
        return self._display.fileno()

    # -- reading ------------------------------------------------------------------------

    def active_window(self) -> WindowInfo | None:
        """The focused top-level window, or None (no window manager, nothing focused, or it vanished).

        Also moves the PropertyNotify subscription to that window, so its renames are seen.
        """
        display = self._require()
        try:
            prop = self._root.get_full_property(self._atoms["_NET_ACTIVE_WINDOW"], Xatom.WINDOW)
            window_id = int(prop.value[0]) if prop is not None and len(prop.value) else 0
            if not window_id:
                self._watch(None)
                return None
            window = display.create_resource_object("window", window_id)
            self._watch(window)
            title = self._title(window)
            application = self._application(window)
        except xerror.XError as exc:
            # The window was destroyed between two requests (or _NET_ACTIVE_WINDOW names a
            # dead window, BadWindow): there is no active window to record.
            log.debug("active window unreadable (%s): no active window", type(exc).__name__)
            return None
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise self._lost(exc) from None
        return WindowInfo(window_id, application, title)

    def input_state(self) -> InputState | None:
        """Time since the last input and whether the screen saver runs; None without the extension."""
        if not self._has_screensaver:
            return None
        self._require()
        try:
            info = self._root.screensaver_query_info()
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise self._lost(exc) from None
        return InputState(idle_seconds=info.idle / 1000.0, screen_saver_on=info.state == screensaver.StateOn)

    def wait_for_change(self, timeout: float, wake_fd: int) -> bool:
        """Block until a relevant property changes, ``wake_fd`` is readable, or ``timeout`` passes.

        Returns True when something on the desktop changed (the caller should look again).
        """
        display = self._require()
        if self._drain():
            return True
        try:
            readable, _, _ = select.select([display.fileno(), wake_fd], [], [], max(0.0, timeout))
        except (OSError, ValueError) as exc:
            raise self._lost(exc) from None
        if display.fileno() in readable:
            return self._drain()
        return False

    # -- helpers -------------------------------------------------------------------------

    def _require(self) -> xdisplay.Display:
        if self._display is None:
            raise DisplayLost(f"not connected to X display {self.display_name}")
        return self._display

    def _lost(self, exc: BaseException) -> DisplayLost:
        self.close()
        return DisplayLost(f"X display {self.display_name} went away ({_short(exc)})")

    def _drain(self) -> bool:
        """Read every queued event without blocking; True if one matters to the monitor."""
        display = self._require()
        relevant = False
        try:
            while display.pending_events():
                event = display.next_event()
                if event.type == self._saver_event:
                    relevant = True
                    continue
                if event.type != X.PropertyNotify:
                    continue
                if event.window.id == self._root.id and event.atom == self._atoms["_NET_ACTIVE_WINDOW"]:
                    relevant = True
                elif event.window.id == self._watched and any(
                    event.atom == self._atoms[name] for name in _WINDOW_PROPERTIES
                ):
                    relevant = True
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise self._lost(exc) from None
        return relevant

    def _watch(self, window) -> None:
        """Subscribe to PropertyNotify on ``window`` (and drop the previous subscription)."""
        new_id = window.id if window is not None else None
        if new_id == self._watched:
            return
        display = self._require()
        ignore = xerror.CatchError(xerror.BadWindow, xerror.BadValue)
        if self._watched is not None:
            # The previous window may already be gone; the error is caught and dropped.
            old = display.create_resource_object("window", self._watched)
            old.change_attributes(event_mask=X.NoEventMask, onerror=ignore)
        if window is not None:
            window.change_attributes(event_mask=X.PropertyChangeMask, onerror=ignore)
        self._watched = new_id

    def _title(self, window) -> str | None:
        # AnyPropertyType: some clients type their UTF-8 _NET_WM_NAME as STRING, and asking for
        # UTF8_STRING would then return nothing.
        for name in ("_NET_WM_NAME", "WM_NAME"):
            prop = window.get_property(self._atoms[name], X.AnyPropertyType, 0, MAX_TITLE_BYTES // 4)
            if prop is None or prop.format != 8:
                continue
            raw = bytes(prop.value) if not isinstance(prop.value, bytes) else prop.value
            if raw:
                return decode_title(raw, truncated=bool(prop.bytes_after))
        return None

    def _application(self, window) -> str:
        prop = window.get_property(self._atoms["WM_CLASS"], X.AnyPropertyType, 0, 256)
        if prop is not None and prop.format == 8:
            raw = prop.value if isinstance(prop.value, bytes) else bytes(prop.value)
            parts = [decode_title(p) for p in raw.split(b"\x00")]
            instance = parts[0] if parts else ""
            klass = parts[1] if len(parts) > 1 else ""
            if klass.strip():
                return klass.strip()
            if instance.strip():
                return instance.strip()
        pid_prop = window.get_property(self._atoms["_NET_WM_PID"], Xatom.CARDINAL, 0, 1)
        if pid_prop is not None and pid_prop.format == 32 and len(pid_prop.value):
            name = process_name(int(pid_prop.value[0]))
            if name:
                return name
        return UNKNOWN_APPLICATION


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def create_backend(display_name: str | None) -> X11Desktop:
    """The backend hook: a connection to ``display_name`` (the ``DISPLAY`` the agent was given)."""
    return X11Desktop(display_name)
