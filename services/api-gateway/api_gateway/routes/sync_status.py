"""``GET /api/v1/sync/status``: per host and table, how the sync is doing."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api_gateway import hosts
from api_gateway.auth import Principal, api_reader
from api_gateway.params import local_midnight, parse_tz, today_in
from api_gateway.routes.common import TZ, now

router = APIRouter(prefix="/api/v1/sync", tags=["sync"])


async def build_status(request: Request, tz: str | None) -> dict:
    zone = parse_tz(tz)
    moment = now(request)
    async with request.app.state.pool.acquire() as conn:
        tables = await hosts.sync_status(conn, moment, local_midnight(today_in(zone, moment), zone),
                                       local_midnight(today_in(zone, moment) + timedelta(days=1), zone))
        clocks = await hosts.clock_warnings(conn)
    return {"now": moment.isoformat(), "tz": zone.key, "tables": tables, "clocks": clocks}


@router.get("/status", summary="last success, last failure and reason, failing since, runs and rows today; "
            "hosts whose clock is over a minute off")
async def status(request: Request, tz: str | None = TZ, _: Principal = Depends(api_reader)):
    return JSONResponse(await build_status(request, tz))
