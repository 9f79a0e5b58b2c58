"""What the filesystem watcher sets in watchdog while it runs, each put back when it stops.

- watchdog reports a kernel inotify queue overflow only as a log line ("Inotify queue overflowed",
  logger ``watchdog.observers.inotify_c``), telling no handler; :func:`overflow_alarm` listens for
  that line (raising the logger to WARNING meanwhile if it was quieter) and calls back.
- watchdog warns "Callback with id ... already exists" when a new folder gets its watch both from
  its creation event and from the walk of its parent (the second replaces the first with the same
  callback): harmless, so :func:`duplicate_callback_warnings_ignored` silences it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator

#: The logger and message by which watchdog reports a kernel queue overflow (watchdog 4 to 7).
OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
OVERFLOW_MESSAGE = "Inotify queue overflowed"


class _OverflowAlarm(logging.Handler):
    """Calls back when watchdog logs that the kernel's inotify queue overflowed."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(OVERFLOW_MESSAGE):
            self.callback()


@contextlib.contextmanager
def duplicate_callback_warnings_ignored() -> Iterator[None]:
    """Ignore watchdog's "Callback with id ... already exists" while watching; then remove exactly
    that filter again (``warnings.catch_warnings`` is not safe with other threads running)."""
    warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)
    added = warnings.filters[0]
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            warnings.filters.remove(added)


@contextlib.contextmanager
def overflow_alarm(callback: Callable[[], None]) -> Iterator[None]:
    """Listen for watchdog's overflow warning; the logger's level is raised to WARNING if needed
    and put back afterwards."""
    alarm = _OverflowAlarm(callback)
    watchdog_log = logging.getLogger(OVERFLOW_LOGGER)
    level = watchdog_log.level
    if not watchdog_log.isEnabledFor(logging.WARNING):
        watchdog_log.setLevel(logging.WARNING)
    watchdog_log.addHandler(alarm)
    try:
        yield
    finally:
        watchdog_log.removeHandler(alarm)
        watchdog_log.setLevel(level)
