"""``GET /health``: PostgreSQL reachable and its schema version; 503 with the reason when not.
Open to every caller, token or not (load balancers and Docker health checks have none)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from reprospective_db.schema import current_versions, latest_version, load_migrations

from api_gateway.db import REQUIRED_VERSION, describe_error
from api_gateway.errors import UNAVAILABLE

router = APIRouter(tags=["health"])


@router.get("/health", summary="PostgreSQL reachable, schema version")
async def health(request: Request):
    settings = request.app.state.settings
    try:
        async with request.app.state.pool.acquire(timeout=settings.connect_timeout) as conn:
            versions = await current_versions(conn)
    except UNAVAILABLE as exc:
        return JSONResponse({"status": "unavailable", "reason": describe_error(exc, settings)}, status_code=503)
    version = max(versions, default=0)
    body = {"status": "ok", "schema_version": version, "schema_latest": latest_version()}
    missing = sorted({m.version for m in load_migrations() if m.version <= REQUIRED_VERSION} - versions)
    if missing:
        body |= {"status": "unavailable",
                 "reason": f"schema version(s) {', '.join(map(str, missing))} not applied: run reprospective-db upgrade"}
        return JSONResponse(body, status_code=503)
    return body
