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
                          "AND directory_applies_to(host_id, host_identifier, NULL, $1) ORDER BY directory_path",
                          "laptop_me")
    assert [r["directory_path"] for r in rows] == ["/srv/mine", "/srv/shared"]
    listed = (await api.get("/api/v1/directories", params={"host": "laptop_me", "enabled": "true"})).json()
    assert [d["directory_path"] for d in listed] == ["/srv/mine", "/srv/shared"]


LAPTOP = "6f1c1c8e-2b7a-4c55-9d1e-0a2f5d3c4b11"
TWIN_A = "0b4e5a3c-1111-4c55-9d1e-0a2f5d3c4b11"
TWIN_B = "0b4e5a3c-2222-4c55-9d1e-0a2f5d3c4b11"


async def add_hosts(pg, *hosts: tuple[str, str]) -> None:
    await pg.executemany("INSERT INTO hosts (host_id, host_identifier) VALUES ($1::uuid, $2)", hosts)


async def test_a_directory_set_for_a_known_host_follows_it_through_a_rename(api, pg):
    await add_hosts(pg, (LAPTOP, "laptop_me"))
    made = (await api.post("/api/v1/directories", json={"directory_path": "/srv/mine",
                                                           "host_identifier": "laptop_me"})).json()
    assert (made["host_id"], made["host_identifier"]) == (LAPTOP, "laptop_me")
    await pg.execute("UPDATE hosts SET host_identifier = 'laptop_renamed' WHERE host_id = $1::uuid", LAPTOP)
    assert (await api.get(f"/api/v1/directories/{made['id']}")).json()["host_identifier"] == "laptop_renamed"
    by_new_name = (await api.get("/api/v1/directories", params={"host": "laptop_renamed"})).json()
    assert [d["directory_path"] for d in by_new_name] == ["/srv/mine"]
    assert (await api.get("/api/v1/directories", params={"host": "laptop_me"})).json() == []
    # the agent, under its new name and the same id, still watches it; another host does not
    watched = "SELECT count(*) FROM monitored_directories WHERE directory_applies_to(host_id, host_identifier, $1, $2)"
    assert await pg.fetchval(watched, LAPTOP, "laptop_renamed") == 1
    assert await pg.fetchval(watched, TWIN_A, "laptop_me") == 0


async def test_an_id_no_host_has_is_422_naming_the_field(api):
    made = await api.post("/api/v1/directories", json={"directory_path": "/srv/x", "host_identifier": LAPTOP.upper()})
    assert made.status_code == 422
    assert made.json()["detail"][0]["parameter"] == "host_identifier"
    assert "no host has the id" in made.json()["detail"][0]["message"]


async def test_a_name_two_hosts_share_asks_for_the_id(api, pg):
    await add_hosts(pg, (TWIN_A, "twin_me"), (TWIN_B, "twin_me"))
    shared = await api.post("/api/v1/directories", json={"directory_path": "/srv/x", "host_identifier": "twin_me"})
    assert shared.status_code == 422
    problem = shared.json()["detail"][0]
    assert problem["parameter"] == "host_identifier"
    assert TWIN_A in problem["message"] and TWIN_B in problem["message"]
    chosen = await api.post("/api/v1/directories", json={"directory_path": "/srv/x", "host_identifier": TWIN_B})
    assert chosen.status_code == 201
    assert (chosen.json()["host_id"], chosen.json()["host_identifier"]) == (TWIN_B, "twin_me")


async def test_a_name_no_host_has_yet_is_kept_as_a_name(api, pg):
    made = (await api.post("/api/v1/directories", json={"directory_path": "/srv/x",
                                                           "host_identifier": "new_box"})).json()
    assert (made["host_id"], made["host_identifier"]) == (None, "new_box")
    watched = "SELECT count(*) FROM monitored_directories WHERE directory_applies_to(host_id, host_identifier, $1, $2)"
    assert await pg.fetchval(watched, TWIN_A, "new_box") == 1


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
