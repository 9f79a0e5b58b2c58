"""The filesystem watcher leaves the process as it found it: warning filters and watchdog's
logger level are put back when it stops."""

from __future__ import annotations

import logging
import warnings

from host_agent.collectors.files.directories import StaticDirectories
from host_agent.collectors.files.watchdog_hooks import OVERFLOW_LOGGER

from tests.collectors.fs_harness import running_watcher, settings, wait_for_rows


async def test_a_stopped_watcher_restores_the_warning_filters_and_the_watchdog_logger_level(tmp_path, data_dir):
    root = tmp_path / "src"
    root.mkdir()
    watchdog_log = logging.getLogger(OVERFLOW_LOGGER)
    watchdog_log.setLevel(logging.ERROR)  # an application that wants watchdog quiet
    filters_before = list(warnings.filters)
    try:
        async with running_watcher(StaticDirectories([root]), data_dir, settings()):
            assert watchdog_log.isEnabledFor(logging.WARNING)  # the overflow line must reach the watcher
            assert len(warnings.filters) == len(filters_before) + 1
            (root / "a.txt").write_text("x")
            await wait_for_rows(data_dir / "file_changes.db", lambda rows: len(rows) == 1)
        assert warnings.filters == filters_before
        assert watchdog_log.level == logging.ERROR
    finally:
        watchdog_log.setLevel(logging.NOTSET)
