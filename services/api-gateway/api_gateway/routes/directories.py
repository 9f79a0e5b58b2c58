"""``/api/v1/directories``: the plan's Phase 2.1 CRUD of monitored directories, plus toggle."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from api_gateway import directories as store
from api_gateway.auth import Principal, api_reader, api_writer
from api_gateway.directories import DirectoryIn, DirectoryOut
from api_gateway.errors import invalid

router = APIRouter(prefix="/api/v1/directories", tags=["directories"])
DirectoryId = Path(ge=1, le=2**31 - 1, description="the directory's id")
CONFLICT = {"detail": [{"parameter": "directory_path",
                        "message": "this path is already monitored for this host (or for every host)"}]}


def _unknown_host(exc: store.UnknownHost) -> JSONResponse:
    return invalid([{"parameter": "host_identifier", "message": str(exc)}])


def _not_found(directory_id: int) -> HTTPException:
    return HTTPException(404, f"no directory with id {directory_id}")


@router.get("", response_model=list[DirectoryOut], summary="every monitored directory")
async def list_all(request: Request, host: str | None = Query(None, max_length=255,
                   description="only the rows this host watches (its own and the shared ones)"),
                   enabled: bool | None = None, _: Principal = Depends(api_reader)):
    async with request.app.state.pool.acquire() as conn:
        return [dict(r) for r in await store.list_directories(conn, host, enabled)]


@router.get("/{directory_id}", response_model=DirectoryOut)
async def get_one(request: Request, directory_id: int = DirectoryId, _: Principal = Depends(api_reader)):
    async with request.app.state.pool.acquire() as conn:
        row = await store.get_directory(conn, directory_id)
    if row is None:
        raise _not_found(directory_id)
    return dict(row)


@router.post("", response_model=DirectoryOut, status_code=201, responses={409: {"description": "duplicate path"}})
async def create(request: Request, item: DirectoryIn, who: Principal = Depends(api_writer)):
    async with request.app.state.pool.acquire() as conn:
        try:
            row = await store.create_directory(conn, item, who.name)
        except store.DuplicateDirectory:
            return JSONResponse(CONFLICT, status_code=409)
        except store.UnknownHost as exc:
            return _unknown_host(exc)
    return JSONResponse(DirectoryOut(**row).model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/v1/directories/{row['id']}"})


@router.put("/{directory_id}", response_model=DirectoryOut, responses={409: {"description": "duplicate path"}})
async def replace(request: Request, item: DirectoryIn, directory_id: int = DirectoryId,
                  who: Principal = Depends(api_writer)):
    async with request.app.state.pool.acquire() as conn:
        try:
            row = await store.update_directory(conn, directory_id, item, who.name)
        except store.DuplicateDirectory:
            return JSONResponse(CONFLICT, status_code=409)
        except store.UnknownHost as exc:
            return _unknown_host(exc)
    if row is None:
        raise _not_found(directory_id)
    return dict(row)


@router.patch("/{directory_id}/toggle", response_model=DirectoryOut, summary="enable a disabled directory, or disable")
async def toggle(request: Request, directory_id: int = DirectoryId, who: Principal = Depends(api_writer)):
    async with request.app.state.pool.acquire() as conn:
        row = await store.toggle_directory(conn, directory_id, who.name)
    if row is None:
        raise _not_found(directory_id)
    return dict(row)


@router.delete("/{directory_id}", status_code=204)
async def delete(request: Request, directory_id: int = DirectoryId, _: Principal = Depends(api_writer)):
    async with request.app.state.pool.acquire() as conn:
        if not await store.delete_directory(conn, directory_id):
            raise _not_found(directory_id)
