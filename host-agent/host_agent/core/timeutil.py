"""Time as stored: UTC epoch seconds, and ISO 8601 with the local offset for people."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now_epoch() -> int:
    """The current wall-clock time in whole UTC epoch seconds."""
    return int(time.time())


def iso_from_epoch(epoch: float) -> str:
    """``2026-11-27T21:39:14+09:00``: the instant in the machine's local offset."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).astimezone().isoformat(timespec="seconds")
