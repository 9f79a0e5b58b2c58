"""A throwaway PostgreSQL server for test sessions and benchmarks: one server, one database each.

The server is a :class:`~reprospective_db.cluster.EmbeddedPostgres` with a TCP port on loopback.
A template database holds the schema, applied with ``psql`` file by file exactly as the Docker
entrypoint applies ``init/``; each test gets ``CREATE DATABASE … TEMPLATE`` (milliseconds).

:class:`PgBouncer` puts a real PgBouncer process (Debian package ``pgbouncer``) in transaction
pooling mode in front of such a server, as a fleet of hosts would reach a shared one.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reprospective_db.cluster import SERVER_USER, EmbeddedPostgres
from reprospective_db.errors import ClusterError
from reprospective_db.partitioning import FACT_TABLES
from reprospective_db.schema import migrations_dir

TEMPLATE = "reprospective_template"
#: The same schema with the fact tables partitioned by month (``reprospective-db partition``).
PARTITIONED_TEMPLATE = "reprospective_template_partitioned"
#: The layouts a test database can have; tests of both take the ``pg_layout`` parameter.
LAYOUTS = ("plain", "partitioned")


def origin_key(layout: str, table: str) -> str:
    """The exactly-once key of a fact table in a layout, as an ``ON CONFLICT`` target: a
    partitioned table's holds its partition column."""
    return "origin_id, local_id" + (f", {FACT_TABLES[table]}" if layout == "partitioned" else "")


# -- waiting on a condition with a deadline: the one way tests wait (never a fixed sleep) --


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition", interval: float = 0.005):
    """Poll ``predicate`` until it returns something truthy, and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


async def eventually(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition", interval: float = 0.005
):
    """:func:`wait_until` for the event loop; ``predicate`` may be a plain or an async function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Started:
    """``with Server(...) as server:`` starts it and always stops it."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class TestServer(_Started):
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, prefix: str = "reprospective-pg-", settings: Mapping[str, str | int] | None = None) -> None:
        """``settings``: server parameters for ``postgresql.conf`` (``{"max_connections": 8}``)."""
        # Not under pytest's tmp_path: that folder is private (0700) and, as root, the server
        # runs as the 'postgres' user, which must be able to enter it.
        self.base = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.base, 0o711)
        self.server = EmbeddedPostgres(self.base / "cluster", port=free_port(), tcp_host="127.0.0.1")
        self.settings = dict(settings or {})
        self._names = itertools.count(1)
        self._partitioned_ready = False

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.server.init()
        if self.settings:
            with open(self.server.cluster_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.writelines(f"{name} = {value}\n" for name, value in self.settings.items())
        self.server.start()
        self.server.psql(f'CREATE DATABASE "{TEMPLATE}"')
        for path in sorted(migrations_dir().glob("*.sql")):
            self.server.psql(path, database=TEMPLATE)

    def stop(self) -> None:
        try:
            self.server.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def template(self, layout: str) -> str:
        """The template database of a layout (see :data:`LAYOUTS`); the partitioned one is made
        on first use, by the ``reprospective-db partition`` command."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
        if layout == "partitioned" and not self._partitioned_ready:
            self.server.psql(f'CREATE DATABASE "{PARTITIONED_TEMPLATE}" TEMPLATE "{TEMPLATE}"')
            done = subprocess.run(
                [sys.executable, "-m", "reprospective_db.cli", "partition", "--database-url",
                 self.url(PARTITIONED_TEMPLATE)],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            if done.returncode != 0:
                raise ClusterError(f"reprospective-db partition failed: {done.stderr.strip()}")
            self._partitioned_ready = True
        return PARTITIONED_TEMPLATE if layout == "partitioned" else TEMPLATE

    def create_database(self, template: str | None = TEMPLATE) -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        clause = f' TEMPLATE "{template}"' if template else " TEMPLATE template0"
        self.server.psql(f'CREATE DATABASE "{name}"{clause}')
        return name

    def drop_database(self, name: str) -> None:
        self.server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, database: str) -> str:
        return self.server.url(database)

    def psql(self, sql: str | Path, database: str) -> str:
        return self.server.psql(sql, database=database)

    def dump_schema(self, database: str) -> str:
        """``pg_dump --schema-only`` of a database, without the lines that change per run."""
        done = self.server.run_tool(
            "pg_dump", "--schema-only", "--no-owner", "--no-privileges", "-h", "127.0.0.1",
            "-p", str(self.server.port), "-U", "postgres", database,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {done.stderr.strip()}")
        # pg_dump writes a random "restrict" key per run; it is not part of the schema.
        return "\n".join(
            line for line in done.stdout.splitlines() if not line.startswith(("--", "\\restrict", "\\unrestrict"))
        )


#: How long a PgBouncer process may take to listen.
BOUNCER_START_SECONDS = 30


class PgBouncer(_Started):
    """A PgBouncer process on a free loopback port, in front of a :class:`TestServer`.

    Transaction pooling (``pool_mode = transaction``): a client has a server connection only
    for the length of a transaction, so session state (prepared statements, session advisory
    locks, ``SET``, temporary tables) does not survive from one transaction to the next, and
    ``pool_size`` server connections serve every client. Loopback only, ``auth_type = trust``;
    the users it lets in are listed in its ``userlist.txt``.
    """

    def __init__(self, server: TestServer, *, pool_size: int = 4, users: tuple[str, ...] = (SERVER_USER,)) -> None:
        self.server = server
        self.pool_size = pool_size
        self.users = users
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="reprospective-pgbouncer-"))
        os.chmod(self.dir, 0o711)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.dir / "pgbouncer.log"

    def url(self, database: str, user: str = SERVER_USER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _write_config(self) -> Path:
        userlist = self.dir / "userlist.txt"
        userlist.write_text("".join(f'"{user}" ""\n' for user in self.users), encoding="utf-8")
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {userlist}\n"
            f"pool_mode = transaction\ndefault_pool_size = {self.pool_size}\nmax_client_conn = 1000\n"
            # Reset queries are meaningless in transaction mode (the pooler cannot know a session's end).
            "server_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.log_file}\n",
            encoding="utf-8",
        )
        for path in (userlist, ini):
            os.chmod(path, 0o644)
        return ini

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(binary):
            raise ClusterError("PgBouncer is not installed", hint="apt-get install pgbouncer (make system-deps)")
        command = [binary, str(self._write_config())]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: it switches to the server's user
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            command[1:1] = ["-u", SERVER_USER]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
        deadline = time.monotonic() + BOUNCER_START_SECONDS
        while not self._listening():
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise ClusterError(f"PgBouncer exited with {self.process.returncode}: {error.strip()} {self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ClusterError(f"PgBouncer did not listen on port {self.port} within {BOUNCER_START_SECONDS} s")
            time.sleep(0.02)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
