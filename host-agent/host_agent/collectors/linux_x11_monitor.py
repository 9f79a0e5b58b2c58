"""The agent's start-up script, as the plan names it: ``python -m host_agent.collectors.linux_x11_monitor``.

It is the same entry as ``reprospective-agent run`` and ``python -m host_agent run``: it loads the
configuration, starts the desktop monitor and the filesystem watcher, and runs the sync loop.
"""

from __future__ import annotations

import sys

from host_agent.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return cli_main(["run", *args])


if __name__ == "__main__":
    raise SystemExit(main())
