"""Who may do what: bearer tokens for the API, a login cookie for pages, CSRF for forms.

- No token configured: only loopback clients are served, and only under a loopback ``Host``
  name (a hostile web page re-pointing its own domain at 127.0.0.1 gets 403). Everyone is
  ``local`` and may write.
- Tokens configured: every request but ``/health``, ``/login`` and static files needs one.
  ``Authorization: Bearer <token>`` or the login cookie; none or a wrong one → 401, a read-only
  token writing → 403.
- The login cookie never holds the token: it is ``name.HMAC(token, name)``, HttpOnly,
  SameSite=Strict. Forms carry a CSRF value that must equal a second cookie (double submit);
  an API write authenticated by the cookie must send it as ``X-CSRF-Token``.

Every comparison is :func:`hmac.compare_digest`, over every configured token, and no token
value is ever logged or put in a response.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request

from api_gateway.config import Settings, Token, is_loopback

SESSION_COOKIE = "reprospective_session"
CSRF_COOKIE = "reprospective_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = ("/health", "/login", "/static/")


@dataclass(frozen=True)
class Principal:
    name: str  # recorded as created_by / updated_by
    admin: bool
    by_cookie: bool = False


LOCAL = Principal("local", admin=True)


class LoginRequired(Exception):
    """A page was asked for without a valid login; the app redirects to /login."""


def _digest(token: Token) -> str:
    return hmac.new(token.value.get_secret_value().encode(), b"reprospective-session:" + token.name.encode(),
                    hashlib.sha256).hexdigest()


def match_token(settings: Settings, presented: str) -> Token | None:
    """The configured token equal to ``presented``, compared in constant time against all."""
    found = None
    for token in settings.tokens:
        if hmac.compare_digest(token.value.get_secret_value().encode(), presented.encode()):
            found = token
    return found


def session_cookie_for(token: Token) -> str:
    return f"{token.name}.{_digest(token)}"


def match_session(settings: Settings, cookie: str) -> Token | None:
    name, _, mac = cookie.partition(".")
    found = None
    for token in settings.tokens:
        if hmac.compare_digest(token.name.encode(), name.encode()) & hmac.compare_digest(
            _digest(token).encode(), mac.encode()
        ):
            found = token
    return found


def client_is_loopback(request: Request) -> bool:
    client = request.client.host if request.client else ""
    host_header = request.headers.get("host", "")
    host_name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    if host_header.startswith("["):
        host_name = host_header[1:].split("]", 1)[0]
    return is_loopback(client) and is_loopback(host_name)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def identify(request: Request) -> Principal | None:
    """The caller, or None when tokens are configured and none valid was presented."""
    settings: Settings = request.app.state.settings
    if not settings.auth_required:
        return LOCAL
    presented = _bearer(request)
    if presented is not None:
        token = match_token(settings, presented)
        return Principal(token.name, token.admin) if token else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        token = match_session(settings, cookie)
        if token:
            return Principal(token.name, token.admin, by_cookie=True)
    return None


def csrf_ok(request: Request, presented: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


def new_csrf_value() -> str:
    return secrets.token_urlsafe(32)


# -- FastAPI dependencies ------------------------------------------------------------------


def api_reader(request: Request) -> Principal:
    principal = identify(request)
    if principal is None:
        raise HTTPException(401, "a valid token is required (Authorization: Bearer ...)",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def api_writer(request: Request) -> Principal:
    principal = api_reader(request)
    if not principal.admin:
        raise HTTPException(403, "this token may only read")
    if principal.by_cookie and request.method not in SAFE_METHODS:
        if not csrf_ok(request, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, "missing or wrong X-CSRF-Token")
    return principal


def page_reader(request: Request) -> Principal:
    principal = identify(request)
    if principal is None:
        raise LoginRequired()
    return principal


def page_writer(request: Request, csrf_value: str | None) -> Principal:
    """For a form post: a principal that may write, and the form's CSRF value must match."""
    principal = page_reader(request)
    if not csrf_ok(request, csrf_value):
        raise HTTPException(403, "the form expired or came from another site: reload the page and try again")
    if not principal.admin:
        raise HTTPException(403, "this token may only read")
    return principal
