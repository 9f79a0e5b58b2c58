"""Turning a filesystem change into a ``file_change_events`` row.

Paths are stored as text, but Linux allows any bytes except ``/`` and NUL in a name. Python
hands undecodable bytes over as lone surrogates (``surrogateescape``), which neither SQLite's
UTF-8 text nor PostgreSQL accepts. Every path column therefore holds the *escaped form*:

- a byte that is not part of valid UTF-8 becomes ``\\xNN`` (a backslash, ``x``, two hex digits);
- a literal backslash becomes ``\\\\`` (two backslashes), so the form stays unambiguous;
- everything else (all valid UTF-8, including newlines and emoji) is kept as it is.

:func:`escape_path` and :func:`unescape_path` are exact inverses: ``unescape_path_bytes(escaped)``
gives back the original bytes for ``open()``. A path without backslashes or invalid bytes (almost
all of them) is stored unchanged.

:func:`build_row` is pure; :func:`stat_path` and :class:`ProjectResolver` look at the disk.
"""

from __future__ import annotations

import os
import re
import stat as stat_module
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from host_agent.core.timeutil import iso_from_epoch

#: Files whose folder is taken as a project root when no git repository encloses the file.
PROJECT_MARKERS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "package.json",
    "Cargo.toml",
    "go.mod",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "Gemfile",
    "composer.json",
    "mix.exs",
    "CMakeLists.txt",
    "Makefile",
)

_ESCAPE = re.compile(r"[\\\ud800-\udfff]")
_UNESCAPE = re.compile(r"\\(\\|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4})")


def escape_path(path: str) -> str:
    """The escaped form of a path (see the module docstring); always valid UTF-8."""

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        if char == "\\":
            return "\\\\"
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode() represents it
            return f"\\x{code - 0xDC00:02x}"
        return f"\\u{code:04x}"  # any other lone surrogate (never produced by os.fsdecode)

    return _ESCAPE.sub(replace, path)


def unescape_path(text: str) -> str:
    """Undo :func:`escape_path`: the path as Python's ``os`` functions take it."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token == "\\":
            return "\\"
        if token[0] == "x":
            return chr(0xDC00 + int(token[1:], 16))
        return chr(int(token[1:], 16))

    return _UNESCAPE.sub(replace, text)


def unescape_path_bytes(text: str) -> bytes:
    """Undo :func:`escape_path` down to the bytes the filesystem holds."""
    return os.fsencode(unescape_path(text))


def file_extension(name: str) -> str | None:
    """``.py`` for ``Main.PY``; None for ``Makefile`` or ``.bashrc``."""
    ext = os.path.splitext(name)[1]
    return ext.lower() or None


def relative_to_root(path: str, root: str) -> str:
    return os.path.relpath(path, root) if path != root else "."


def stat_path(path: str) -> os.stat_result | None:
    """``lstat`` of a path (links are not followed); None when it is gone or unreadable."""
    try:
        return os.lstat(path)
    except OSError:
        return None


def build_row(
    event_type: str,
    path: str,
    root: str,
    *,
    event_time: float,
    stat: os.stat_result | None = None,
    project_name: str | None = None,
    old_path: str | None = None,
    detected_by: str = "watcher",
    detected_at: float | None = None,
) -> dict[str, Any]:
    """One ``file_change_events`` row, with every path column in escaped form.

    ``stat`` is the ``lstat`` of ``path`` when the event was handled (None: gone); a deleted
    file has no size. ``detected_at`` is given for a change a reconciliation found.
    """
    name = os.path.basename(path)
    size = None
    is_symlink = False
    if stat is not None and event_type != "deleted":
        is_symlink = stat_module.S_ISLNK(stat.st_mode)
        size = stat.st_size
    return {
        "event_time": event_time,
        "event_time_iso": iso_from_epoch(event_time),
        "event_type": event_type,
        "file_path": escape_path(path),
        "file_path_relative": escape_path(relative_to_root(path, root)),
        "file_name": escape_path(name),
        "file_extension": escape_path(ext) if (ext := file_extension(name)) else None,
        "file_size": size,
        "is_symlink": is_symlink,
        "monitored_root": escape_path(root),
        "project_name": escape_path(project_name) if project_name else None,
        "old_file_path": escape_path(old_path) if old_path else None,
        "detected_by": detected_by,
        "detected_at": detected_at,
    }


def state_changes(
    row: dict[str, Any], stat: os.stat_result | None, root: str, old_path: str | None = None
) -> list[tuple[str, str, tuple[int, int, int] | None]]:
    """What a row of :func:`build_row` tells of its tree's state (see
    :mod:`host_agent.store.file_changes`): the file now at its path (size, mtime_ns, inode;
    nothing when it is gone), and a move's source gone. Keys are the row's own escaped root and
    relative path."""
    key = row["monitored_root"]
    there = None if row["event_type"] == "deleted" or stat is None else (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    here = (key, row["file_path_relative"], there)
    if old_path is None:
        return [here]
    return [(key, escape_path(relative_to_root(old_path, root)), None), here]


class ProjectResolver:
    """Which project a file belongs to, by looking at the folders between it and its root.

    Nearest enclosing git repository (a folder holding ``.git``, a folder or a worktree's file),
    else the nearest folder holding one of :data:`PROJECT_MARKERS`, else the first folder under
    the monitored root (None for a file directly in the root). The search stops at the root.

    Answers are cached per folder for ``ttl`` seconds (a repository may be created later);
    :meth:`forget` drops the cache, which the watcher does when a marker file appears or goes.
    """

    def __init__(
        self,
        *,
        markers: Iterable[str] = PROJECT_MARKERS,
        ttl: float = 300.0,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.markers = tuple(markers)
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()  # the observer thread and a rescan thread both ask

    def is_marker(self, name: str) -> bool:
        return name == ".git" or name in self.markers

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def project_for(self, path: str, root: str) -> str | None:
        folder = os.path.dirname(path)
        key = (folder, root)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                self._cache.move_to_end(key)
                return hit[1]
        project = self._find(folder, root)
        with self._lock:
            self._cache[key] = (now, project)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return project

    def _find(self, folder: str, root: str) -> str | None:
        chain = _folders_up_to(folder, root)
        for candidate in chain:
            if os.path.lexists(os.path.join(candidate, ".git")):
                return os.path.basename(candidate)
        for candidate in chain:
            if any(os.path.lexists(os.path.join(candidate, marker)) for marker in self.markers):
                return os.path.basename(candidate)
        if folder == root or len(chain) < 2:
            return None
        return os.path.basename(chain[-2])


def _folders_up_to(folder: str, root: str) -> list[str]:
    """``folder`` and its parents up to and including ``root`` (nearest first)."""
    chain = [folder]
    while folder != root:
        parent = os.path.dirname(folder)
        if parent == folder or not parent.startswith(root):
            break
        folder = parent
        chain.append(folder)
    return chain
