"""A private PostgreSQL cluster: the agent's default when no URL is set, and the tests' server.

It uses the machine's own server binaries (Debian keeps them in ``/usr/lib/postgresql/N/bin``).
The server listens on a Unix socket inside the cluster folder (mode 0700), so only its owner can
connect, and with ``trust`` authentication no password exists to leak. PostgreSQL refuses to run
as root, so when the agent is root the cluster belongs to, and the server runs as, ``postgres``.
The test suites and benchmarks use it with a TCP port on loopback.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from reprospective_db.errors import ClusterError

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "reprospective"
SERVER_USER = "postgres"  # the system user Debian's postgresql package creates
# Unix socket paths are limited to 107 bytes (sun_path is 108 bytes with the NUL).
MAX_SOCKET_PATH = 107


def find_bin_dir() -> Path:
    """The newest installed PostgreSQL server binaries: Debian's layout, then ``pg_config``, then PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    if candidates:
        return Path(candidates[0]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        if out and (Path(out) / "postgres").exists():
            return Path(out)
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed",
        hint="install them (Debian: apt-get install postgresql) or set DATABASE_URL to an existing server",
    )


class EmbeddedPostgres:
    """One cluster folder: create it once, start and stop its server, hand out URLs."""

    def __init__(self, cluster_dir: Path, *, port: int = 5432, tcp_host: str | None = None) -> None:
        self.cluster_dir = Path(cluster_dir).absolute()
        self.port = port
        self.tcp_host = tcp_host  # e.g. "127.0.0.1"; None: Unix socket only
        self._bin_dir: Path | None = None
        self._as_root = os.geteuid() == 0

    # -- paths and commands ------------------------------------------------------------

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_bin_dir()
        return self._bin_dir

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "server.log"

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        if self.tcp_host:
            return f"postgresql://{SERVER_USER}@{self.tcp_host}:{self.port}/{database}"
        return f"postgresql://{SERVER_USER}@/{database}?host={self.cluster_dir}&port={self.port}"

    def command(self, tool: str, *args: str) -> list[str]:
        """The command line running one of the server's tools as the server's user."""
        cmd = [str(self.bin_dir / tool), *args]
        if self._as_root:
            return ["runuser", "-u", SERVER_USER, "--", *cmd]
        return cmd

    def run_tool(
        self, tool: str, *args: str, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one of the server's tools (``pg_ctl``, ``psql``, ``pg_dump``...) as the server's user."""
        cmd = self.command(tool, *args)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/", input=stdin)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterError(f"embedded PostgreSQL: {tool} failed: {exc}") from exc
        return done

    def _check(self, done: subprocess.CompletedProcess[str], what: str) -> None:
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ClusterError(
                f"embedded PostgreSQL: {what} failed in {self.cluster_dir}: {' / '.join(detail)}",
                hint=f"see {self.log_file}" if self.log_file.exists() else None,
            )

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return (self.cluster_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster folder (once)."""
        if self.initialised:
            return
        socket_path = self.cluster_dir / f".s.PGSQL.{self.port}"
        if not self.tcp_host and len(str(socket_path)) > MAX_SOCKET_PATH:
            raise ClusterError(
                f"embedded PostgreSQL: socket path {socket_path} is longer than {MAX_SOCKET_PATH} bytes",
                hint="choose a shorter data folder (agent.data_dir or REPROSPECTIVE_DATA_DIR)",
            )
        self.cluster_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._as_root:
            self._give_to_server_user()
        log.info("creating embedded PostgreSQL cluster in %s", self.cluster_dir)
        done = self.run_tool(
            "initdb", "-D", str(self.cluster_dir), "-U", SERVER_USER, "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-instructions",
        )  # fmt: skip
        self._check(done, "initdb")

    def _give_to_server_user(self) -> None:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise ClusterError(
                f"the agent runs as root, and PostgreSQL refuses to; the system user {SERVER_USER!r} does not exist",
                hint="install Debian's postgresql package (it creates the user) or set DATABASE_URL",
            ) from None
        os.chown(self.cluster_dir, user.pw_uid, user.pw_gid)
        os.chmod(self.cluster_dir, 0o700)
        # The server user must be able to reach its folder through every parent. The data
        # folder itself is the agent's: let others pass through it (not list it: 0711).
        data_dir = self.cluster_dir.parent
        if data_dir.stat().st_uid == os.geteuid():
            os.chmod(data_dir, data_dir.stat().st_mode & 0o777 | 0o001)
        for parent in self.cluster_dir.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                raise ClusterError(
                    f"the embedded PostgreSQL server runs as {SERVER_USER!r}, which cannot enter {parent}",
                    hint="use a data folder outside private home folders (the default for root is /var/lib/reprospective)",
                )

    def running(self) -> bool:
        if not self.initialised:
            return False
        return self.run_tool("pg_ctl", "-D", str(self.cluster_dir), "status", timeout=30).returncode == 0

    def start(self) -> bool:
        """Start the server unless it runs; returns True if this call started it."""
        self.init()
        if self.running():
            return False
        listen = self.tcp_host or ""
        options = (
            f"-p {self.port} -k {self.cluster_dir} -c listen_addresses='{listen}' "
            "-c unix_socket_permissions=0700 -c fsync=on"
        )
        done = self.run_tool(
            "pg_ctl", "-D", str(self.cluster_dir), "-o", options, "-l", str(self.log_file), "-w", "-t", "60", "start"
        )
        self._check(done, "server start")
        log.info("embedded PostgreSQL started (cluster %s)", self.cluster_dir)
        return True

    def stop(self, mode: str = "fast") -> None:
        if not self.running():
            return
        done = self.run_tool("pg_ctl", "-D", str(self.cluster_dir), "-m", mode, "-w", "-t", "60", "stop")
        self._check(done, "server stop")
        log.info("embedded PostgreSQL stopped")

    def psql(self, sql: str | Path, database: str = "postgres") -> str:
        """Run SQL, or the file ``sql`` names when it is a path, with the cluster's ``psql``.

        A file is fed on standard input: the server user may not be able to read the caller's files.
        """
        host = self.tcp_host or str(self.cluster_dir)
        script = sql.read_text(encoding="utf-8") if isinstance(sql, Path) else sql
        done = self.run_tool(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-h", host, "-p", str(self.port),
            "-U", SERVER_USER, "-d", database, "-f", "-", stdin=script,
        )  # fmt: skip
        self._check(done, "psql")
        return done.stdout.strip()

    def ensure_database(self, name: str = DEFAULT_DATABASE) -> None:
        if not name.replace("_", "").isalnum():
            raise ClusterError(f"embedded PostgreSQL: invalid database name {name!r}")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self.psql(f'CREATE DATABASE "{name}"')
