"""The gateway behind a real PgBouncer in transaction pooling mode: queries and directory writes work."""

from __future__ import annotations

from api_gateway.config import Settings

from conftest import serve, utc

DAY = {"start": "2026-11-30", "end": "2026-11-30", "tz": "UTC"}


async def test_every_kind_of_request_works_through_pgbouncer_again_and_again(pgbouncer_url, seed):
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 10), app="Emacs")
    await seed.file_event(utc(2026, 11, 30, 9, 30), "/home/me/src/repro/main.py")
    async with serve(Settings(database_url=pgbouncer_url)) as http:
        # Twice each: a second run of the same query is where a cached prepared statement fails.
        for _ in range(2):
            assert (await http.get("/health")).json()["status"] == "ok"
            sessions = await http.get("/api/v1/activities/sessions", params=DAY)
            assert [s["application_name"] for s in sessions.json()["items"]] == ["Emacs"]
            files = await http.get("/api/v1/activities/file-events", params=DAY)
            assert [f["file_name"] for f in files.json()["items"]] == ["main.py"]
            summary = await http.get("/api/v1/activities/summary", params=DAY | {"group_by": "application"})
            assert summary.status_code == 200, summary.text
            assert (await http.get("/api/v1/hosts")).status_code == 200
        created = await http.post("/api/v1/directories", json={"directory_path": "/srv/projects", "display_name": "projects"})
        assert created.status_code == 201, created.text
        listed = await http.get("/api/v1/directories")
        assert "/srv/projects" in [d["directory_path"] for d in listed.json()]
