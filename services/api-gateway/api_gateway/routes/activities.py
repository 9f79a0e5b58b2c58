"""``/api/v1/activities/...``: searching sessions and file changes, summaries, a day's timeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api_gateway import search, summary
from api_gateway.day_lanes import day_lanes
from api_gateway.auth import Principal, api_reader
from api_gateway.params import Cursor, decode_cursor, encode_cursor, local_midnight, parse_date, parse_range, parse_tz, today_in
from api_gateway.periods import periods_between, period_start, next_period_start
from api_gateway.routes.common import CURSOR, END, HOST, LIMIT, START, TZ, FileArgs, SessionArgs, file_args, now, session_args

# Routes return JSONResponse of plain JSON values: FastAPI's generic encoder walks every value
# of a response again, which on a busy day's timeline cost more than the query.
router = APIRouter(prefix="/api/v1/activities", tags=["activities"])


async def session_page(conn, args: SessionArgs, cursor: str | None, limit: int, search_seconds: float) -> dict:
    """A page of sessions, newest first. A text search reads back in windows (see
    :func:`_read_back`), walking the start-time index with bitmap scans off: the trigram indexes
    schema 12 had (dropped in 18) were estimated to hold 798 matches for a phrase 160,000 of 8
    million sessions hold, and the bitmap plan read every match of every year before the page."""
    after = decode_cursor(cursor, "s")
    flt = args.filter
    if not search.session_needs_windows(flt):
        sql, values = search.session_query(flt, after and after.position, limit + 1)
        return _page(await conn.fetch(sql, *values), limit, SESSIONS)
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        rows, stopped = await _read_back(conn, flt, after, limit, search.session_query, search_seconds)
    return _page(rows, limit, SESSIONS, stopped)


async def file_page(conn, args: FileArgs, cursor: str | None, limit: int, search_seconds: float) -> dict:
    """A page of file changes, newest first; a search the time indexes cannot answer reads back in
    windows (see :func:`_read_back`)."""
    after = decode_cursor(cursor, "f")
    flt = args.filter
    if not search.file_needs_windows(flt):
        sql, values = search.file_query(flt, after and after.position, limit + 1)
        return _page(await conn.fetch(sql, *values), limit, FILES)
    rows, stopped = await _read_back(conn, flt, after, limit, search.file_query, search_seconds)
    return _page(rows, limit, FILES, stopped)


@dataclass(frozen=True)
class ReadBack:
    """Where a search reading back stopped, and the span the next page's first window takes."""

    stopped_at: datetime
    window: timedelta


async def _read_back(conn, flt, after: Cursor | None, limit: int, query,
                     search_seconds: float) -> tuple[list, ReadBack | None]:
    """Up to ``limit + 1`` rows of ``query``, read back in time window by window
    (:mod:`api_gateway.search`) for at most ``search_seconds``, starting with the window the
    cursor carries; and where it stopped, if it stopped before the start of the range with fewer
    rows (``None`` otherwise)."""
    rows: list = []
    started = time.monotonic()
    if after:
        upper, span, position = min(after.moment, flt.end), after.window or search.FIRST_WINDOW, after.position
    else:
        upper, span, position = flt.end, search.FIRST_WINDOW, None
    while True:
        lower = max(flt.start, upper - span)
        window_started = time.monotonic()
        sql, values = query(replace(flt, start=lower), position, limit + 1 - len(rows))
        rows += await conn.fetch(sql, *values)
        if len(rows) > limit or lower <= flt.start:
            return rows, None
        position, upper = (lower, 0), lower  # every row from lower on was read: (time, id) < (lower, 0) is the rest
        spent = time.monotonic() - started
        took = time.monotonic() - window_started
        if spent >= search_seconds:  # the next page goes on with what a whole budget allows at this pace
            return rows, ReadBack(lower, search.next_window(span, took, search_seconds))
        span = search.next_window(span, took, search_seconds - spent)


#: (cursor kind, time column, row to JSON) of each searched table.
SESSIONS = ("s", "start_time", search.session_json)
FILES = ("f", "event_time", search.file_json)


