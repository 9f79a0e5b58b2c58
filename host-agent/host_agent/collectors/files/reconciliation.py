"""Changes made while a tree was not watched: the agent stopped or killed.

Each monitored tree's last known state is kept in ``file_changes.db`` (``file_tree_state``, see
:mod:`host_agent.store.file_changes`), written with the rows in the same transactions. When a
tree starts being watched (at start-up, or when it first shows up in the list afterwards), its fresh reference
snapshot (:mod:`~host_agent.collectors.files.tree_rescan`) is diffed with that stored state, by
the rescans' own differ, and every difference becomes a row marked ``detected_by =
'reconciliation'`` with ``detected_at`` the time it was found:

- a file on disk the state lacks is ``created``, one the state holds and the disk lacks is
  ``deleted``, one whose size, modification time (ns) or inode changed is ``modified``;
- a file renamed while not watched keeps its inode, size and modification time: when all three
  match, it is one ``moved`` row; otherwise (moved and edited, moved across file systems, a copy
  then a deletion) it cannot be told apart from a deletion and a creation, which is what is
  recorded. An inode reused by an unrelated new file is not a move unless size and time match
  to the nanosecond;
- ``event_time``: the file's modification time for ``created`` and ``modified`` (it tells when
  the change was made; never later than when it was found), its status-change time for
  ``moved`` (a rename sets it), and the time found for ``deleted``.

Rows and state move on together, so a crash before they are written leaves the same difference
on disk and the next start finds it again: nothing is lost, nothing is doubled. What a diff of
two states cannot show is not recorded: a file made and removed while not watched, several edits
(one ``modified``), an edit that kept size, modification time and inode (``touch -r``). A change an
event reported since the walk began is left to that event. Excluded paths and the agent's data
folder are never walked nor recorded; state entries a changed filter now excludes are dropped.

The first watch ever of a tree records no rows: its walk becomes its known state. A tree taken
off the list (removed, disabled, or deleted) has its state forgotten, so when it comes back it
is watched as for the first time: what happened to it while it was off the list (by choice) is
not recorded. A tree off the list when the agent starts keeps its state until it comes back.

Runs in the worker thread that applies a directory list (it walks the tree and reads the stored
state in pages); the stored state is held in memory while diffing, as large as a reference
snapshot (about 38 MB per 100,000 files), then dropped.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from watchdog.utils.dirsnapshot import DirectorySnapshot, DirectorySnapshotDiff

from host_agent.collectors.files import tree_rescan
from host_agent.collectors.files.event_buffer import Known
from host_agent.collectors.files.file_events import escape_path, relative_to_root, unescape_path
from host_agent.collectors.files.path_filter import PathFilter
from host_agent.collectors.files.watched_trees import shown
from host_agent.store.file_changes import FileChangeDatabase

log = logging.getLogger(__name__)


class ReconciliationStopped(Exception):
    """Raised by the recorder when the watcher stops during a reconciliation."""


class Recorder(Protocol):
    def __call__(self, kind: str, path: str, root: str, *, old_path: str | None, found: float) -> None: ...


def event_time_of(kind: str, st: os.stat_result | None, found: float) -> float:
    """A reconciled row's ``event_time`` (see the module docstring)."""
    if st is None or kind == "deleted":
        return found
    if kind == "moved":
        return min(st.st_ctime, found)
    return min(st.st_mtime, found)


def reconciled(
    changes: list[tree_rescan.Change], stored: DirectorySnapshot, disk: DirectorySnapshot
) -> list[tree_rescan.Change]:
    """The rescans' changes as a reconciliation records them: a move only when inode, size and
    modification time all match (else a deletion and a creation), and no ``modified`` for the
    source of a move (it is no longer there)."""
    result: list[tree_rescan.Change] = []
    on_disk = disk.paths
    for kind, path, old_path in changes:
        if kind == "moved" and old_path is not None:
            old, new = stored.stat_info(old_path), disk.stat_info(path)
            if (old.st_size, old.st_mtime_ns) != (new.st_size, new.st_mtime_ns) or disk.isdir(path):
                result.append(("deleted", old_path, None))
                result.append(("created", path, None))
                continue
        elif kind == "modified" and path not in on_disk:
            continue
        result.append((kind, path, old_path))
    return result


class TreeReconciler:
    """Keeps each tree's stored state in step with its watch (the hooks of :class:`WatchedTrees`)."""

    def __init__(
        self,
        db: FileChangeDatabase,
        paths: PathFilter,
        known: Callable[[str], Known | None],
        record: Recorder,
        mtime: Callable[[str], float | None],
    ) -> None:
        self.db, self.paths, self.known, self.record, self.mtime = db, paths, known, record, mtime

    def before_watch(self, root: str) -> None:
        """Before the watch starts: a tree whose first walk was never fully stored starts afresh."""
        key = escape_path(root)
        if not self.db.tree_known(key):
            self.db.forget_tree(key)

    def stopped_watching(self, root: str) -> None:
        """The tree left the list: what happens to it now is not to be recorded, even later."""
        self.db.forget_tree(escape_path(root))

    def after_watch(self, root: str, snapshot: DirectorySnapshot, since: float) -> int:
        """``snapshot`` was taken after the watch started (at monotonic ``since``); returns the
        changes recorded."""
        key = escape_path(root)

        def reported(path: str) -> Known | None:
            known = self.known(path)
            return known if known is not None and known.mono >= since else None

        def recordable(path: str) -> bool:
            return self.paths.recordable(path, root)

        if not self.db.tree_known(key):
            entries = (
                (escape_path(relative_to_root(path, root)), (st.st_size, st.st_mtime_ns, st.st_ino))
                for path, st in tree_rescan.files_of(snapshot)
                if recordable(path)
            )
            stored = self.db.store_first_state(
                key, entries, skip=lambda rel: reported(os.path.join(root, unescape_path(rel))) is not None
            )
            log.info("first watch of %s: its %d files are its known state from now on", shown(root), stored)
            return 0

        dropped: list[str] = []

        def stored_files():
            for rel, size, mtime_ns, inode in self.db.tree_state(key):
                path = os.path.join(root, unescape_path(rel))
                if recordable(path):
                    yield path, size, mtime_ns, inode
                else:
                    dropped.append(rel)

        stored = tree_rescan.StoredSnapshot(root, snapshot.stat_info(root), stored_files())
        diff = DirectorySnapshotDiff(stored, snapshot, ignore_device=True)
        changes = reconciled(tree_rescan.missed_changes(diff, reported, recordable, self.mtime), stored, snapshot)
        del stored, diff
        found = time.time()
        try:
            for kind, path, old_path in changes:
                self.record(kind, path, root, old_path=old_path, found=found)
        except ReconciliationStopped:
            log.info("reconciling %s stopped with the watcher; the next start finds the rest", shown(root))
            return 0
        if dropped:
            self.db.drop_tree_paths(key, dropped)
        self.db.mark_reconciled(key)
        if changes:
            counts = Counter(kind for kind, _, _ in changes)
            summary = ", ".join(f"{counts[k]} {k}" for k in ("created", "modified", "deleted", "moved") if counts[k])
            log.info("reconciled %s: %d changes made while it was not watched (%s)", shown(root), len(changes), summary)
        else:
            log.info("reconciled %s: no change while it was not watched", shown(root))
        return len(changes)
