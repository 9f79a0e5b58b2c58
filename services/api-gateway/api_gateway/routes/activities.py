"""``/api/v1/activities/...``: searching sessions and file changes, summaries, a day's timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api_gateway import search, summary
from api_gateway.day_lanes import day_lanes
from api_gateway.auth import Principal, api_reader
from api_gateway.params import decode_cursor, encode_cursor, local_midnight, parse_date, parse_range, parse_tz, today_in
from api_gateway.periods import periods_between, period_start, next_period_start
from api_gateway.routes.common import CURSOR, END, HOST, LIMIT, START, TZ, FileArgs, SessionArgs, file_args, now, session_args

# Routes return JSONResponse of plain JSON values: FastAPI's generic encoder walks every value
# of a response again, which on a busy day's timeline cost more than the query.
router = APIRouter(prefix="/api/v1/activities", tags=["activities"])


async def session_page(conn, args: SessionArgs, cursor: str | None, limit: int) -> dict:
    after = decode_cursor(cursor, "s")
    sql, values = search.session_query(args.filter, after, limit + 1)
    rows = await conn.fetch(sql, *values)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [search.session_json(r) for r in rows],
            "next_cursor": encode_cursor("s", rows[-1]["start_time"], rows[-1]["id"]) if more else None}


async def file_page(conn, args: FileArgs, cursor: str | None, limit: int) -> dict:
    after = decode_cursor(cursor, "f")
    sql, values = search.file_query(args.filter, after, limit + 1)
    rows = await conn.fetch(sql, *values)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [search.file_json(r) for r in rows],
            "next_cursor": encode_cursor("f", rows[-1]["event_time"], rows[-1]["id"]) if more else None}


@router.get("/sessions", summary="desktop sessions that started in the range, newest first")
async def sessions(request: Request, args: SessionArgs = Depends(session_args), limit: int = LIMIT,
                   cursor: str | None = CURSOR, _: Principal = Depends(api_reader)):
    async with request.app.state.pool.acquire() as conn:
        return JSONResponse(await session_page(conn, args, cursor, limit))


@router.get("/file-events", summary="file changes in the range, newest first")
async def file_events(request: Request, args: FileArgs = Depends(file_args), limit: int = LIMIT,
                      cursor: str | None = CURSOR, _: Principal = Depends(api_reader)):
    async with request.app.state.pool.acquire() as conn:
        return JSONResponse(await file_page(conn, args, cursor, limit))


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
