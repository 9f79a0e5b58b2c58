"""``/directories``: add, edit, toggle and delete monitored directories with plain HTML forms.

Every form carries the CSRF value; errors are shown next to the field they concern, with the
values the person typed kept in the form.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api_gateway import directories as store
from api_gateway.auth import CSRF_FIELD, Principal, page_reader, page_writer
from api_gateway.directories import DirectoryIn
from api_gateway.views import render

router = APIRouter()
DirectoryId = Path(ge=1, le=2**31 - 1)
FIELDS = ("directory_path", "display_name", "description", "host_identifier")
DONE = {"added": "Directory added.", "saved": "Changes saved.", "toggled": "Directory switched.",
        "deleted": "Directory deleted."}


async def _form(request: Request) -> tuple[dict, str | None]:
    form = await request.form()
    values = {name: str(form.get(name, ""))[:5000] for name in FIELDS}
    values["enabled"] = form.get("enabled") in ("on", "true", "1")
    return values, form.get(CSRF_FIELD)


def _validate(values: dict) -> tuple[DirectoryIn | None, dict[str, str]]:
    try:
        return DirectoryIn(**{k: (v if v != "" else None) if k != "directory_path" else v
                              for k, v in values.items()}), {}
    except ValidationError as exc:
        errors = {}
        for item in exc.errors(include_input=False):
            field = str(item["loc"][0]) if item["loc"] else "directory_path"
            errors.setdefault(field, item["msg"].removeprefix("Value error, "))
        return None, errors


async def _page(request: Request, who: Principal, *, errors=None, values=None, editing: int | None = None,
                status_code: int = 200):
    async with request.app.state.pool.acquire() as conn:
        rows = await store.list_directories(conn)
    return render(request, "directories.html", {
        "principal": who, "rows": rows, "errors": errors or {}, "values": values or {"enabled": True},
        "editing": editing, "done": DONE.get(request.query_params.get("done", "")),
    }, status_code=status_code)


@router.get("/directories")
async def directories_page(request: Request, who: Principal = Depends(page_reader)):
    return await _page(request, who)


@router.post("/directories")
async def add_directory(request: Request):
    values, csrf = await _form(request)
    who = page_writer(request, csrf)
    item, errors = _validate(values)
    if item is not None:
        async with request.app.state.pool.acquire() as conn:
            try:
                await store.create_directory(conn, item, who.name)
            except store.DuplicateDirectory:
                errors = {"directory_path": "this path is already monitored for this host (or for every host)"}
            except store.UnknownHost as exc:
                errors = {"host_identifier": str(exc)}
    if errors:
        return await _page(request, who, errors=errors, values=values, status_code=422)
    return RedirectResponse("/directories?done=added", status_code=303)


@router.post("/directories/{directory_id}")
async def edit_directory(request: Request, directory_id: int = DirectoryId):
    values, csrf = await _form(request)
    who = page_writer(request, csrf)
    item, errors = _validate(values)
    if item is not None:
        async with request.app.state.pool.acquire() as conn:
            try:
                row = await store.update_directory(conn, directory_id, item, who.name)
            except store.DuplicateDirectory:
                errors = {"directory_path": "this path is already monitored for this host (or for every host)"}
            except store.UnknownHost as exc:
                errors = {"host_identifier": str(exc)}
            else:
                if row is None:
                    raise HTTPException(404, f"no directory with id {directory_id}")
    if errors:
        return await _page(request, who, errors=errors, values=values, editing=directory_id, status_code=422)
    return RedirectResponse("/directories?done=saved", status_code=303)


@router.post("/directories/{directory_id}/toggle")
async def toggle_directory(request: Request, directory_id: int = DirectoryId):
    form = await request.form()
    who = page_writer(request, form.get(CSRF_FIELD))
    async with request.app.state.pool.acquire() as conn:
        if await store.toggle_directory(conn, directory_id, who.name) is None:
            raise HTTPException(404, f"no directory with id {directory_id}")
    return RedirectResponse("/directories?done=toggled", status_code=303)


@router.get("/directories/{directory_id}/delete")
async def confirm_delete(request: Request, directory_id: int = DirectoryId, who: Principal = Depends(page_reader)):
    async with request.app.state.pool.acquire() as conn:
        row = await store.get_directory(conn, directory_id)
    if row is None:
        raise HTTPException(404, f"no directory with id {directory_id}")
    return render(request, "directory_delete.html", {"principal": who, "row": row})


@router.post("/directories/{directory_id}/delete")
async def delete_directory(request: Request, directory_id: int = DirectoryId):
    form = await request.form()
    page_writer(request, form.get(CSRF_FIELD))
    async with request.app.state.pool.acquire() as conn:
        if not await store.delete_directory(conn, directory_id):
            raise HTTPException(404, f"no directory with id {directory_id}")
    return RedirectResponse("/directories?done=deleted", status_code=303)