def _page(rows: list, limit: int, table: tuple, stopped: ReadBack | None = None) -> dict:
    """``rows`` up to ``limit`` and the cursor after them: after the last row if there are more,
    at where the search stopped if it stopped before the start of its range (carrying its last
    window's span, so that the next page goes on at that pace). ``searched_back_to`` says how far
    back a search that stopped read (``None``: the page is full, or the range was read)."""
    kind, time_column, to_json = table
    more = len(rows) > limit
    rows = rows[:limit]
    if more:
        cursor = encode_cursor(kind, rows[-1][time_column], rows[-1]["id"])
    else:
        cursor = encode_cursor(kind, stopped.stopped_at, 0, stopped.window) if stopped is not None else None
    return {"items": [to_json(r) for r in rows], "next_cursor": cursor,
            "searched_back_to": stopped.stopped_at.isoformat() if stopped is not None and not more else None}


@router.get("/sessions", summary="desktop sessions that started in the range, newest first")
async def sessions(request: Request, args: SessionArgs = Depends(session_args), limit: int = LIMIT,
                   cursor: str | None = CURSOR, _: Principal = Depends(api_reader)):
    async with request.app.state.pool.acquire() as conn:
        return JSONResponse(await session_page(conn, args, cursor, limit, request.app.state.settings.search_seconds))


@router.get("/file-events", summary="file changes in the range, newest first")
async def file_events(request: Request, args: FileArgs = Depends(file_args), limit: int = LIMIT,
                      cursor: str | None = CURSOR, _: Principal = Depends(api_reader)):
    async with request.app.state.pool.acquire() as conn:
        return JSONResponse(await file_page(conn, args, cursor, limit, request.app.state.settings.search_seconds))


async def build_summary(request: Request, period: str, group_by: str, start: str | None, end: str | None,
                        tz: str | None, host: str | None) -> dict:
    zone = parse_tz(tz)
    if start is None and end is None:
        first = period_start(today_in(zone, now(request)), period)
        start_at, end_at = local_midnight(first, zone), local_midnight(next_period_start(first, period), zone)
    else:
        r = parse_range(start, end, zone, now(request))
        start_at, end_at = r.start, r.end
    periods = periods_between(start_at, end_at, period, zone)
    async with request.app.state.pool.acquire() as conn:
        rows = await summary.summarize(conn, periods, group_by, host)
    return {"period": period, "group_by": group_by, "tz": zone.key, "host": host,
            "start": start_at.isoformat(), "end": end_at.isoformat(), "periods": rows}


@router.get("/summary", summary="active seconds and counts per period, sessions clipped at period edges "
            "(group_by=none: totals only)")
async def summary_route(request: Request, period: Literal["day", "week", "month"] = "day",
                        group_by: Literal["application", "project", "host", "extension", "none"] = "application",
                        start: str | None = START, end: str | None = END, tz: str | None = TZ,
                        host: str | None = HOST, _: Principal = Depends(api_reader)):
    return JSONResponse(await build_summary(request, period, group_by, start, end, tz, host))


async def build_timeline(request: Request, day: str | None, tz: str | None, host: str | None) -> dict:
    zone = parse_tz(tz)
    the_day = parse_date(day, "date") if day else today_in(zone, now(request))
    lower, upper = local_midnight(the_day, zone), local_midnight(the_day + timedelta(days=1), zone)
    async with request.app.state.pool.acquire() as conn:
        found = await day_lanes(conn, lower, upper, host)
    return {"date": the_day.isoformat(), "tz": zone.key, "start": lower.isoformat(), "end": upper.isoformat(),
            "lanes": found.lanes,
            "merged_within_seconds": found.merged_within.total_seconds() if found.merged_within is not None else None}


@router.get("/timeline", summary="one day as lanes per host, sessions clipped to the day, short runs merged")
async def timeline(request: Request, date: str | None = Query(None, max_length=10, description="YYYY-MM-DD; default today"),
                   tz: str | None = TZ, host: str | None = HOST, _: Principal = Depends(api_reader)):
    return JSONResponse(await build_timeline(request, date, tz, host))
