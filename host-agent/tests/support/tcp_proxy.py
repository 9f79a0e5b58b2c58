"""A TCP proxy on loopback that can cut the line: PostgreSQL "going away" without stopping it.

``close()`` (or ``down()``) drops every open connection and refuses new ones, as a network
outage or a server restart would; ``up()`` lets connections through again. ``stall()`` keeps
every connection open but stops passing bytes either way (a hung server, a dead route):
nothing fails, everything waits; ``stalled_bytes`` counts what was held back.
"""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self.stalled_bytes = 0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def down(self) -> None:
        """Drop every connection now and refuse new ones."""
        self._up.clear()
        with self._lock:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def up(self) -> None:
        self._up.set()

    def stall(self) -> None:
        """Keep connections open, pass nothing: new connections hang in their handshake."""
        self._flowing.clear()

    def close(self) -> None:
        self._flowing.set()  # let the pumps run into the closed sockets and end
        self._close()

    def _close(self) -> None:
        self._closing.set()
        self.down()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()  # refused: the client sees the connection end at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):  # no Nagle delay on a relay of small messages
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self._flowing.is_set():
                    with self._lock:
                        self.stalled_bytes += len(data)
                    self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass  # the other side or down() closed the connection: that is the point
        finally:
            for sock in (src, dst):
                # shutdown() first: close() alone does not wake the other pump's recv(), and
                # the peer would never see the connection end.
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already shut down by the other pump
                sock.close()
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)
