"""The installed agent (``reprospective-agent``) as a real process for the gateway's tests, and a
real X display (Xvfb + openbox) for it to record windows from.

The gateway imports nothing of the agent; these tests run the agent's command, as an operator
would, and read what it writes: its log and the PostgreSQL it syncs to. The host-agent's own
test support (``host-agent/tests/support``) is not a package the gateway's tests can import, so
the little they need is here: the agent through its command line, Xvfb through ``-displayfd``,
openbox's readiness through ``xprop``, and windows from ``xmessage``, a stock X client.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import eventually


def _find_agent() -> str | None:
    beside = Path(sys.executable).with_name("reprospective-agent")
    return str(beside) if beside.exists() else shutil.which("reprospective-agent")


#: The agent's command, or None when host-agent is not installed beside the gateway.
AGENT = _find_agent()
#: Start-up connects to PostgreSQL and applies its schema; shutdown runs a last sync.
AGENT_TIMEOUT = 60


class AgentLog:
    """A running ``reprospective-agent`` on its own config file, and a way to wait for a line of its log.

    Without ``display`` the desktop monitor is off; with it, it records that X display's windows.
    ``monitored`` are the directories of its ``config.yaml``; it re-reads PostgreSQL's list every second.
    """

    def __init__(self, tmp_path: Path, url: str, *, display: str | None = None, monitored: tuple[Path, ...] = ()):
        assert AGENT is not None, "reprospective-agent is not installed"
        self.command = AGENT
        self.data_dir = tmp_path / "data"
        self.config = tmp_path / "agent.yaml"
        directories = "".join(f"\n    - '{path}'" for path in monitored) or " []"
        desktop = ("desktop_monitor:\n  monitor_interval: 0.2\n  idle_timeout_seconds: 0\n" if display
                   else "desktop_monitor:\n  enabled: false\n")
        self.config.write_text(
            # DEBUG: the agent logs each desktop session it starts at that level.
            f"agent:\n  data_dir: '{self.data_dir}'\n  log_level: {'DEBUG' if display else 'INFO'}\n"
            f"database:\n  postgres_url: '{url}'\n"
            "data_sync:\n  interval_seconds: 3600\n"
            f"{desktop}"
            f"filesystem_watcher:\n  monitored_directories:{directories}\n  refresh_interval_seconds: 1\n"
            "  coalesce_seconds: 0\n  buffer:\n    flush_interval: 0.2\n",
            encoding="utf-8")
        self.path = tmp_path / "agent.log"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DATABASE_URL", "DISPLAY", "REPROSPECTIVE_"))}
        if display:
            self.env["DISPLAY"] = display
        with self.path.open("wb") as log:
            self.process = subprocess.Popen([self.command, "run", "--config", str(self.config)], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")

    def _alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"the agent exited ({self.process.returncode}):\n{self.text()[-3000:]}")

    async def wait_for(self, line: str, count: int = 1, timeout: float = AGENT_TIMEOUT) -> None:
        def seen() -> bool:
            self._alive()
            return self.text().count(line) >= count

        try:
            await eventually(seen, timeout, f"{line!r} (x{count}) in the agent's log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.text()[-3000:]}") from None

    async def sync_until(self, db, count_sql: str, timeout: float = AGENT_TIMEOUT) -> None:
        """``reprospective-agent sync --once`` (safe beside the running agent) until the row is in PostgreSQL."""

        async def synced() -> bool:
            if await db.fetchval(count_sql):
                return True
            done = await asyncio.to_thread(subprocess.run, [self.command, "sync", "--once", "--config", str(self.config)],
                                           capture_output=True, text=True, timeout=60, env=self.env)
            assert done.returncode in (0, 1), done.stderr
            return bool(await db.fetchval(count_sql))

        try:
            await eventually(synced, timeout, "the row to reach PostgreSQL")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.text()[-3000:]}") from None

    def stop(self) -> int:
        """SIGTERM (the agent closes its open session and runs a last sync), and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=AGENT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(f"the agent did not stop on SIGTERM:\n{self.text()[-3000:]}") from None
        return self.process.returncode


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


#: Debian packages xvfb, openbox, xdotool, x11-utils (scripts/install-system-deps.sh installs them).
X_TOOLS = ("Xvfb", "openbox", "xdotool", "xmessage", "xprop")


