"""The real agent as a child process (``python -m host_agent run --config PATH``), its output in a
log file: for tests and benchmarks, which drive the agent as an operator would."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from reprospective_db.testing import wait_until

from host_agent.ops import control

#: Start-up includes connecting to PostgreSQL and applying its schema; shutdown a last sync.
AGENT_TIMEOUT = 30


class AgentProcess:
    """One agent process on a config file; ``start`` returns at once, the waits are explicit."""

    def __init__(self, config: Path, data_dir: Path, *, env: dict[str, str], log_path: Path | None = None) -> None:
        self.config = config
        self.data_dir = data_dir
        self.env = env
        self.log_path = log_path or config.with_suffix(".log")
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "host_agent", "run", "--config", str(self.config)]

    def start(self) -> AgentProcess:
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(self.command(), stdout=log_file, stderr=subprocess.STDOUT, env=self.env)
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def _still_running(self, waiting_for: str) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise AssertionError(f"the agent exited with {code} before {waiting_for}:\n{self.log()}")

    def wait_for_log(self, text: str, timeout: float = AGENT_TIMEOUT) -> None:
        def seen() -> bool:
            self._still_running(f"logging {text!r}")
            return text in self.log()

        wait_until(seen, timeout, repr(text))

    def wait_until_answering(self, timeout: float = AGENT_TIMEOUT) -> AgentProcess:
        """Wait until the agent answers on its control socket, its first sync run (at start-up) over."""

        def answers() -> bool:
            self._still_running("answering")
            try:
                reply = control.request(self.data_dir, "status", timeout=5)
            except control.AgentNotRunningError:
                return False
            # Ready once the loop's first run is over: rows added later wait for a trigger.
            return not reply["sync"]["active"] or reply["sync"]["last_run_at"] is not None

        wait_until(answers, timeout, f"the agent to answer after its first sync run (log: {self.log_path})", 0.05)
        return self

    def stop(self, signum: int = signal.SIGTERM, timeout: float = AGENT_TIMEOUT) -> int:
        """Send ``signum`` and return the exit code; an agent that does not stop is killed and fails the test."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.ensure_gone()
                raise AssertionError(f"the agent did not stop on signal {signum}:\n{self.log()}") from None
        return self.process.returncode

    def ensure_gone(self) -> None:
        """Kill the agent if it still runs (a test's cleanup)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
