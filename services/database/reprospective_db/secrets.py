"""Keeping the PostgreSQL password out of logs, exception messages and ``sync_logs``."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>postgres(?:ql)?://)(?P<user>[^:@/\s]*):(?P<password>[^@\s]*)@")
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)[^&\s]*", re.IGNORECASE)


def redact(text: str, url: str | None = None) -> str:
    """Replace every password in ``text``: in URLs, in ``password=`` parameters, and the
    password of ``url`` wherever it appears verbatim (for example inside a driver message)."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _QUERY_PASSWORD.sub(lambda m: f"{m['key']}***", text)
    for secret in _passwords_of(url):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def describe_url(url: str) -> str:
    """A printable form of a PostgreSQL URL: user, host, port and database, never the password."""
    return redact(url, url)


def _passwords_of(url: str | None) -> list[str]:
    if not url:
        return []
    found = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
    except ValueError:
        pass  # an unparsable URL: the regexes above still redact what they recognise
    for match in _QUERY_PASSWORD.finditer(url):
        value = url[match.end("key") : match.end()]
        found += [value, unquote(value)]
    return found


def url_without_password(url: str) -> str:
    """The URL with its password removed (not masked): for libpq tools, which then use
    ``PGPASSWORD`` or ``~/.pgpass``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{host}"
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def password_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password)
    match = re.search(r"[?&]password=([^&]*)", parts.query, re.IGNORECASE)
    return unquote(match.group(1)) if match else None
