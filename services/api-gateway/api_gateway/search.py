"""Searching the raw rows: filters, keyset pages (newest first) and the SQL they become.

Every query is bounded by a time range and pages by ``(time, id) < (cursor time, cursor id)``,
never ``OFFSET``: the cost of page 100 is the cost of page 1. Values only travel as parameters;
the SQL text is made only of the fixed fragments below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api_gateway.hosts import host_filter

EVENT_TYPES = ("created", "modified", "deleted", "moved")
#: The expression for a session's end: an open session (no end synced yet) counts as lasting
#: what the agent last reported as its duration.
SESSION_END = "COALESCE(s.end_time, s.start_time + make_interval(secs => COALESCE(s.duration_seconds, 0)))"

SESSION_COLUMNS = (
    "s.id, s.host_identifier, s.application_name, s.window_title, s.start_time, s.end_time, "
    "s.duration_seconds, s.origin_id, s.local_id"
)


FILE_COLUMNS = (
    "f.id, f.host_identifier, f.event_time, f.event_type, f.file_path, f.old_file_path, f.file_name, "
    "f.file_extension, f.file_size, f.is_symlink, f.monitored_root, f.project_name, f.origin_id, f.local_id, "
    "f.detected_by, f.detected_at"
)


def like_pattern(text: str) -> str:
    """``text`` as a literal ILIKE substring pattern (its % _ and \\ escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class SessionFilter:
    start: datetime
    end: datetime
    host: str | None = None
    application: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class FileFilter:
    start: datetime
    end: datetime
    host: str | None = None
    project: str | None = None
    extension: str | None = None
    event_type: str | None = None
    q: str | None = None


class _Builder:
    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[object] = []

    def add(self, fragment: str, *values: object) -> None:
        numbers = []
        for value in values:
            self.args.append(value)
            numbers.append(f"${len(self.args)}")
        self.conditions.append(fragment.format(*numbers))

    def where(self) -> str:
        return " AND ".join(self.conditions) or "TRUE"


def session_query(f: SessionFilter, after: tuple[datetime, int] | None, limit: int) -> tuple[str, list]:
    b = _Builder()
    b.add("s.start_time >= {}", f.start)
    b.add("s.start_time < {}", f.end)
    if f.host:
        b.add(host_filter("s", "{0}"), f.host)
    if f.application:
        b.add("s.application_name = {}", f.application)
    if f.q:
        b.add("(s.window_title ILIKE {0} OR s.application_name ILIKE {0})", like_pattern(f.q))
    if after:
        b.add("(s.start_time, s.id) < ({}, {})", *after)
    b.args.append(limit)
    sql = (f"SELECT {SESSION_COLUMNS} FROM desktop_activity_sessions s WHERE {b.where()} "
           f"ORDER BY s.start_time DESC, s.id DESC LIMIT ${len(b.args)}")
    return sql, b.args


def file_query(f: FileFilter, after: tuple[datetime, int] | None, limit: int) -> tuple[str, list]:
    b = _Builder()
    b.add("f.event_time >= {}", f.start)
    b.add("f.event_time < {}", f.end)
    if f.host:
        b.add(host_filter("f", "{0}"), f.host)
    if f.project:
        b.add("f.project_name = {}", f.project)
    if f.extension:
        b.add("f.file_extension = {}", f.extension.lower().lstrip("."))
    if f.event_type:
        b.add("f.event_type = {}", f.event_type)
    if f.q:
        b.add("f.file_path ILIKE {}", like_pattern(f.q))
    if after:
        b.add("(f.event_time, f.id) < ({}, {})", *after)
    b.args.append(limit)
    sql = (f"SELECT {FILE_COLUMNS} FROM file_change_events f WHERE {b.where()} "
           f"ORDER BY f.event_time DESC, f.id DESC LIMIT ${len(b.args)}")
    return sql, b.args


# -- reading a search back in time, window by window --------------------------------------
#
# The time index (alone or per host) walks rows newest first, so a page of a search it answers
# costs a page. A filter it cannot answer (a path or title substring, a project, an extension, an
# event type) makes PostgreSQL read every row of the range until the page is full: a rare name
# over a year of 10 million changes is seconds. Such a search therefore reads back in windows,
# each twice the last (or what the time left allows at the last one's pace), and after
# ``Settings.search_seconds`` answers with what it found and a cursor at the edge it reached:
# the next page searches further back from there.

#: The first window of a windowed search, back from the range's end (or the cursor).
FIRST_WINDOW = timedelta(hours=6)


def file_needs_windows(f: FileFilter) -> bool:
    """Whether a file filter holds a condition the time indexes cannot answer."""
    return bool(f.q or f.project or f.extension or f.event_type)


def session_needs_windows(f: SessionFilter) -> bool:
    """Whether a session filter searches text (the application alone is estimated well, and the
    planner walks the time index for it)."""
    return bool(f.q)


def next_window(span: timedelta, took: float, left: float) -> timedelta:
    """The span of the next window: twice the last one's, or less if at the pace of the last
    (``took`` seconds for ``span``) twice would overrun the ``left`` seconds; never under
    :data:`FIRST_WINDOW`."""
    if took <= 0:
        return span * 2
    return max(FIRST_WINDOW, min(span * 2, span * (left / took)))


def session_json(row) -> dict:
    return {
        "id": row["id"],
        "host_identifier": row["host_identifier"],
        "application_name": row["application_name"],
        "window_title": row["window_title"],
        "start_time": row["start_time"].isoformat(),
        "end_time": row["end_time"].isoformat() if row["end_time"] else None,
        "duration_seconds": row["duration_seconds"],
        "origin_id": str(row["origin_id"]) if row["origin_id"] else None,
        "local_id": row["local_id"],
    }


def file_json(row) -> dict:
    return {
        "id": row["id"],
        "host_identifier": row["host_identifier"],
        "event_time": row["event_time"].isoformat(),
        "event_type": row["event_type"],
        "file_path": row["file_path"],
        "old_file_path": row["old_file_path"],
        "file_name": row["file_name"],
        "file_extension": row["file_extension"],
        "file_size": row["file_size"],
        "is_symlink": row["is_symlink"],
        "monitored_root": row["monitored_root"],
        "project_name": row["project_name"],
        "origin_id": str(row["origin_id"]) if row["origin_id"] else None,
        "local_id": row["local_id"],
        # 'watcher', or 'reconciliation': found at the agent's start-up (changed while it was not watching)
        "detected_by": row["detected_by"] or "watcher",
        "detected_at": row["detected_at"].isoformat() if row["detected_at"] else None,
    }
