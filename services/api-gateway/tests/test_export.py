"""Exports: streamed CSV and JSON of a range with the search filters; untrusted text stays text."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from api_gateway.routes import export
from conftest import utc

HOSTILE = "<img src=x onerror=alert(1)>"


async def test_sessions_export_as_csv_with_a_file_name_and_every_row(api, seed, monkeypatch):
    monkeypatch.setattr(export, "CHUNK", 3)  # several chunks, so the keyset continuation is exercised
    for i in range(8):
        start = utc(2026, 11, 30, 9) + timedelta(minutes=i)
        await seed.session(start, start + timedelta(seconds=30), title=f"t{i}")
    await seed.session(utc(2026, 11, 30, 9), utc(2026, 11, 30, 9, 1), title="=HYPERLINK(\"http://x\")")
    response = await api.get("/api/v1/export/sessions.csv", params={"start": "2026-11-30", "end": "2026-11-30"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="sessions_2026-11-30_2026-11-30.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 9 and len({r["id"] for r in rows}) == 9
    assert {r["window_title"] for r in rows} >= {"t0", "t7", "'=HYPERLINK(\"http://x\")"}  # no spreadsheet formula


async def test_file_events_export_as_json_with_filters(api, seed):
    await seed.file_event(utc(2026, 11, 30, 9), f"/p/{HOSTILE}.py")
    await seed.file_event(utc(2026, 11, 30, 9), "/p/b.md", project="other")
    response = await api.get("/api/v1/export/file-events.json", params={"start": "2026-11-30", "project": "repro"})
    assert response.headers["content-disposition"].startswith('attachment; filename="file-events_')
    body = json.loads(response.text)
    assert [f["file_path"] for f in body] == [f"/p/{HOSTILE}.py"]
    assert response.headers["content-type"] == "application/json"


async def test_an_empty_range_exports_a_header_or_an_empty_list(api):
    csv_text = (await api.get("/api/v1/export/file-events.csv", params={"start": "2026-01-01", "end": "2026-01-02"})).text
    assert csv_text.strip().startswith("id,host_identifier,event_time")
    assert json.loads((await api.get("/api/v1/export/sessions.json")).text) == []


async def test_an_unknown_format_is_422(api):
    response = await api.get("/api/v1/export/sessions.xml")
    assert response.status_code == 422 and response.json()["detail"][0]["parameter"] == "fmt"
