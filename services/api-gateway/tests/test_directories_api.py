"""/api/v1/directories: the plan's CRUD plus toggle, per-host rows, and errors that name the field."""

from __future__ import annotations

import pytest


async def test_create_read_update_toggle_delete(api):
    made = await api.post("/api/v1/directories", json={"directory_path": "/home/me/src", "display_name": "code"})
    assert made.status_code == 201
    item = made.json()
    assert made.headers["location"] == f"/api/v1/directories/{item['id']}"
    assert (item["enabled"], item["host_identifier"], item["created_by"], item["updated_by"]) == (True, None, "local", "local")
    assert (await api.get(f"/api/v1/directories/{item['id']}")).json() == item
    replaced = await api.put(f"/api/v1/directories/{item['id']}", json={
        "directory_path": "/home/me/code", "description": "all my code", "enabled": False})
    assert replaced.status_code == 200
    assert (replaced.json()["directory_path"], replaced.json()["display_name"], replaced.json()["enabled"]) == (
        "/home/me/code", None, False)
    toggled = await api.patch(f"/api/v1/directories/{item['id']}/toggle")
    assert toggled.json()["enabled"] is True
    assert [d["id"] for d in (await api.get("/api/v1/directories")).json()] == [item["id"]]
    assert (await api.delete(f"/api/v1/directories/{item['id']}")).status_code == 204
    assert (await api.get("/api/v1/directories")).json() == []


async def test_the_row_written_is_the_one_the_agent_reads(api, pg):
    await api.post("/api/v1/directories", json={"directory_path": "/srv/shared"})
    await api.post("/api/v1/directories", json={"directory_path": "/srv/mine", "host_identifier": "laptop_me"})
    await api.post("/api/v1/directories", json={"directory_path": "/srv/theirs", "host_identifier": "desk_you"})
    await api.post("/api/v1/directories", json={"directory_path": "/srv/off", "enabled": False})
    rows = await pg.fetch("SELECT directory_path FROM monitored_directories WHERE enabled "
                          "AND (host_identifier IS NULL OR host_identifier = $1) ORDER BY directory_path", "laptop_me")
    assert [r["directory_path"] for r in rows] == ["/srv/mine", "/srv/shared"]
    listed = (await api.get("/api/v1/directories", params={"host": "laptop_me", "enabled": "true"})).json()
    assert [d["directory_path"] for d in listed] == ["/srv/mine", "/srv/shared"]


async def test_the_same_path_may_exist_once_per_host_and_once_for_every_host(api):
    assert (await api.post("/api/v1/directories", json={"directory_path": "/srv/x"})).status_code == 201
    assert (await api.post("/api/v1/directories", json={"directory_path": "/srv/x", "host_identifier": "a_me"})).status_code == 201
    again = await api.post("/api/v1/directories", json={"directory_path": "/srv/x/"})  # same path, normalised
    assert again.status_code == 409
    assert again.json()["detail"][0]["parameter"] == "directory_path"
    assert (await api.post("/api/v1/directories", json={"directory_path": "/srv/x", "host_identifier": "a_me"})).status_code == 409


async def test_renaming_onto_an_existing_path_is_409(api):
    await api.post("/api/v1/directories", json={"directory_path": "/a"})
    b = (await api.post("/api/v1/directories", json={"directory_path": "/b"})).json()
    assert (await api.put(f"/api/v1/directories/{b['id']}", json={"directory_path": "/a"})).status_code == 409


@pytest.mark.parametrize("body, field", [
    ({"directory_path": "relative/path"}, "directory_path"),
    ({"directory_path": ""}, "directory_path"),
    ({}, "directory_path"),
    ({"directory_path": "/a\x00b"}, "directory_path"),
    ({"directory_path": "/a", "display_name": "x" * 101}, "display_name"),
    ({"directory_path": "/a", "description": "x" * 501}, "description"),
    ({"directory_path": "/a", "enabled": "perhaps"}, "enabled"),
    ({"directory_path": "/a", "owner": "me"}, "owner"),
])
async def test_invalid_bodies_are_422_naming_the_field(api, body, field):
    response = await api.post("/api/v1/directories", json=body)
    assert response.status_code == 422
    assert field in [item["parameter"] for item in response.json()["detail"]]


async def test_limits_at_their_edge_are_accepted(api):
    response = await api.post("/api/v1/directories", json={"directory_path": "/a", "display_name": "x" * 100,
                                                           "description": "y" * 500})
    assert response.status_code == 201


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/directories/999"), ("PUT", "/api/v1/directories/999"),
    ("PATCH", "/api/v1/directories/999/toggle"), ("DELETE", "/api/v1/directories/999"),
])
async def test_an_unknown_id_is_404(api, method, path):
    response = await api.request(method, path, json={"directory_path": "/a"} if method == "PUT" else None)
    assert response.status_code == 404


async def test_a_non_numeric_id_is_422_naming_it(api):
    response = await api.get("/api/v1/directories/abc")
    assert response.status_code == 422 and response.json()["detail"][0]["parameter"] == "directory_id"
