"""A real X display for tests: Xvfb plus openbox, and tiny client windows driven from stdin.

``Xvfb -displayfd`` writes its display number once it accepts connections; openbox is ready
when the root window names it in ``_NET_SUPPORTING_WM_CHECK`` and it owns ``WM_S0``. Every wait
polls a condition against a deadline. DISPLAY is set only in the environment of the processes
started here, never in the test process.
"""

from __future__ import annotations

import itertools
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror

from tests.support.waiting import wait_until

#: xdotool's --sync has no timeout of its own.
XDOTOOL_TIMEOUT = 10
START_TIMEOUT = 15
CLIENT_SCRIPT = Path(__file__).with_name("x11_client.py")


def require_tools() -> None:
    missing = [tool for tool in ("Xvfb", "openbox", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"missing {', '.join(missing)}: run scripts/install-system-deps.sh (or make system-deps)",
            pytrace=False,
        )


def _read_display_number(read_fd: int) -> str:
    """The number Xvfb writes to its -displayfd, up to its newline.

    The pipe must stay open until that newline arrives: Xvfb writes the number and the newline
    separately, and exits if the second write fails.
    """
    deadline = time.monotonic() + START_TIMEOUT
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(read_fd, 32) if ready else b""
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def _stop_process(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class XServer:
    """One Xvfb display with openbox. ``start()`` / ``stop()``; ``kill_server()`` simulates a crash."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="reprospective-x11-"))
        self.number: int | None = None
        self.xvfb: subprocess.Popen | None = None
        self.openbox: subprocess.Popen | None = None
        self._mouse = itertools.count(1)

    @property
    def display(self) -> str:
        assert self.number is not None
        return f":{self.number}"

    def env(self, **extra: str) -> dict[str, str]:
        """An environment for a child process of this display."""
        env = dict(os.environ)
        env.update(
            DISPLAY=self.display,
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "config"),
            XDG_CACHE_HOME=str(self.home / "cache"),
            XDG_DATA_HOME=str(self.home / "data"),
            PYTHONUTF8="1",
        )
        env.update(extra)
        return env

    def start(self, *, window_manager: bool = True) -> XServer:
        """Start Xvfb (on the same display number as before, after a restart) and openbox."""
        read_fd, write_fd = os.pipe()
        command = ["Xvfb"]
        if self.number is not None:
            command.append(self.display)
        command += ["-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-noreset"]
        try:
            self.xvfb = subprocess.Popen(
                command, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            os.close(write_fd)
            write_fd = -1
            text = _read_display_number(read_fd)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        if not text.isdigit():
            self.stop()
            raise RuntimeError(f"Xvfb did not report a display within {START_TIMEOUT} s")
        self.number = int(text)
        if window_manager:
            self._start_openbox()
        return self

    def _start_openbox(self) -> None:
        for sub in ("config", "cache", "data"):
            (self.home / sub).mkdir(exist_ok=True)
        self.openbox = subprocess.Popen(
            ["openbox", "--sm-disable"],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with self.connection() as display:
            root = display.screen().root
            check = display.intern_atom("_NET_SUPPORTING_WM_CHECK")
            selection = display.intern_atom("WM_S0")

            def ready() -> bool:
                if self.openbox is not None and self.openbox.poll() is not None:
                    raise RuntimeError(f"openbox exited with status {self.openbox.returncode}")
                owner = display.get_selection_owner(selection)
                return root.get_full_property(check, Xatom.WINDOW) is not None and owner not in (0, X.NONE)

            wait_until(ready, START_TIMEOUT, "openbox to manage the display")

    def kill_server(self) -> None:
        """End Xvfb abruptly (SIGKILL), as a crashed X server would; openbox is stopped after it."""
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.send_signal(signal.SIGKILL)
            self.xvfb.wait(timeout=5)
        _stop_process(self.openbox)
        self.openbox = None
        # Xvfb leaves its lock and socket behind when killed; a restart on the same number needs them gone.
        if self.number is not None:
            for path in (Path(f"/tmp/.X{self.number}-lock"), Path(f"/tmp/.X11-unix/X{self.number}")):
                path.unlink(missing_ok=True)

    def stop(self) -> None:
        try:
            _stop_process(self.openbox)
        finally:
            self.openbox = None
            _stop_process(self.xvfb)
            self.xvfb = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    # -- helpers for tests ------------------------------------------------------------------

    def connection(self) -> _Connection:
        return _Connection(self.display)

    def xdotool(self, *args: str) -> str:
        result = subprocess.run(
            ["xdotool", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=XDOTOOL_TIMEOUT,
            check=True,
        )
        return result.stdout

    def activate(self, window: ClientWindow | int) -> None:
        wid = window.wid if isinstance(window, ClientWindow) else window
        self.xdotool("windowactivate", "--sync", str(wid))

    def input(self) -> float:
        """Move the mouse (resets the X server's idle counter); returns the wall time just before."""
        before = time.time()
        step = next(self._mouse)
        self.xdotool("mousemove", str(10 + step % 500), str(10 + step % 300))
        return before

    def active_window(self) -> int:
        with self.connection() as display:
            prop = display.screen().root.get_full_property(
                display.intern_atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW
            )
            return int(prop.value[0]) if prop is not None and len(prop.value) else 0

    def idle_seconds(self) -> float:
        with self.connection() as display:
            return display.screen().root.screensaver_query_info().idle / 1000.0

    def window(
        self, title: str | None, *, instance: str | None = None, klass: str | None = None, pid: bool = True
    ) -> ClientWindow:
        return ClientWindow(self, title, instance=instance, klass=klass, pid=pid)


class _Connection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.display: xdisplay.Display | None = None

    def __enter__(self) -> xdisplay.Display:
        self.display = xdisplay.Display(self.name)
        return self.display

    def __exit__(self, *exc_info: object) -> None:
        assert self.display is not None
        try:
            self.display.close()
        except (xerror.ConnectionClosedError, OSError):
            pass  # the server was killed by the test: nothing left to close


class ClientWindow:
    """A top-level window in its own process (``x11_client.py``)."""

    def __init__(
        self, server: XServer, title: str | None, *, instance: str | None, klass: str | None, pid: bool
    ) -> None:
        command = [sys.executable, str(CLIENT_SCRIPT), "--display", server.display]
        if title is not None:
            command += ["--title", title]
        if instance is not None:
            command += ["--instance", instance]
        if klass is not None:
            command += ["--class", klass]
        if not pid:
            command.append("--no-pid")
        self.process = subprocess.Popen(
            command,
            env=server.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        try:
            self.wid = int(self._read_line())
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_line(self, timeout: float = START_TIMEOUT) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"window client {self.process.pid} did not answer within {timeout:.0f} s")
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"window client {self.process.pid} exited ({self.process.poll()})")
        return line.strip()

    def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self._read_line()
        assert answer == "ok", answer

    def rename(self, title: str) -> None:
        self.command(f"title {title}")

    def set_raw_title(self, raw: bytes) -> None:
        self.command(f"raw-title {raw.hex()}")

    def remove_title(self) -> None:
        self.command("no-title")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # the client is already gone (its X server was killed)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


# -- fixtures (imported by tests/collectors/conftest.py) ---------------------------------------


def _running_x_server() -> Iterator[XServer]:
    require_tools()
    server = XServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def x_server() -> Iterator[XServer]:
    """One display with openbox for the whole session; tests close the windows they open."""
    yield from _running_x_server()


@pytest.fixture
def own_x_server() -> Iterator[XServer]:
    """A display of the test's own, which it may kill and restart."""
    yield from _running_x_server()


@pytest.fixture
def windows(x_server: XServer) -> Iterator[Callable[..., ClientWindow]]:
    """Open client windows on the shared display; every one is closed after the test."""
    opened: list[ClientWindow] = []

    def open_window(title: str | None, **kwargs) -> ClientWindow:
        window = x_server.window(title, **kwargs)
        opened.append(window)
        return window

    try:
        yield open_window
    finally:
        for window in opened:
            window.close()
