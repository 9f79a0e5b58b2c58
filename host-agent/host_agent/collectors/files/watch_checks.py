"""Whether a folder can be watched, and which folders of a watched tree have no inotify watch.

watchdog adds one inotify watch per folder of a recursive tree, and when one cannot be added
below the root (the per-user limit ``fs.inotify.max_user_watches`` is reached, or the folder is
not readable) it carries on silently. The kernel lists every watch of an inotify descriptor in
``/proc/self/fdinfo/<fd>`` (``inotify wd:.. ino:.. sdev:..``, see proc(5)); comparing those inodes
with the folders found on disk tells which folders are not watched.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
_WATCH_LINE = re.compile(r"^inotify wd:\S+ ino:([0-9a-f]+) sdev:([0-9a-f]+)", re.MULTILINE)
#: watchdog adds watches for folders created meanwhile from its own thread: look again after this.
SETTLE_SECONDS = 0.2
#: Folders named in a warning; the count says how many more.
SHOWN = 5


def is_within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it."""
    return (path.rstrip("/") + "/").startswith(folder.rstrip("/") + "/")


def folder_problem(path: str, data_dir: str | None) -> tuple[str, str | None]:
    """The folder to watch for ``path`` (a link resolved) and what keeps it from being watched."""
    real = os.path.realpath(path)
    shown = os.fsencode(real).decode("utf-8", "backslashreplace")
    if not os.path.lexists(path):
        return real, "does not exist"
    if not os.path.isdir(real):
        return real, "is not a folder" if real == path else f"is a link to {shown}, which is not a folder"
    if not os.access(real, os.R_OK | os.X_OK):
        return real, "is not readable"
    if data_dir is not None and is_within(real, data_dir):
        return real, "is inside the agent's data folder"
    return real, None


def max_user_watches() -> int | None:
    try:
        return int(MAX_USER_WATCHES.read_text().strip())
    except (OSError, ValueError):
        return None


def limit_advice() -> str:
    limit = max_user_watches()
    now = f" (now {limit})" if limit is not None else ""
    suggested = 2 * limit if limit else 524288
    return (
        f"the inotify watch limit fs.inotify.max_user_watches is reached{now}; raise it with "
        f"'sysctl -w fs.inotify.max_user_watches={suggested}' (and a file in /etc/sysctl.d/ to keep it)"
    )


def watched_inodes() -> set[tuple[int, int]]:
    """(inode, device) of every inotify watch this process holds."""
    found: set[tuple[int, int]] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            text = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue  # closed meanwhile (the listing itself used a descriptor)
        for match in _WATCH_LINE.finditer(text):
            sdev = int(match.group(2), 16)  # the kernel's dev_t: major << 20 | minor
            found.add((int(match.group(1), 16), os.makedev(sdev >> 20, sdev & 0xFFFFF)))
    return found


def _folders(root: str) -> list[tuple[str, tuple[int, int]]]:
    folders = []
    for current, dirnames, _ in os.walk(root, followlinks=False):
        for name in dirnames:
            path = os.path.join(current, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not os.path.islink(path):
                folders.append((path, (st.st_ino, st.st_dev)))
    return folders


def unwatched_folders(root: str) -> list[str]:
    """Folders below ``root`` (links not followed) that have no inotify watch of this process."""
    folders = _folders(root)
    if not folders:
        return []
    watched = watched_inodes()
    missing = [(p, key) for p, key in folders if key not in watched]
    if missing:
        time.sleep(SETTLE_SECONDS)
        watched = watched_inodes()
        missing = [(p, key) for p, key in missing if key not in watched and os.path.isdir(p)]
    return sorted(p for p, _ in missing)


def describe_unwatched(configured: Path, folders: list[str]) -> str:
    unreadable = [f for f in folders if not os.access(f, os.R_OK | os.X_OK)]
    limited = [f for f in folders if f not in set(unreadable)]
    parts = []
    if limited:
        parts.append(f"{_folders_are(len(limited))} not watched: {_sample(limited)}: {limit_advice()}")
    if unreadable:
        parts.append(f"{_folders_are(len(unreadable))} not readable and not watched: {_sample(unreadable)}")
    shown = os.fsencode(configured).decode("utf-8", "backslashreplace")
    return f"monitored directory {shown}: " + "; ".join(parts)


def _folders_are(count: int) -> str:
    return "1 folder is" if count == 1 else f"{count} folders are"


def _sample(folders: list[str]) -> str:
    shown = ", ".join(os.fsencode(f).decode("utf-8", "backslashreplace") for f in folders[:SHOWN])
    more = len(folders) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
