"""The filesystem watcher: file changes under the monitored directories, into ``file_changes.db``.

Threads: watchdog's inotify observer reads the kernel queue and calls :meth:`FileSystemWatcher._on_event`
in its own thread, which turns each change into a row (``lstat``, project name) and puts it in
the :class:`EventBuffer`. The asyncio side only waits: a batch is written when the buffer holds
``buffer.max_events`` rows or ``buffer.flush_interval`` seconds have passed, in one transaction
run in a worker thread. The directory list is re-read every ``refresh_interval_seconds``.

What is recorded: files and symbolic links (a link's own creation, change and deletion; links are
never followed), not folders. A move inside a monitored tree is one ``moved`` row with both paths;
a move in from outside (or from an excluded name) is ``created`` (``modified`` when the watcher
already knew a file there: an editor saving through a temporary file), a move out (or to an
excluded name) is ``deleted``. Excluded paths (``exclude_patterns``, matched against the path relative to
the monitored root, and the agent's own data folder) are never written anywhere.

The kernel queue holds ``fs.inotify.max_queued_events`` events. Only the event types recorded are
asked for (``event_filter``), which keeps a 20,000-file burst within it (docs/benchmarks.md); if it
still overflows, watchdog logs "Inotify queue overflowed" (and re-adds its watches) but tells no
handler, so a logging handler catches that line and the watcher rescans once the burst is over:
:meth:`WatchedTrees.rescan` diffs each tree with its reference snapshot, and the differences no
event reported are recorded.

When a tree starts being watched, what changed while the agent was stopped or killed is
recorded from the tree's stored state (:mod:`~host_agent.collectors.files.reconciliation`); that
state is written with the rows, so a kill -9 loses at most the buffer's last ``flush_interval``
of events as watcher rows, and the next start finds those changes on disk (a file created and
deleted within that second leaves no trace).

The watcher sets two process-wide things while it runs, and puts both back when it stops: a
warnings filter for watchdog's harmless "Callback with id ... already exists" (a new folder's watch
is registered both from its creation event and from the walk of its parent), and the level of
watchdog's inotify logger, whose WARNING line is the only sign of an overflow.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

from watchdog.events import (
    DirDeletedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from host_agent.collectors.files.event_buffer import EventBuffer
from host_agent.collectors.files.file_events import ProjectResolver, build_row, stat_path, state_changes
from host_agent.collectors.files.reconciliation import ReconciliationStopped, TreeReconciler, event_time_of
from host_agent.collectors.files.path_filter import PathFilter
from host_agent.collectors.files.watchdog_hooks import duplicate_callback_warnings_ignored, overflow_alarm
from host_agent.collectors.base import CollectorContext
from host_agent.collectors.files.directories import DirectoryList, DirectorySource
from host_agent.collectors.files.watched_trees import Root, WatchedTrees, shown
from host_agent.store.file_changes import TREE_STATE_FIELD, FileChangeDatabase
from host_agent.core.config import FilesystemWatcherSection
from host_agent.core.errors import InvalidEventError, StoreError

log = logging.getLogger(__name__)

#: The only event types asked of the kernel (see the module docstring): each one not asked for
#: is one less event competing for the kernel queue in a burst.
EVENT_FILTER = [FileCreatedEvent, FileModifiedEvent, FileDeletedEvent, FileMovedEvent, DirDeletedEvent]
_KINDS = {FileCreatedEvent: "created", FileModifiedEvent: "modified", FileDeletedEvent: "deleted"}

#: Most rows per SQLite transaction; a burst is written in several short transactions.
MAX_ROWS_PER_TRANSACTION = 5000
#: A rescan waits until no event arrived for this long (the burst is over), at most QUIET_MAX.
QUIET_SECONDS = 0.5
QUIET_MAX_SECONDS = 10.0
#: Paths remembered for duplicate checks before a rescan takes a new reference and forgets them.
MAX_KNOWN_PATHS = 200_000


class _RootHandler(FileSystemEventHandler):
    def __init__(self, watcher: FileSystemWatcher, root: str) -> None:
        self.watcher, self.root = watcher, root

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self.watcher._on_event(event, self.root)
        except Exception as exc:
            # An exception here would end watchdog's dispatch thread, and with it all recording.
            self.watcher._event_failed(event, exc)


class FileSystemWatcher:
    name = "filesystem watcher"

    def __init__(
        self,
        directories: DirectorySource,
        db_path: Path,
        settings: FilesystemWatcherSection,
        *,
        data_dir: Path | None = None,
    ) -> None:
        self.directories = directories
        self.db_path = Path(db_path)
        self.settings = settings
        self.data_dir = os.fspath(data_dir) if data_dir is not None else None  # links resolved in run()
        self.paths = PathFilter(settings.exclude_patterns, self.data_dir)
        self.projects = ProjectResolver()
        self.buffer = EventBuffer(
            coalesce_seconds=settings.coalesce_seconds,
            max_events=settings.buffer.max_events,
            on_full=self._wake_threadsafe,
        )
        self.rows_written = 0
        self.overflows = 0
        self.failed_events = 0
        self.events_not_kept = 0  # since the buffer was last full
        self._in_flight = 0  # rows taken out of the buffer by a write under way
        self._lost_roots: set[str] = set()
        self._lost_lock = threading.Lock()
        self._failures_logged: set[type] = set()
        self._write_failing = False
        self._overflowed = threading.Event()
        self._last_event = time.monotonic()
        self.trees = WatchedTrees(
            paths=self.paths, event_filter=EVENT_FILTER, make_handler=lambda root: _RootHandler(self, root)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def figures(self) -> dict[str, int]:
        return {
            "trees_watched": len(self.roots),
            "rows_written": self.rows_written,
            "events_waiting": len(self.buffer),
            "events_not_kept": self.events_not_kept,
            "queue_overflows": self.overflows,
            "events_failed": self.failed_events,
        }

    # -- the collector -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.data_dir is not None:
            self.data_dir = self.paths.data_dir = os.path.realpath(self.data_dir)
        db = await asyncio.to_thread(FileChangeDatabase, self.db_path)
        self.trees.reconciler = TreeReconciler(db, self.paths, self.buffer.known, self._record_reconciled, _mtime)
        with duplicate_callback_warnings_ignored(), overflow_alarm(self._on_overflow):
            await self._run(db, stop)

    async def _run(self, db: FileChangeDatabase, stop: asyncio.Event) -> None:
        assert self._wake is not None
        first = refresher = rescan = relay = None
        try:
            try:
                self.trees.start()
            except OSError as exc:
                log.error("filesystem watcher cannot start: %s (see fs.inotify.max_user_instances)", exc)
                return
            # The first list is applied while the loop below already writes: reconciling a tree
            # that changed a lot while it was not watched records more rows than memory should hold.
            first = asyncio.create_task(self.apply(await self.directories.load()), name="fs-watcher-first-list")
            first.add_done_callback(lambda _: self._wake.set() if self._wake is not None else None)
            relay = asyncio.create_task(self._relay(stop), name="fs-watcher-stop")
            next_flush = time.monotonic() + self.settings.buffer.flush_interval
            while not stop.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_flush - time.monotonic()))
                except asyncio.TimeoutError:
                    pass  # the flush interval passed
                self._wake.clear()
                if first is not None and first.done():
                    first.result()  # a failure here is the collector's
                    first = None
                    refresher = asyncio.create_task(self._refresh_loop(), name="fs-watcher-refresh")
                if (self._overflowed.is_set() or self.buffer.known_paths > MAX_KNOWN_PATHS) and (
                    rescan is None or rescan.done()
                ):
                    rescan = asyncio.create_task(self._rescan(), name="fs-watcher-rescan")
                if len(self.buffer) >= self.settings.buffer.max_events or time.monotonic() >= next_flush:
                    await self._flush(db)
                    next_flush = time.monotonic() + self.settings.buffer.flush_interval
        finally:
            self.trees.closing = True
            tasks = [t for t in (first, refresher, rescan, relay) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._flush(db)  # first what is buffered: stopping may wait for a folder walk
            await asyncio.to_thread(self.trees.stop)
            await self._flush(db, final=True)
            await asyncio.to_thread(db.close)
            log.info("filesystem watcher stopped: %d rows written", self.rows_written)

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        assert self._wake is not None
        self._wake.set()

    def _wake_threadsafe(self) -> None:
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _flush(self, db: FileChangeDatabase, *, final: bool = False) -> None:
        while True:
            rows = self.buffer.take(MAX_ROWS_PER_TRANSACTION)
            late = self.buffer.take_late_states()
            if not rows and not late:
                return
            self._in_flight = len(rows)  # still held in memory: they count against max_pending
            try:
                written = await asyncio.to_thread(_save, db, rows, late)
            except (StoreError, sqlite3.Error) as exc:
                if final:
                    log.error("could not write the last %d file events to %s: %s", len(rows) + len(self.buffer), db.db_path, exc)
                    return
                self.buffer.put_back(rows)
                self.buffer.put_back_late_states(late)
                self._in_flight = 0
                if not self._write_failing:
                    log.warning("cannot write file events to %s (%s); keeping them in memory, retrying", db.db_path, exc)
                self._write_failing = True
                return
            self._in_flight = 0
            if self._write_failing:
                log.info("file events are written to %s again", db.db_path)
                self._write_failing = False
            if self._lost_roots:
                self._rescan_lost()
            self.rows_written += written

    # -- directories ---------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_interval_seconds)
            try:
                await self.apply(await self.directories.load())
            except Exception:
                log.exception("refreshing the monitored directories failed; the current ones stay watched")

    async def apply(self, listing: DirectoryList) -> None:
        """Watch exactly the usable folders of ``listing`` (started and stopped as needed)."""
        await asyncio.to_thread(self.trees.apply, listing.directories)

    @property
    def roots(self) -> dict[str, Root]:
        return self.trees.roots

    @property
    def lists_applied(self) -> int:
        return self.trees.lists_applied

    # -- events (watchdog's thread) ---------------------------------------------------------

    def _on_event(self, event: FileSystemEvent, root: str) -> None:
        self._last_event = time.monotonic()
        src = os.fsdecode(event.src_path)
        if src == root and isinstance(event, (DirDeletedEvent, FileDeletedEvent)):
            self.trees.mark_deleted(root)
            return
        if event.is_directory:
            return
        if isinstance(event, FileMovedEvent):
            dest = os.fsdecode(event.dest_path)
            src_ok, dest_ok = self.recordable(src, root), self.recordable(dest, root)
            if src_ok and dest_ok:
                self._record("moved", dest, root, old_path=src)
            elif dest_ok:
                self._record("created", dest, root)
            elif src_ok:
                self._record("deleted", src, root)
            return
        kind = _KINDS.get(type(event))
        if kind is not None and self.recordable(src, root):
            self._record(kind, src, root)

    def _event_failed(self, event: FileSystemEvent, exc: Exception) -> None:
        self.failed_events += 1
        if type(exc) not in self._failures_logged:
            self._failures_logged.add(type(exc))
            log.error("a %s event for %s could not be recorded (later ones of this kind are only counted)",
                      event.event_type, shown(os.fsdecode(event.src_path)), exc_info=exc)

    def recordable(self, path: str, root: str) -> bool:
        return self.paths.recordable(path, root)

    def _record(
        self,
        kind: str,
        path: str,
        root: str,
        *,
        old_path: str | None = None,
        wall: float | None = None,
        reconciled: bool = False,
    ) -> None:
        """Buffer one change. ``wall`` is given by rescans and reconciliations (the time found),
        whose changes are always kept: they move their tree's reference on, so a change they
        found and dropped would be lost."""
        if wall is None and len(self.buffer) + self._in_flight >= self.settings.buffer.max_pending:
            self._not_kept(root)
            return
        st = None if kind == "deleted" else stat_path(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            return  # a folder now stands at this path; folders are not recorded
        name = os.path.basename(path)
        if kind != "modified" and self.projects.is_marker(name):
            self.projects.forget()
        found = time.time() if wall is None else wall
        row = build_row(
            kind,
            path,
            root,
            event_time=event_time_of(kind, st, found) if reconciled else found,
            stat=st,
            project_name=self.projects.project_for(path, root),
            old_path=old_path,
            detected_by="reconciliation" if reconciled else "watcher",
            detected_at=found if reconciled else None,
        )
        row[TREE_STATE_FIELD] = state_changes(row, st, root, old_path)
        self.buffer.add(row, path, mono=time.monotonic(), old_path=old_path)

    def _record_reconciled(self, kind: str, path: str, root: str, *, old_path: str | None, found: float) -> None:
        """A reconciliation's change (its worker thread). It waits while the buffer holds a
        transaction's worth of rows, so memory stays bounded however much changed; stopping
        ends it, and the next start finds the changes not yet recorded again."""
        while len(self.buffer) + self._in_flight >= MAX_ROWS_PER_TRANSACTION:
            if self.trees.closing:
                raise ReconciliationStopped
            self._wake_threadsafe()
            time.sleep(0.02)
        self._record(kind, path, root, old_path=old_path, wall=found, reconciled=True)

    def _not_kept(self, root: str) -> None:
        """The buffer is full (writes fail, or a burst outruns them): this event is not kept, so
        memory stays bounded; its tree is rescanned once a write succeeds, which records it then."""
        with self._lost_lock:
            self.events_not_kept += 1
            first = not self._lost_roots
            self._lost_roots.add(root)
        if first:
            log.warning(
                "%d file events wait in memory to be written (buffer.max_pending); further events are not kept: "
                "their trees will be rescanned once writing catches up",
                len(self.buffer),
            )

    def _rescan_lost(self) -> None:
        """Writing works again: rescan the trees whose events were not kept."""
        with self._lost_lock:
            roots, count = self._lost_roots, self.events_not_kept
            self._lost_roots, self.events_not_kept = set(), 0
        if roots:
            log.warning("rescanning %d monitored trees for the %d file events not kept", len(roots), count)
            self._overflowed.set()  # the main loop starts the rescan, as after a kernel queue overflow
            self._wake_threadsafe()

    # -- overflow and rescans --------------------------------------------------------------

    def _on_overflow(self) -> None:
        self.overflows += 1
        if not self._overflowed.is_set():
            log.warning("inotify queue overflowed: events were lost; rescanning the monitored directories")
        self._overflowed.set()
        self._wake_threadsafe()

    async def _rescan(self) -> None:
        deadline = time.monotonic() + QUIET_MAX_SECONDS
        while time.monotonic() - self._last_event < QUIET_SECONDS and time.monotonic() < deadline:
            await asyncio.sleep(QUIET_SECONDS / 5)
        self._overflowed.clear()
        try:
            found = await asyncio.to_thread(self.rescan)
        except Exception:
            log.exception("rescan failed; changes lost in the overflow may be missing")
            return
        if found:
            log.warning("rescan recorded %d changes that no event reported", found)
        else:
            log.info("rescan done: no change was missed")

    def rescan(self) -> int:
        """Diff each tree with its reference snapshot; record what events missed. Returns the count."""
        started = time.monotonic()
        found = 0
        for root, changes in self.trees.rescan(self.buffer.known, _mtime):
            now = time.time()
            for kind, path, old_path in changes:
                self._record(kind, path, root, old_path=old_path, wall=now)
            found += len(changes)
        self.buffer.forget_before(started)
        return found


def _mtime(path: str) -> float | None:
    st = stat_path(path)
    return st.st_mtime if st is not None else None


def _save(db: FileChangeDatabase, rows: list[dict], late: dict[str, list] | None = None) -> int:
    """Write rows, and the tree state waiting without a row, in one transaction; if one row is
    invalid, write the others one by one (a refused row's state stays as it was)."""
    late_changes = [change for changes in (late or {}).values() for change in changes]
    try:
        db.save_events(rows, tree_state=late_changes)
        return len(rows)
    except InvalidEventError as exc:
        log.error("a batch of %d file events was refused (%s); writing them one by one", len(rows), exc)
    written = 0
    for row in rows:
        try:
            db.save_event(row)
            written += 1
        except InvalidEventError as exc:
            log.error("file event for %s could not be stored: %s", row.get("file_path"), exc)
    if late_changes:
        db.save_events([], tree_state=late_changes)
    return written


def create_collector(context: CollectorContext) -> FileSystemWatcher:
    """The agent's hook: a watcher of the directories the agent's source lists."""
    config = context.config
    return FileSystemWatcher(
        context.directories,
        config.file_events_db_path,
        config.filesystem_watcher,
        data_dir=config.data_dir,
    )
