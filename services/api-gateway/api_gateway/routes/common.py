"""Query parameters shared by the activity, export and page routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from fastapi import Query, Request

from api_gateway.params import MAX_LIMIT, ParameterError, TimeRange, clean_text, parse_range, parse_tz
from api_gateway.search import EVENT_TYPES, FileFilter, SessionFilter

START = Query(None, max_length=40, description="a date (inclusive) or an ISO 8601 time; default: 7 days before end")
END = Query(None, max_length=40, description="a date (inclusive) or an ISO 8601 time; default: today")
TZ = Query(None, max_length=64, description="IANA time zone of the viewer, e.g. Asia/Tokyo; default UTC")
HOST = Query(None, max_length=255, description="a host id (see /api/v1/hosts), or a name: every host so named "
             "now, else every host once so named")
LIMIT = Query(100, ge=1, le=MAX_LIMIT)
CURSOR = Query(None, max_length=200, description="next_cursor of the previous page")
Q = Query(None, max_length=200, description="text searched in titles or paths (substring, any case)")


def now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock else datetime.now(timezone.utc)


def time_range(request: Request, start: str | None, end: str | None, tz: str | None) -> TimeRange:
    return parse_range(start, end, parse_tz(tz), now(request))


@dataclass(frozen=True)
class SessionArgs:
    range: TimeRange
    filter: SessionFilter


def session_args(request: Request, start: str | None = START, end: str | None = END, tz: str | None = TZ,
                 host: str | None = HOST, application: str | None = Query(None, max_length=200),
                 q: str | None = Q) -> SessionArgs:
    r = time_range(request, start, end, tz)
    return SessionArgs(r, SessionFilter(r.start, r.end, clean_text(host, "host", 255),
                                        clean_text(application, "application"), clean_text(q, "q")))


@dataclass(frozen=True)
class FileArgs:
    range: TimeRange
    filter: FileFilter


def file_args(request: Request, start: str | None = START, end: str | None = END, tz: str | None = TZ,
              host: str | None = HOST, project: str | None = Query(None, max_length=200),
              extension: str | None = Query(None, max_length=50),
              event_type: str | None = Query(None, description=f"one of {', '.join(EVENT_TYPES)}"),
              q: str | None = Q) -> FileArgs:
    if event_type is not None and event_type != "" and event_type not in EVENT_TYPES:
        raise ParameterError("event_type", f"must be one of {', '.join(EVENT_TYPES)}")
    r = time_range(request, start, end, tz)
    return FileArgs(r, FileFilter(r.start, r.end, clean_text(host, "host", 255), clean_text(project, "project"),
                                  clean_text(extension, "extension", 50), event_type or None, clean_text(q, "q")))