class XDisplay:
    """Xvfb on a free display number (it writes the number once it accepts clients) with openbox."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="reprospective-gateway-x11-"))
        self.xvfb: subprocess.Popen | None = None
        self.openbox: subprocess.Popen | None = None
        self.windows: list[subprocess.Popen] = []
        self.display = ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPLAY", "XDG_"))}
        env.update(DISPLAY=self.display, HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / "config"),
                   XDG_CACHE_HOME=str(self.home / "cache"))
        return env

    async def start(self) -> XDisplay:
        read_fd, write_fd = os.pipe()
        try:
            self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24",
                                          "-nolisten", "tcp"], pass_fds=(write_fd,),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.close(write_fd)
            number = await asyncio.wait_for(asyncio.to_thread(_read_line, read_fd), timeout=30)
        finally:
            os.close(read_fd)
        if not number.isdigit():
            raise AssertionError(f"Xvfb reported no display number ({number!r})")
        self.display = f":{number}"
        for sub in ("config", "cache", "data"):  # openbox keeps its state there
            (self.home / sub).mkdir(exist_ok=True)
        errors = self.home / "openbox.err"
        for attempt in range(3):  # on a loaded machine openbox has been seen to exit at once (status 1)
            with errors.open("wb") as err:
                self.openbox = subprocess.Popen(["openbox", "--sm-disable"], env=self.env(),
                                                stdout=subprocess.DEVNULL, stderr=err)

            async def managed() -> bool:
                # openbox names itself on the root window once it manages the display.
                if self.openbox.poll() is not None:
                    return True
                check = await asyncio.to_thread(subprocess.run, ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"],
                                                env=self.env(), capture_output=True, text=True, timeout=10)
                return "window id" in check.stdout

            await eventually(managed, 30, "openbox to manage the display", interval=0.05)
            if self.openbox.poll() is None:
                return self
        raise AssertionError(f"openbox exited ({self.openbox.returncode}) three times: "
                             f"{errors.read_text(errors='replace')}")

    def xdotool(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["xdotool", *args], env=self.env(), capture_output=True, text=True, timeout=10)

    async def window(self, title: str) -> str:
        """An ``xmessage`` window titled ``title``, active: returns its X window id once openbox says so."""
        name = f"reprospective-e2e-{len(self.windows)}"
        errors = self.home / f"{name}.err"
        with errors.open("wb") as err:
            window = subprocess.Popen(["xmessage", "-name", name, "-title", title, "recorded by the agent"],
                                      env=self.env(), stdout=subprocess.DEVNULL, stderr=err)
        self.windows.append(window)

        async def mapped() -> str:
            if window.poll() is not None:
                raise AssertionError(f"xmessage exited ({window.returncode}): {errors.read_text(errors='replace')}")
            found = await asyncio.to_thread(self.xdotool, "search", "--onlyvisible", "--classname", name)
            return found.stdout.split()[0] if found.returncode == 0 and found.stdout.strip() else ""

        # A loaded machine can take long to start an X client; the wait ends as soon as it is mapped.
        try:
            wid = await eventually(mapped, 90, f"the window {name} to be mapped")
        except AssertionError as exc:
            raise AssertionError(f"{exc} ({await asyncio.to_thread(self._describe, name, window)})") from None

        async def active() -> bool:
            await asyncio.to_thread(self.xdotool, "windowactivate", wid)
            now = await asyncio.to_thread(self.xdotool, "getactivewindow")
            return now.returncode == 0 and now.stdout.strip() == wid

        await eventually(active, 30, f"openbox to make {name} the active window", interval=0.1)
        return wid

    def _describe(self, name: str, window: subprocess.Popen) -> str:
        """What the display holds when a window did not show: for a failure message."""
        found = self.xdotool("search", "--classname", name)
        tree = subprocess.run(["xwininfo", "-root", "-tree"], env=self.env(), capture_output=True, text=True, timeout=10)
        lines = [line.strip() for line in tree.stdout.splitlines() if name in line or "openbox" in line.lower()]
        return (f"xmessage {'running' if window.poll() is None else f'exited {window.returncode}'}, "
                f"openbox {'running' if self.openbox and self.openbox.poll() is None else 'gone'}, "
                f"windows of that name mapped or not: {found.stdout.split() or 'none'}, "
                f"in the window tree: {lines or 'nothing'}")

    def stop(self) -> None:
        for window in self.windows:
            _stop(window)
        _stop(self.openbox)
        _stop(self.xvfb)
        shutil.rmtree(self.home, ignore_errors=True)


def _read_line(fd: int) -> str:
    """What Xvfb writes to its ``-displayfd``: the number, then a newline (the pipe stays open until it)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 32)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()
