"""The running agent's control socket, ``<data_dir>/agent.sock``, and its client.

The socket is a Unix stream socket of mode 0600 (only its owner may connect), and the server
also checks the peer's uid. The protocol is one JSON object per line each way:

- ``{"command": "ping"}`` → ``{"ok": true, "pid": …, "started_at": …}``
- ``{"command": "status"}`` → the agent's live view: collectors running, those waiting to be
  restarted after a failure, the sync loop, the last run's figures
- ``{"command": "sync"}`` → runs :meth:`DataSyncManager.sync_all` now and replies with its results

A failure is ``{"ok": false, "error": "…"}``. ``sync`` shares the sync manager's lock and the
per-database file locks with the loop and with ``reprospective-agent sync --once``, so a
triggered run never overlaps another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any, Protocol

from reprospective_db.secrets import redact
from host_agent.core.config import AgentConfig
from host_agent.core.errors import AgentError

log = logging.getLogger(__name__)

SOCKET_NAME = "agent.sock"
#: A request or reply line longer than this is refused (a reply lists per-table figures only).
MAX_LINE = 1 << 20


class AgentNotRunningError(AgentError):
    """No agent answers on the data folder's control socket."""


class ControlError(AgentError):
    """The agent answered, but refused or failed the request."""


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / SOCKET_NAME


class _AgentView(Protocol):
    """What the server reads from the agent (``host_agent.agent.Agent``)."""

    config: AgentConfig
    sync_manager: Any

    def collector_states(self) -> dict[str, dict | None]: ...

    def collector_failures(self) -> dict[str, dict]: ...


# -- server --------------------------------------------------------------------------------


class ControlServer:
    """Serves the control socket for the agent it is given; ``start()`` and ``stop()`` do the I/O."""

    def __init__(self, agent: _AgentView) -> None:
        self.agent = agent
        self.path = socket_path(agent.config.data_dir)
        self.started_at: float | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Listen on ``agent.sock``. The socket is bound under a temporary name, made 0600, then
        renamed into place, so it is never reachable with wider permissions."""
        if self._server is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = self.path.with_name(f".{SOCKET_NAME}.{os.getpid()}")
        staging.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(staging))
            os.chmod(staging, 0o600)
            os.replace(staging, self.path)  # the agent lock is ours: an old socket here is stale
            sock.listen(8)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(self._accept, sock=sock, limit=MAX_LINE)
        except OSError as exc:
            sock.close()
            staging.unlink(missing_ok=True)
            log.warning("control socket unavailable (%s): trigger-sync and live status will not work", exc)
            return
        self.started_at = time.time()
        log.info("control socket: %s", self.path)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if not _peer_allowed(writer):
                reply: dict[str, Any] = {"ok": False, "error": "permission denied"}
            else:
                reply = await self._handle(reader)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; a triggered sync it asked for has still run
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        try:
            line = await reader.readline()
            request = json.loads(line)
            command = request["command"]
        except (ValueError, KeyError, TypeError, asyncio.LimitOverrunError):
            return {"ok": False, "error": "bad request: expected one JSON object with a 'command'"}
        handler = {"ping": self._ping, "status": self._status, "sync": self._sync}.get(command)
        if handler is None:
            return {"ok": False, "error": f"unknown command {str(command)[:40]!r}"}
        return await handler()

    async def _ping(self) -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid(), "started_at": self.started_at}

    async def _status(self) -> dict[str, Any]:
        manager = self.agent.sync_manager
        sync: dict[str, Any] = {"active": manager is not None}
        if manager is not None:
            results = manager.last_results
            sync.update(
                consecutive_failures=manager.consecutive_failures,
                last_run_at=max((r.completed_at for r in results.values()), default=None),
                run_started_at=manager.run_started_at,
                clock_offset=manager.clock_offset,
                last_results={name: r.as_dict() for name, r in results.items()},
            )
        return {
            "ok": True,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "collectors": self.agent.collector_states(),
            "collector_failures": self.agent.collector_failures(),
            "sync": sync,
        }

    async def _sync(self) -> dict[str, Any]:
        manager = self.agent.sync_manager
        if manager is None:
            why = (
                "data sync is disabled (data_sync.enabled: false)"
                if not self.agent.config.data_sync.enabled
                else "the agent has no PostgreSQL to sync to"
            )
            return {"ok": False, "error": why}
        log.info("sync requested through the control socket")
        started = time.time()
        results = await manager.sync_all()
        return {
            "ok": True,
            "started_at": started,
            "completed_at": time.time(),
            "results": {name: result.as_dict() for name, result in results.items()},
        }


def _peer_allowed(writer: asyncio.StreamWriter) -> bool:
    """Only the agent's own user (or root) may talk to it, whatever the socket file's mode."""
    sock = writer.get_extra_info("socket")
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return False
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (os.geteuid(), 0)


# -- client --------------------------------------------------------------------------------


def request(data_dir: Path, command: str, *, timeout: float = 30) -> dict[str, Any]:
    """Send one command to the agent running for ``data_dir``; returns its reply (``ok`` is true).

    Raises :class:`AgentNotRunningError` when no agent listens, :class:`ControlError` when it
    refuses, fails, or does not answer within ``timeout`` seconds.
    """
    path = socket_path(data_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise AgentNotRunningError(
                f"no agent is running for data folder {data_dir}",
                hint="start it with scripts/start-agent.sh or 'reprospective-agent run'",
            ) from None
        except PermissionError:
            raise ControlError(f"not allowed to connect to {path}", hint="run this as the agent's user") from None
        except OSError as exc:
            raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(json.dumps({"command": command}).encode() + b"\n")
            data = _read_line(sock)
        except TimeoutError:
            raise ControlError(f"the agent did not answer {command!r} within {timeout:.0f} s") from None
        except OSError as exc:
            raise ControlError(f"lost the connection to the agent: {exc.strerror or exc}") from None
    try:
        reply = json.loads(data)
    except ValueError:
        raise ControlError("the agent sent an unreadable reply") from None
    if not reply.get("ok"):
        raise ControlError(f"the agent refused {command!r}: {redact(str(reply.get('error')))}")
    return reply


def _read_line(sock: socket.socket) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > MAX_LINE:
            break
    return b"".join(chunks)
