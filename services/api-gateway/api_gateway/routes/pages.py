"""The dashboard's read-only pages: overview, timeline, sessions, files, sync.

Each page is rendered on the server from the same queries as the API; charts get their data as
JSON inside the page (``tojson`` escapes it) and draw it with the project's own ECharts copy.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Depends, Query, Request

from api_gateway import hosts, summary
from api_gateway.auth import Principal, page_reader
from api_gateway.params import ParameterError, clean_text, local_midnight, parse_date, parse_range, today_in
from api_gateway.periods import PERIODS, next_period_start, period_start, periods_between
from api_gateway.routes import pages_directories, pages_login
from api_gateway.routes.activities import build_timeline, file_page, session_page
from api_gateway.routes.common import CURSOR, FileArgs, SessionArgs, now
from api_gateway.search import EVENT_TYPES, FileFilter, SessionFilter
from api_gateway.views import render, viewer_tz

router = APIRouter(include_in_schema=False)
router.include_router(pages_login.router)
router.include_router(pages_directories.router)
PAGE_SIZE = 50
# The host filter's choices: every host with rows (host_table_totals, 10) or sync runs. sync_logs
# holds a row per host and table every 5 minutes (millions a year): its distinct hosts are found
# by skipping along its (host, table, started) index, one probe per host, not by reading it all.
HOST_NAMES_SQL = """
WITH RECURSIVE logged AS (
    SELECT min(COALESCE(host_identifier, '')) AS host FROM sync_logs
    UNION ALL
    SELECT (SELECT min(COALESCE(l.host_identifier, '')) FROM sync_logs l WHERE COALESCE(l.host_identifier, '') > logged.host)
    FROM logged WHERE logged.host IS NOT NULL
)
SELECT host FROM logged WHERE host <> ''
UNION SELECT host_identifier FROM host_table_totals WHERE rows > 0 AND host_identifier <> ''
ORDER BY 1
"""


def _previous_period(day: date, period: str) -> date:
    first = period_start(day, period)
    return period_start(first - timedelta(days=1), period)


@router.get("/")
async def overview(request: Request, period: str = Query("day", max_length=5), date_: str | None = Query(
        None, alias="date", max_length=10), host: str | None = Query(None, max_length=255),
        who: Principal = Depends(page_reader)):
    tz = viewer_tz(request)
    if period not in PERIODS:
        raise ParameterError("period", "must be day, week or month")
    day = parse_date(date_, "date") if date_ else today_in(tz, now(request))
    host = clean_text(host, "host", 255)
    first = period_start(day, period)
    lower, upper = local_midnight(first, tz), local_midnight(next_period_start(first, period), tz)
    whole = periods_between(lower, upper, period, tz)
    year = periods_between(local_midnight(date(day.year, 1, 1), tz), local_midnight(date(day.year + 1, 1, 1), tz),
                           "day", tz)
    async with request.app.state.pool.acquire() as conn:
        apps = (await summary.summarize(conn, whole, "application", host))[0]
        projects = (await summary.summarize(conn, whole, "project", host))[0]
        by_host = (await summary.summarize(conn, whole, "host", None))[0]
        days = await summary.summarize(conn, year, "none", host)
        host_names = [r["host"] for r in await conn.fetch(HOST_NAMES_SQL)]
    heatmap = [[d["label"], round(d["active_seconds"] / 3600, 2)] for d in days if d["active_seconds"]]
    return render(request, "overview.html", {
        "principal": who, "tz": tz.key, "period": period, "day": day, "host": host, "hosts": host_names,
        "label": whole[0].label, "apps": apps, "projects": projects, "by_host": by_host,
        "previous": _previous_period(day, period).isoformat(), "next": next_period_start(first, period).isoformat(),
        "chart": {"apps": [[g["key"], round(g["active_seconds"] / 60, 1)] for g in apps["groups"][:15]],
                  "heatmap": heatmap, "year": day.year},
    })


@router.get("/timeline")
async def timeline_page(request: Request, date_: str | None = Query(None, alias="date", max_length=10),
                        host: str | None = Query(None, max_length=255), who: Principal = Depends(page_reader)):
    tz = viewer_tz(request)
    host = clean_text(host, "host", 255)
    data = await build_timeline(request, date_, tz.key, host)
    day = date.fromisoformat(data["date"])
    return render(request, "timeline.html", {
        "principal": who, "tz": tz.key, "data": data, "day": day, "host": host,
        "previous": (day - timedelta(days=1)).isoformat(), "next": (day + timedelta(days=1)).isoformat(),
    })


def _form_value(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


@router.get("/sessions")
async def sessions_page(request: Request, cursor: str | None = CURSOR, who: Principal = Depends(page_reader)):
    tz = viewer_tz(request)
    form = {k: _form_value(request, k) for k in ("start", "end", "host", "application", "q")}
    r = parse_range(form["start"], form["end"], tz, now(request))
    flt = SessionFilter(r.start, r.end, clean_text(form["host"], "host", 255),
                        clean_text(form["application"], "application"), clean_text(form["q"], "q"))
    async with request.app.state.pool.acquire() as conn:
        page = await session_page(conn, SessionArgs(r, flt), cursor, PAGE_SIZE, request.app.state.settings.search_seconds)
    return render(request, "sessions.html", {"principal": who, "tz": tz.key, "form": form, "page": page,
                                             "query": _query_without(request, "cursor")})


@router.get("/files")
async def files_page(request: Request, cursor: str | None = CURSOR, who: Principal = Depends(page_reader)):
    tz = viewer_tz(request)
    form = {k: _form_value(request, k) for k in ("start", "end", "host", "project", "extension", "event_type", "q")}
    if form["event_type"] and form["event_type"] not in EVENT_TYPES:
        raise ParameterError("event_type", f"must be one of {', '.join(EVENT_TYPES)}")
    r = parse_range(form["start"], form["end"], tz, now(request))
    flt = FileFilter(r.start, r.end, clean_text(form["host"], "host", 255), clean_text(form["project"], "project"),
                     clean_text(form["extension"], "extension", 50), form["event_type"], clean_text(form["q"], "q"))
    async with request.app.state.pool.acquire() as conn:
        page = await file_page(conn, FileArgs(r, flt), cursor, PAGE_SIZE, request.app.state.settings.search_seconds)
    return render(request, "files.html", {"principal": who, "tz": tz.key, "form": form, "page": page,
                                          "event_types": EVENT_TYPES, "query": _query_without(request, "cursor")})


def _query_without(request: Request, name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k != name and v]


@router.get("/sync")
async def sync_page(request: Request, who: Principal = Depends(page_reader)):
    tz = viewer_tz(request)
    moment = now(request)
    async with request.app.state.pool.acquire() as conn:
        tables = await hosts.sync_status(conn, moment, local_midnight(today_in(tz, moment), tz),
                                       local_midnight(today_in(tz, moment) + timedelta(days=1), tz))
        runs = await hosts.recent_runs(conn, 50)
        clocks = await hosts.clock_warnings(conn)
        outages = await conn.fetch(
            "SELECT host_identifier, table_name, sync_started_at, error_message FROM sync_logs "
            "WHERE status = 'failed' AND sync_started_at >= $1 ORDER BY sync_started_at DESC LIMIT 20",
            moment - hosts.HISTORY)
    return render(request, "sync.html", {"principal": who, "tz": tz.key, "tables": tables, "runs": runs,
                                         "outages": outages, "clocks": clocks})

