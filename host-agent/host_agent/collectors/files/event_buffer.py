"""The filesystem watcher's buffer: rows waiting to be written, coalescing, duplicate checks.

Rows come from watchdog's observer thread (and from rescans in a worker thread); the asyncio
loop takes them out in batches and writes each batch in one SQLite transaction. Everything
here is in memory and guarded by one lock; nothing touches the disk.

Per path, the buffer remembers the last change it accepted (kind, monotonic and wall time):

- a ``modified`` within ``coalesce_seconds`` of an accepted ``created`` or ``modified`` of the
  same file is folded into that row (its size is refreshed while the row is still waiting);
  the cool-down is counted from the accepted row, so a file written for a minute gives about
  one row per cool-down, not one row in total;
- a ``created`` for a file already known to exist (no deletion since) within
  ``duplicate_seconds`` is a duplicate (watchdog reports the files it finds in a new folder and
  may also pass on their own creation events) and is dropped; later, it means the file was
  replaced (an editor's save through a temporary file renamed over it) and is recorded as
  ``modified``, with the cool-down above;
- a ``deleted`` for a file already known to be gone is a duplicate and is dropped.

That memory is also what a rescan compares against (see :meth:`EventBuffer.known`), and is
forgotten up to a point in time when a rescan has taken a new reference snapshot.

A row may carry the tree state changes it implies (``tree_state``, see
:mod:`host_agent.store.file_changes`). A coalesced or duplicate report still moves the state on
(a file written for a minute ends with its last size and time): while its row waits, the row's
changes are refreshed; once the row was taken, the new state waits on its own
(:meth:`EventBuffer.take_late_states`) and is written with the next batch. A later row of the
same path supersedes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from host_agent.store.file_changes import TREE_STATE_FIELD

#: Kinds meaning "the file exists at this path" and "nothing is at this path any more".
EXISTS = frozenset({"created", "modified", "moved"})
GONE = frozenset({"deleted", "moved_away"})

#: How soon after a file's creation another creation report for it is taken as a duplicate.
#: watchdog's own duplicates arrive within milliseconds; two seconds leaves room for a busy machine.
DUPLICATE_SECONDS = 2.0


@dataclass(frozen=True)
class Known:
    kind: str  # created / modified / moved / deleted / moved_away
    mono: float  # time.monotonic() when accepted
    wall: float  # epoch seconds of the row


class EventBuffer:
    def __init__(
        self,
        *,
        coalesce_seconds: float,
        max_events: int,
        on_full: Callable[[], None] = lambda: None,
        duplicate_seconds: float = DUPLICATE_SECONDS,
    ) -> None:
        self.coalesce_seconds = coalesce_seconds
        self.duplicate_seconds = duplicate_seconds
        self.max_events = max_events
        self._on_full = on_full
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._waiting: dict[str, dict[str, Any]] = {}  # path -> its row, while not yet taken
        self._known: dict[str, Known] = {}
        self._late: dict[str, list] = {}  # path -> state changes of a report folded into a row already taken
        self._full_signalled = False
        self.coalesced = 0
        self.duplicates = 0
        self.most_waiting = 0  # the most rows ever waiting at once

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    @property
    def known_paths(self) -> int:
        with self._lock:
            return len(self._known)

    def known(self, path: str) -> Known | None:
        with self._lock:
            return self._known.get(path)

    def add(self, row: dict[str, Any], path: str, *, mono: float, old_path: str | None = None) -> bool:
        """Accept a row for ``path`` (its raw, unescaped form); False if coalesced or a duplicate."""
        kind = row["event_type"]
        with self._lock:
            last = self._known.get(path)
            if last is not None:
                age = mono - last.mono
                if kind == "created" and last.kind in EXISTS:
                    if age < self.duplicate_seconds:
                        self._refresh_waiting(path, row)
                        self.duplicates += 1
                        return False
                    kind, row = "modified", {**row, "event_type": "modified"}  # replaced by a new file
                if kind == "modified" and last.kind in ("created", "modified") and age < self.coalesce_seconds:
                    self._refresh_waiting(path, row)
                    self.coalesced += 1
                    return False
                if kind == "deleted" and last.kind in GONE:
                    self.duplicates += 1
                    return False
            self._known[path] = Known(kind, mono, row["event_time"])
            self._late.pop(path, None)
            if old_path is not None:
                self._known[old_path] = Known("moved_away", mono, row["event_time"])
                self._waiting.pop(old_path, None)
                self._late.pop(old_path, None)
            self._rows.append(row)
            self._waiting[path] = row
            self.most_waiting = max(self.most_waiting, len(self._rows))
            full = len(self._rows) >= self.max_events and not self._full_signalled
            if full:
                self._full_signalled = True
        if full:
            self._on_full()
        return True

    def _refresh_waiting(self, path: str, row: dict[str, Any]) -> None:
        waiting = self._waiting.get(path)
        changes = row.get(TREE_STATE_FIELD)
        if waiting is not None:
            waiting["file_size"] = row["file_size"]
            waiting["is_symlink"] = row["is_symlink"]
            if changes:
                merged = {(r, p): st for r, p, st in waiting.get(TREE_STATE_FIELD) or ()}
                merged.update({(r, p): st for r, p, st in changes})
                waiting[TREE_STATE_FIELD] = [(r, p, st) for (r, p), st in merged.items()]
        elif changes:
            self._late[path] = list(changes)

    def take(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Remove and return up to ``limit`` waiting rows, oldest first."""
        with self._lock:
            if limit is None or limit >= len(self._rows):
                rows, self._rows = self._rows, []
                self._waiting.clear()
            else:
                rows, self._rows = self._rows[:limit], self._rows[limit:]
                taken = {id(r) for r in rows}
                self._waiting = {p: r for p, r in self._waiting.items() if id(r) not in taken}
            self._full_signalled = len(self._rows) >= self.max_events
        return rows

    def put_back(self, rows: list[dict[str, Any]]) -> None:
        """Return rows that could not be written; they go first in the next batch."""
        with self._lock:
            self._rows[:0] = rows

    def take_late_states(self) -> dict[str, list]:
        """Remove and return the state changes waiting without a row (path -> its changes).
        No waiting row touches these paths, so they may go with any batch."""
        with self._lock:
            late, self._late = self._late, {}
        return late

    def put_back_late_states(self, late: dict[str, list]) -> None:
        """Return state changes that could not be written, unless a newer report superseded them."""
        with self._lock:
            for path, changes in late.items():
                if path not in self._late and path not in self._waiting:
                    self._late[path] = changes

    def forget_before(self, mono: float) -> None:
        """Drop what is remembered about changes accepted before ``mono`` (a rescan's start)."""
        with self._lock:
            self._known = {p: k for p, k in self._known.items() if k.mono >= mono}
