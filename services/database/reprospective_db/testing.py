"""A throwaway PostgreSQL server for test sessions and benchmarks: one server, one database each.

The server is a :class:`~reprospective_db.cluster.EmbeddedPostgres` with a TCP port on loopback.
A template database holds the schema, applied with ``psql`` file by file exactly as the Docker
entrypoint applies ``init/``; each test gets ``CREATE DATABASE … TEMPLATE`` (milliseconds).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import tempfile
from pathlib import Path

from reprospective_db.cluster import EmbeddedPostgres
from reprospective_db.schema import migrations_dir

TEMPLATE = "reprospective_template"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestServer:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, prefix: str = "reprospective-pg-") -> None:
        # Not under pytest's tmp_path: that folder is private (0700) and, as root, the server
        # runs as the 'postgres' user, which must be able to enter it.
        self.base = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.base, 0o711)
        self.server = EmbeddedPostgres(self.base / "cluster", port=free_port(), tcp_host="127.0.0.1")
        self._names = itertools.count(1)

    def start(self) -> None:
        self.server.start()
        self.server.psql(f'CREATE DATABASE "{TEMPLATE}"')
        for path in sorted(migrations_dir().glob("*.sql")):
            self.server.psql(path, database=TEMPLATE)

    def stop(self) -> None:
        try:
            self.server.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

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
