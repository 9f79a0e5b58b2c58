"""One agent per data folder: an exclusive ``flock`` on ``<data_dir>/agent.pid``.

The lock file also holds the agent's pid, so other commands can tell whether it runs and whom
to ask. The kernel drops the lock when the process dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from host_agent.core.errors import AlreadyRunningError

LOCK_NAME = "agent.pid"


class AgentLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = running_agent_pid(self.path.parent)
            who = f" (pid {pid})" if pid else ""
            raise AlreadyRunningError(
                f"another agent{who} is already running for data folder {self.path.parent}",
                hint="stop it first, or give this one another data folder",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AgentLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def running_agent_pid(data_dir: Path) -> int | None:
    """The pid of the agent holding ``data_dir``'s lock, or None when no agent runs."""
    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
