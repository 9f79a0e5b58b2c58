"""Which paths the filesystem watcher records: inside a monitored root, not excluded, and not in
the agent's own data folder. Pure: it looks at the path text only."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from host_agent.collectors.files.watch_checks import is_within


class PathFilter:
    def __init__(self, exclude_patterns: Iterable[str], data_dir: str | None = None) -> None:
        self._excludes = [re.compile(p) for p in exclude_patterns]
        self.data_dir = data_dir  # links resolved by the watcher when it starts

    def recordable(self, path: str, root: str) -> bool:
        """Inside ``root``, not excluded (patterns match the path relative to ``root``), not in
        the agent's data folder."""
        if not path.startswith(root.rstrip("/") + "/"):
            return False
        if self.data_dir is not None and is_within(path, self.data_dir):
            return False
        relative = os.path.relpath(path, root)
        return not any(pattern.search(relative) for pattern in self._excludes)
