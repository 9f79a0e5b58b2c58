"""Turning failures into responses: 422 naming the parameter, 503 when PostgreSQL is away, and
never a stack trace or a secret in a response."""

from __future__ import annotations

import logging
from urllib.parse import quote

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api_gateway.auth import LoginRequired
from api_gateway.db import describe_error
from api_gateway.params import ParameterError

log = logging.getLogger(__name__)

UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
               asyncpg.CannotConnectNowError, asyncpg.QueryCanceledError)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def invalid(items: list[dict]) -> JSONResponse:
    return JSONResponse({"detail": items}, status_code=422)


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header", "cookie", "form")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ParameterError)
    async def _parameter(request: Request, exc: ParameterError):
        if _wants_html(request):
            return request.app.state.templates.TemplateResponse(
                request, "error.html", {"status": 422, "message": f"{exc.parameter}: {exc.message}"}, status_code=422)
        return invalid([{"parameter": exc.parameter, "message": exc.message}])

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        items = []
        for error in exc.errors():
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            items.append({"parameter": _location(tuple(error.get("loc", ()))), "message": message})
        return invalid(items)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        headers = getattr(exc, "headers", None)
        if _wants_html(request):
            templates = request.app.state.templates
            return templates.TemplateResponse(request, "error.html", {"status": exc.status_code, "message": exc.detail},
                                              status_code=exc.status_code, headers=headers)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    # A middleware rather than an exception handler: Starlette re-raises what reaches its
    # outermost handler (and the server then logs a traceback); here the failure ends as one
    # redacted log line and a plain response.
    @app.middleware("http")
    async def _unexpected(request: Request, call_next):
        try:
            return await call_next(request)
        except UNAVAILABLE as exc:
            settings = request.app.state.settings
            log.warning("PostgreSQL unavailable for %s: %s", request.url.path, describe_error(exc, settings))
            return JSONResponse({"detail": "PostgreSQL is unavailable; try again shortly"}, status_code=503)
        except Exception as exc:
            settings = request.app.state.settings
            log.error("unexpected error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__,
                      describe_error(exc, settings))
            return JSONResponse({"detail": "internal error"}, status_code=500)
