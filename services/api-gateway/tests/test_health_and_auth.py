"""/health, and who may call what: loopback-only without tokens; bearer, cookie and CSRF with them."""

from __future__ import annotations

import logging

import asyncpg
from reprospective_db.schema import latest_version, load_migrations, upgrade_schema
from reprospective_db.testing import free_port

from api_gateway.config import Settings
from conftest import ADMIN, READER, serve


async def test_health_reports_the_schema_version(api):
    response = await api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "schema_version": latest_version(), "schema_latest": latest_version()}


async def test_health_is_503_with_a_reason_and_no_password_when_postgresql_is_down(caplog):
    url = f"postgresql://gateway:hunter2secret@127.0.0.1:{free_port()}/reprospective"
    with caplog.at_level(logging.DEBUG):
        async with serve(Settings(database_url=url, connect_timeout=2)) as http:
            response = await http.get("/health")
            api_response = await http.get("/api/v1/hosts")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["reason"]
    assert api_response.status_code == 503 and "Traceback" not in api_response.text
    assert "hunter2secret" not in response.text + api_response.text + caplog.text


async def test_an_old_schema_is_upgraded_at_start_up(pg_server, empty_pg_database):
    async with serve(Settings(database_url=pg_server.url(empty_pg_database))) as http:
        assert (await http.get("/health")).json()["schema_version"] == latest_version()


async def test_a_schema_missing_a_version_the_gateway_needs_is_503_naming_it(pg_server, empty_pg_database, tmp_path):
    """Left without upgrading at start-up, a database missing the directories' host id (17) is refused."""
    older = tmp_path / "init"
    older.mkdir()
    for migration in load_migrations():
        if migration.version != 17:
            (older / migration.name).write_text(migration.sql, encoding="utf-8")
    conn = await asyncpg.connect(pg_server.url(empty_pg_database))
    try:
        await upgrade_schema(conn, older)
    finally:
        await conn.close()
    async with serve(Settings(database_url=pg_server.url(empty_pg_database), upgrade_schema=False)) as http:
        response = await http.get("/health")
    assert response.status_code == 503
    assert "schema version(s) 17 not applied" in response.json()["reason"]


async def test_without_a_token_only_loopback_clients_are_served(settings):
    async with serve(settings, client=("192.168.1.20", 5000)) as http:
        assert (await http.get("/api/v1/hosts")).status_code == 403
    async with serve(settings, client=("::1", 5000)) as http:
        assert (await http.get("/api/v1/hosts")).status_code == 200


async def test_without_a_token_a_foreign_host_name_is_refused_against_dns_rebinding(settings):
    async with serve(settings, host="evil.example") as http:
        assert (await http.get("/api/v1/hosts")).status_code == 403
    async with serve(settings, host="localhost:8800") as http:
        assert (await http.get("/api/v1/hosts")).status_code == 200


async def test_with_tokens_a_missing_or_wrong_token_is_401_and_health_stays_open(secured):
    assert (await secured.get("/health")).status_code == 200
    missing = await secured.get("/api/v1/hosts")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = await secured.get("/api/v1/hosts", headers={"Authorization": "Bearer " + ADMIN[:-1] + "x"})
    assert wrong.status_code == 401
    assert (await secured.get("/api/v1/hosts", headers={"Authorization": f"Bearer {READER}"})).status_code == 200
    assert (await secured.get("/openapi.json")).status_code == 401


async def test_a_read_only_token_may_not_write_and_the_admin_token_may(secured):
    body = {"directory_path": "/srv/code"}
    read = await secured.post("/api/v1/directories", json=body, headers={"Authorization": f"Bearer {READER}"})
    assert read.status_code == 403
    made = await secured.post("/api/v1/directories", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert made.status_code == 201 and made.json()["created_by"] == "admin"


async def test_pages_redirect_to_the_login_form_and_the_cookie_never_holds_the_token(secured):
    page = await secured.get("/sessions?q=x", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fsessions%3Fq%3Dx"
    form = await secured.get("/login")
    csrf = secured.cookies["reprospective_csrf"]
    assert 'name="csrf_token"' in form.text
    refused = await secured.post("/login", data={"token": "wrong-token-value-000000", "csrf_token": csrf, "next": "/"})
    assert refused.status_code == 401 and "not valid" in refused.text
    ok = await secured.post("/login", data={"token": READER, "csrf_token": csrf, "next": "/sessions"})
    assert ok.status_code == 303 and ok.headers["location"] == "/sessions"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert READER not in cookie
    assert (await secured.get("/sessions")).status_code == 200
    assert (await secured.get("/api/v1/hosts")).status_code == 200  # the cookie also reads the API


async def test_login_needs_the_csrf_value_and_never_redirects_off_site(secured):
    await secured.get("/login")
    csrf = secured.cookies["reprospective_csrf"]
    assert (await secured.post("/login", data={"token": ADMIN, "csrf_token": "forged"})).status_code == 403
    ok = await secured.post("/login", data={"token": ADMIN, "csrf_token": csrf, "next": "//evil.example/"})
    assert ok.headers["location"] == "/"


async def test_an_api_write_with_the_login_cookie_needs_the_csrf_header(secured):
    await secured.get("/login")
    csrf = secured.cookies["reprospective_csrf"]
    await secured.post("/login", data={"token": ADMIN, "csrf_token": csrf})
    body = {"directory_path": "/srv/code"}
    assert (await secured.post("/api/v1/directories", json=body)).status_code == 403
    made = await secured.post("/api/v1/directories", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201


async def test_tokens_never_appear_in_the_logs(secured, caplog):
    with caplog.at_level(logging.DEBUG):
        await secured.get("/api/v1/hosts", headers={"Authorization": f"Bearer {ADMIN}"})
        await secured.get("/api/v1/hosts", headers={"Authorization": "Bearer wrong-but-secret-value"})
        await secured.get("/login")
        await secured.post("/login", data={"token": READER, "csrf_token": secured.cookies["reprospective_csrf"]})
    assert ADMIN not in caplog.text and READER not in caplog.text and "wrong-but-secret-value" not in caplog.text
