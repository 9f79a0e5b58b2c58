"""The app factory: settings in, a FastAPI app out; the lifespan owns the asyncpg pool."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from api_gateway import errors
from api_gateway.auth import Principal, api_reader, client_is_loopback, page_reader
from api_gateway.config import Settings
from api_gateway.db import create_pool, prepare_schema
from api_gateway.routes import activities, directories, export, health, hosts, pages, sync_status
from api_gateway.views import register_filters

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


def build_templates() -> Jinja2Templates:
    # Autoescape for every template: titles and paths are untrusted text, shown as text.
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    register_filters(env)
    return Jinja2Templates(env=env)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pool = await create_pool(settings)
        app.state.pool = pool
        try:
            await prepare_schema(pool, settings)
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Reprospective API",
        version="1",
        summary="What every host recorded: sessions, file changes, sync health; and the directories to watch.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.templates = build_templates()

    if not settings.auth_required:
        @app.middleware("http")
        async def loopback_only(request: Request, call_next):
            if not client_is_loopback(request):
                return JSONResponse(
                    {"detail": "no token is configured, so only this machine is served (set REPROSPECTIVE_API_TOKEN or the api section's admin_token)"},
                    status_code=403,
                )
            return await call_next(request)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path != "/docs":
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self'; frame-ancestors 'none'",
            )
        return response

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: Principal = Depends(api_reader)):
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    async def docs(_: Principal = Depends(page_reader)):
        # The project's own copy of Swagger UI: nothing is fetched from a CDN.
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Reprospective API",
                                   swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    errors.install(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (health, directories, activities, hosts, sync_status, export, pages):
        app.include_router(module.router)
    return app
