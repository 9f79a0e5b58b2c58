"""Rescans after lost events: what a new snapshot of a tree shows that no event reported.

A :class:`DirectorySnapshot` of each watched tree is kept as the reference (taken when the tree
starts being watched, then at each rescan). After the kernel dropped events, a new snapshot is
diffed with the reference; a difference is a missed change unless the buffer already accepted
an event saying the same (see :class:`~host_agent.collectors.files.event_buffer.EventBuffer`).
The same diff finds what changed while a tree was not watched, against a
:class:`StoredSnapshot` of its stored state (:mod:`~host_agent.collectors.files.reconciliation`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator

from watchdog.utils.dirsnapshot import DirectorySnapshot, DirectorySnapshotDiff

from host_agent.collectors.files.event_buffer import EXISTS, GONE, Known

#: (event type, path, old path for a move)
Change = tuple[str, str, "str | None"]


class SlimStat:
    """The part of ``lstat`` a snapshot diff reads (DirectorySnapshot documents its ``stat`` hook).

    A reference snapshot lives as long as its tree is watched: with full ``os.stat_result``
    objects it held about 80 MB per 100,000 files; with these, about 38 MB. The modification
    time is kept in nanoseconds, as the stored tree state has it, so a snapshot and the stored
    state compare exactly.
    """

    __slots__ = ("st_ino", "st_dev", "st_mode", "st_mtime_ns", "st_size")

    def __init__(self, ino: int, dev: int, mode: int, mtime_ns: int, size: int) -> None:
        self.st_ino, self.st_dev, self.st_mode, self.st_mtime_ns, self.st_size = ino, dev, mode, mtime_ns, size

    @property
    def st_mtime(self) -> float:
        return self.st_mtime_ns / 1e9


def slim_lstat(path: str) -> SlimStat:
    st = os.lstat(path)
    return SlimStat(st.st_ino, st.st_dev, st.st_mode, st.st_mtime_ns, st.st_size)


class TreeSnapshot(DirectorySnapshot):
    """A snapshot whose ``paths`` is a view of its entries, not a new set at each call: the diff
    asks for it once per file it suspects of having moved, which made a diff of 100,000 files
    with many changes take minutes."""

    @property
    def paths(self):  # type: ignore[override]  (a set-like view: `in`, `-`, `&` as a set)
        return self._stat_info.keys()


def take_snapshot(root: str, enter: Callable[[str], bool]) -> TreeSnapshot:
    """The tree below ``root``: links not followed, folders for which ``enter`` is false skipped.

    Raises OSError when ``root`` itself cannot be read.
    """

    def listdir(folder: str | None):
        with os.scandir(folder) as entries:
            return [e for e in entries if not e.is_dir(follow_symlinks=False) or enter(e.path)]

    return TreeSnapshot(root, recursive=True, stat=slim_lstat, listdir=listdir)


class StoredSnapshot(TreeSnapshot):
    """A tree as its stored state describes it (files and links only), to diff a fresh
    :func:`take_snapshot` with. Built without walking: DirectorySnapshot has no constructor
    from data, so this fills the two maps it reads. Stored entries carry no device number:
    diff with ``ignore_device=True``."""

    def __init__(self, root: str, root_stat: SlimStat, files: Iterable[tuple[str, int, int, int]]) -> None:
        self.recursive = True
        self.stat = slim_lstat
        self._stat_info = {root: root_stat}
        self._inode_to_path = {(root_stat.st_ino, root_stat.st_dev): root}
        for path, size, mtime_ns, inode in files:
            self._stat_info[path] = SlimStat(inode, 0, stat.S_IFREG, mtime_ns, size)
            self._inode_to_path[(inode, 0)] = path


def files_of(snapshot: DirectorySnapshot) -> Iterator[tuple[str, SlimStat]]:
    """The files and links of a snapshot (not its folders), with their stat."""
    for path in snapshot.paths:
        st = snapshot.stat_info(path)
        if not stat.S_ISDIR(st.st_mode):
            yield path, st


def missed_changes(
    diff: DirectorySnapshotDiff,
    known: Callable[[str], Known | None],
    recordable: Callable[[str], bool],
    mtime: Callable[[str], float | None],
) -> list[Change]:
    """The file changes in ``diff`` that no accepted event already reported."""

    def kind_of(path: str) -> str | None:
        k = known(path)
        return k.kind if k is not None else None

    changes: list[Change] = []
    for path in diff.files_created:
        if recordable(path) and kind_of(path) not in EXISTS:
            changes.append(("created", path, None))
    for path in diff.files_deleted:
        if recordable(path) and kind_of(path) not in GONE:
            changes.append(("deleted", path, None))
    for path in diff.files_modified:
        last, changed_at = known(path), mtime(path)
        if recordable(path) and (last is None or (changed_at is not None and changed_at > last.wall)):
            changes.append(("modified", path, None))
    for src, dest in diff.files_moved:
        if kind_of(dest) == "moved":
            continue
        if recordable(dest):
            changes.append(("moved", dest, src) if recordable(src) else ("created", dest, None))
        elif recordable(src) and kind_of(src) not in GONE:
            changes.append(("deleted", src, None))
    return changes
