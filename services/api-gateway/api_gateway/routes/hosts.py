"""``GET /api/v1/hosts``: every host that ever synced, by id with its current name (see ``api_gateway.hosts``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api_gateway import hosts
from api_gateway.auth import Principal, api_reader
from api_gateway.routes.common import now

router = APIRouter(prefix="/api/v1/hosts", tags=["hosts"])


@router.get("", summary="hosts by id: current and previous names, origins, first and last seen, rows per table, "
            "last sync, sync lag, agent version, clock offset")
async def list_hosts(request: Request, _: Principal = Depends(api_reader)):
    async with request.app.state.pool.acquire() as conn:
        return JSONResponse(await hosts.list_hosts(conn, now(request)))
