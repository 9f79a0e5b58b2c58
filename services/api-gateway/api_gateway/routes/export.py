"""``/api/v1/export/{sessions,file-events}.{csv,json}``: a range with the search filters, streamed.

Rows are read by keyset in chunks and written as they come, so memory stays flat for any range.
In CSV, a cell that a spreadsheet would run as a formula (starting with = + - @ or a tab/CR) is
prefixed with an apostrophe: titles and paths are untrusted text, shown as text.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from collections.abc import AsyncIterator, Callable
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from api_gateway import search
from api_gateway.auth import Principal, api_reader
from api_gateway.routes.common import FileArgs, SessionArgs, file_args, session_args

router = APIRouter(prefix="/api/v1/export", tags=["export"])
CHUNK = 2000
SESSION_FIELDS = ["id", "host_identifier", "application_name", "window_title", "start_time", "end_time",
                  "duration_seconds", "origin_id", "local_id"]
FILE_FIELDS = ["id", "host_identifier", "event_time", "event_type", "file_path", "old_file_path", "file_name",
               "file_extension", "file_size", "is_symlink", "monitored_root", "project_name", "origin_id", "local_id",
               "detected_by", "detected_at"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


async def _rows(request: Request, query: Callable, flt, time_key: str) -> AsyncIterator[list]:
    after = None
    async with request.app.state.pool.acquire() as conn:
        while True:
            sql, values = query(flt, after, CHUNK)
            rows = await conn.fetch(sql, *values)
            if not rows:
                return
            yield rows
            if len(rows) < CHUNK:
                return
            after = (rows[-1][time_key], rows[-1]["id"])


def _stream(request: Request, fmt: str, name: str, query: Callable, args, time_key: str,
            to_json: Callable, fields: list[str]) -> StreamingResponse:
    flt = args.filter
    async def as_csv():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(fields)
        yield buffer.getvalue()
        async for rows in _rows(request, query, flt, time_key):
            buffer.seek(0)
            buffer.truncate()
            for row in rows:
                item = to_json(row)
                writer.writerow([csv_cell(item[f]) for f in fields])
            yield buffer.getvalue()

    async def as_json():
        yield "["
        first = True
        async for rows in _rows(request, query, flt, time_key):
            parts = []
            for row in rows:
                parts.append(("" if first else ",") + json.dumps(to_json(row), ensure_ascii=False))
                first = False
            yield "\n".join(parts)
        yield "]\n"

    start = args.range.start.astimezone(args.range.tz).date().isoformat()
    end = (args.range.end - timedelta(microseconds=1)).astimezone(args.range.tz).date().isoformat()
    filename = f"{name}_{start}_{end}.{fmt}"
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return StreamingResponse(as_csv() if fmt == "csv" else as_json(), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/sessions.{fmt}", summary="sessions of a range, streamed as CSV or JSON")
async def export_sessions(request: Request, fmt: Literal["csv", "json"], args: SessionArgs = Depends(session_args),
                          _: Principal = Depends(api_reader)):
    return _stream(request, fmt, "sessions", search.session_query, args, "start_time",
                   search.session_json, SESSION_FIELDS)


@router.get("/file-events.{fmt}", summary="file changes of a range, streamed as CSV or JSON")
async def export_file_events(request: Request, fmt: Literal["csv", "json"], args: FileArgs = Depends(file_args),
                             _: Principal = Depends(api_reader)):
    return _stream(request, fmt, "file-events", search.file_query, args, "event_time",
                   search.file_json, FILE_FIELDS)
