"""The trees watchdog watches, kept equal to the usable folders of the directory list, and
their reference snapshots for rescans.

Applying a list (in a worker thread: scheduling walks the tree) starts watching the folders that
became usable and stops watching those that left the list, were disabled or were deleted. A
folder that cannot be watched (missing, not a folder, not readable, inside the agent's data
folder, over the inotify watch limit) gets one warning, repeated only if the reason changes; it
is checked again with every list. A folder inside another listed folder is already watched.

Each tree keeps a reference :class:`DirectorySnapshot` (taken when it starts being watched, then
at each rescan); :meth:`WatchedTrees.rescan` diffs a new snapshot with it to find what the kernel's
events missed (see :mod:`~host_agent.collectors.files.tree_rescan`). The reference snapshots cost
memory, about 38 MB per 100,000 files (excluded folders are not walked).

A :class:`~host_agent.collectors.files.reconciliation.TreeReconciler`, when set, is told before a
tree's watch starts and given its first reference snapshot: it records what changed while the
tree was not watched. A tree that leaves the list (removed, disabled, deleted) has its known
state forgotten: what happens to it while it is off the list is not recorded, even later.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import ObservedWatch
from watchdog.observers.inotify import InotifyObserver
from watchdog.utils.dirsnapshot import DirectorySnapshot

from host_agent.collectors.files import tree_rescan, watch_checks
from host_agent.collectors.files.event_buffer import Known
from host_agent.collectors.files.file_events import escape_path
from host_agent.collectors.files.path_filter import PathFilter
from host_agent.core.errors import StoreError

if TYPE_CHECKING:
    from host_agent.collectors.files.reconciliation import TreeReconciler

log = logging.getLogger(__name__)


@dataclass
class Root:
    path: str  # the watched folder, links resolved
    configured: Path
    watch: ObservedWatch
    snapshot: DirectorySnapshot | None = None  # the reference for rescans
    deleted: bool = False


def shown(path: str | os.PathLike[str]) -> str:
    """A path for log lines: its escaped form (as in the rows), which any log handler can print."""
    return escape_path(os.fspath(path))


class _Closing(Exception):
    """Raised inside a folder walk to cut it short when the watcher stops."""


class WatchedTrees:
    def __init__(
        self,
        *,
        paths: PathFilter,
        event_filter: list[type[FileSystemEvent]],
        make_handler: Callable[[str], FileSystemEventHandler],
    ) -> None:
        self.paths = paths
        self.event_filter = event_filter
        self._make_handler = make_handler
        self.roots: dict[str, Root] = {}
        self.lock = threading.Lock()  # applying a list, rescans and stopping take turns
        self.closing = False
        self.lists_applied = 0  # the first one is applied before recording starts
        self._observer: InotifyObserver | None = None
        self._warned: dict[str, str] = {}
        self.reconciler: TreeReconciler | None = None  # set by the watcher once its database is open

    def start(self) -> None:
        """Start watchdog's observer (its threads); raises OSError at the inotify instance limit."""
        self._observer = InotifyObserver()
        self._observer.start()

    def stop(self) -> None:
        self.closing = True
        with self.lock:
            if self._observer is not None:
                self._observer.stop()
                self._observer.join()
                self._observer = None

    def mark_deleted(self, root: str) -> None:
        """The folder itself went away (watchdog stops its watch); the next list drops it."""
        watched = self.roots.get(root)  # a list may be applied meanwhile in another thread
        if watched is not None:
            watched.deleted = True
        log.warning("monitored directory %s was deleted; watched again if it comes back", shown(root))

    def apply(self, directories: tuple[Path, ...]) -> None:
        with self.lock:
            if self.closing or self._observer is None:
                return
            wanted: dict[str, Path] = {}
            for configured in directories:
                real = self._usable(configured)
                if real is not None:
                    wanted.setdefault(real, configured)
            inside = {r for r in wanted for o in wanted if r != o and watch_checks.is_within(r, o)}
            for real in sorted(inside):
                log.info("%s is inside another monitored directory, already watched", shown(wanted.pop(real)))
            for real, root in list(self.roots.items()):
                if real not in wanted or root.deleted:
                    self._observer.unschedule(root.watch)
                    del self.roots[real]
                    log.info("stopped watching %s", shown(root.configured))
                    self._forget_state(real, root.configured)
            for real, configured in wanted.items():
                if real not in self.roots and not self.closing:
                    self._start_watching(real, configured)
            self.lists_applied += 1

    def _forget_state(self, real: str, configured: Path) -> None:
        if self.reconciler is not None:
            try:
                self.reconciler.stopped_watching(real)
            except (StoreError, sqlite3.Error) as exc:
                log.warning("cannot forget the known state of %s: %s", shown(configured), exc)

    def _usable(self, configured: Path) -> str | None:
        """The folder to watch for ``configured`` (a link resolved), or None with one warning."""
        real, problem = watch_checks.folder_problem(str(configured), self.paths.data_dir)
        if problem is not None:
            self._warn_once(
                str(configured),
                f"monitored directory {shown(configured)} {problem}; not watched (checked again every refresh)",
            )
            return None
        self._warned.pop(str(configured), None)
        return real

    def _warn_once(self, key: str, message: str) -> None:
        if self._warned.get(key) != message:
            self._warned[key] = message
            log.warning("%s", message)

    def _start_watching(self, real: str, configured: Path) -> None:
        assert self._observer is not None
        since = time.monotonic()  # events from here on are reported by the watch itself
        if self.reconciler is not None:
            try:
                self.reconciler.before_watch(real)
            except (StoreError, sqlite3.Error) as exc:
                log.warning("cannot read the known state of %s: %s", shown(configured), exc)
        try:
            watch = self._observer.schedule(
                self._make_handler(real), real, recursive=True, event_filter=self.event_filter, follow_symlink=False
            )
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                message = f"monitored directory {shown(configured)}: {watch_checks.limit_advice()}; not watched"
            else:
                message = f"monitored directory {shown(configured)} cannot be watched: {exc.strerror or exc}"
            self._warn_once(str(configured), message)
            return
        root = Root(real, configured, watch)
        self.roots[real] = root
        unwatched = watch_checks.unwatched_folders(real)
        if unwatched:
            self._warn_once(str(configured), watch_checks.describe_unwatched(configured, unwatched))
        root.snapshot = self.snapshot(real)
        link = "" if real == str(configured) else f" (a link to {shown(real)})"
        log.info("watching %s%s", shown(configured), link)
        if self.reconciler is not None and root.snapshot is not None and not self.closing:
            try:
                self.reconciler.after_watch(real, root.snapshot, since)
            except (StoreError, sqlite3.Error) as exc:
                log.warning(
                    "cannot reconcile %s with its known state (%s); changes made while it was not watched are not recorded",
                    shown(configured), exc,
                )

    # -- rescans -----------------------------------------------------------------------------

    def rescan(
        self, known: Callable[[str], Known | None], mtime: Callable[[str], float | None]
    ) -> list[tuple[str, list[tree_rescan.Change]]]:
        """For each tree: the changes a new snapshot shows that no accepted event reported; the new
        snapshot becomes the reference. Blocking (walks every tree): run it in a worker thread."""
        found = []
        with self.lock:
            for root in list(self.roots.values()):
                if self.closing:
                    break
                new = self.snapshot(root.path)
                if root.snapshot is not None and new is not None:
                    changes = tree_rescan.missed_changes(
                        new - root.snapshot,
                        known,
                        lambda path, r=root.path: self.paths.recordable(path, r),
                        mtime,
                    )
                    found.append((root.path, changes))
                root.snapshot = new
        return found

    def snapshot(self, root: str) -> DirectorySnapshot | None:
        """The recordable part of the tree below ``root``; None when it cannot be read or we stop."""

        def enter(folder: str) -> bool:
            if self.closing:
                raise _Closing
            return self.paths.recordable(folder, root)

        try:
            return tree_rescan.take_snapshot(root, enter)
        except _Closing:
            return None
        except OSError as exc:
            log.warning("cannot take a snapshot of %s for rescans: %s", shown(root), exc)
            return None
