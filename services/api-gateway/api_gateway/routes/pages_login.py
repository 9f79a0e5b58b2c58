"""``/login`` and ``/logout``: a token typed once sets an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from api_gateway.auth import CSRF_FIELD, SESSION_COOKIE, csrf_ok, match_token, session_cookie_for
from api_gateway.views import render

router = APIRouter()
COOKIE_AGE = 30 * 24 * 3600


def safe_next(target: str | None) -> str:
    """Only a path of this site: never ``//other.example`` or ``https://...`` (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
async def login_form(request: Request, next: str | None = None):
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login")
async def login(request: Request, token: str = Form("", max_length=500), next: str = Form("/", max_length=2000),
                csrf_token: str = Form("", alias=CSRF_FIELD, max_length=200)):
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "the form expired or came from another site: reload the page and try again")
    settings = request.app.state.settings
    found = match_token(settings, token.strip()) if token.strip() else None
    if found is None:
        return render(request, "login.html", {"next": safe_next(next), "error": "That token is not valid."},
                      status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_cookie_for(found), max_age=COOKIE_AGE, httponly=True,
                        samesite="strict", path="/", secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request, csrf_token: str = Form("", alias=CSRF_FIELD, max_length=200)):
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "the form expired or came from another site: reload the page and try again")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
