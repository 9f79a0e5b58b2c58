"""Rendering helpers for the pages: the viewer's zone, template filters, and the CSRF cookie."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment

from api_gateway.auth import CSRF_COOKIE, CSRF_FIELD, new_csrf_value
from api_gateway.params import ParameterError, parse_tz

TZ_COOKIE = "tz"
NAV = (("/", "Overview"), ("/timeline", "Timeline"), ("/sessions", "Sessions"), ("/files", "Files"),
       ("/sync", "Sync"), ("/directories", "Directories"))


def viewer_tz(request: Request) -> ZoneInfo:
    """``?tz=`` (validated: a bad one is a 422 naming it), else the browser's cookie, else UTC."""
    given = request.query_params.get("tz")
    if given:
        return parse_tz(given)
    try:
        # The browser writes it with encodeURIComponent (Asia%2FTokyo).
        return parse_tz(unquote(request.cookies.get(TZ_COOKIE, "")))
    except ParameterError:
        return ZoneInfo("UTC")


def duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def local_time(value: datetime | str | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(tz).strftime(fmt)


def register_filters(env: Environment) -> None:
    env.filters["duration"] = duration
    env.filters["local_time"] = local_time
    env.globals["NAV"] = NAV
    env.globals["CSRF_FIELD"] = CSRF_FIELD


def render(request: Request, template: str, context: dict, status_code: int = 200):
    """A page, with the CSRF cookie set when the browser has none yet."""
    csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_value()
    settings = request.app.state.settings
    if not context.get("tz"):
        try:
            context["tz"] = viewer_tz(request).key
        except ParameterError:
            context["tz"] = "UTC"
    zone = ZoneInfo(context["tz"])
    base = {"csrf": csrf, "tz_info": zone, "path": request.url.path, "auth_required": settings.auth_required,
            "principal": context.pop("principal", None)}
    response = request.app.state.templates.TemplateResponse(request, template, base | context,
                                                            status_code=status_code)
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
    response.headers["Cache-Control"] = "no-store"
    return response
