"""Who a host is, end to end: real ``reprospective-agent`` processes sync into a real PostgreSQL,
and the API gateway (the same app the dashboard serves) lists and filters the hosts."""

from __future__ import annotations

import json
import re
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import yaml
from api_gateway.app import create_app
from api_gateway.config import Settings
from host_agent.common.data_sync import DataSyncManager
from host_agent.core.config import load_config
from host_agent.core.identity import HOST_ID_FILE

from tests.ops.conftest import DEADLINE, Config, cli, clean_env
from tests.support.agent import AgentProcess
from tests.support.rows import add_file_events

DAY = "2026-05-28"  # tests.support.rows.BASE_TIME
RANGE = {"start": DAY, "end": DAY, "tz": "UTC"}


def named(config: Config, name: str) -> Config:
    """Set ``agent.host_identifier`` in the config file (as a person editing it would)."""
    settings = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    settings["agent"]["host_identifier"] = name
    config.path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return config


def folder_config(root: Path, name: str, url: str) -> Config:
    root.mkdir()
    return named(Config(root, url), name)


def sync_once(config: Config) -> None:
    done = cli("sync", "--once", "--config", str(config.path), env=clean_env())
    assert done.returncode == 0, done.stderr


def host_id_of(config: Config) -> str:
    return (config.data_dir / HOST_ID_FILE).read_text(encoding="ascii").strip()


@asynccontextmanager
async def gateway(url: str):
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield http


async def file_paths(http: httpx.AsyncClient, host: str) -> list[str]:
    response = await http.get("/api/v1/activities/file-events", params=RANGE | {"host": host, "limit": 1000})
    assert response.status_code == 200, response.text
    return sorted(item["file_path"] for item in response.json()["items"])


async def files_in_summary(http: httpx.AsyncClient, host: str) -> int:
    response = await http.get("/api/v1/activities/summary", params=RANGE | {"host": host, "group_by": "none"})
    assert response.status_code == 200, response.text
    return sum(period["file_events"] for period in response.json()["periods"])


async def test_a_renamed_host_is_one_host_with_its_current_name_and_all_its_rows(tmp_path, pg_url, pg):
    config = folder_config(tmp_path / "desk", "desk-a", pg_url)
    add_file_events(config.file_events_db, 5)
    sync_once(config)
    first_id = host_id_of(config)

    named(config, "desk-b")
    add_file_events(config.file_events_db, 7, start=5)
    sync_once(config)

    assert host_id_of(config) == first_id  # the id survived the restart and the rename
    rows = await pg.fetch("SELECT host_id::text, host_identifier, previous_identifiers FROM hosts")
    assert [tuple(r) for r in rows] == [(first_id, "desk-b", ["desk-a"])]
    names = await pg.fetch("SELECT host_identifier, count(*) FROM file_change_events GROUP BY 1 ORDER BY 1")
    assert [tuple(r) for r in names] == [("desk-a", 5), ("desk-b", 7)]  # rows keep the name they were synced with

    async with gateway(pg_url) as http:
        hosts = (await http.get("/api/v1/hosts")).json()
        assert [(h["host_id"], h["host_identifier"], h["previous_identifiers"]) for h in hosts] == [
            (first_id, "desk-b", ["desk-a"])]
        assert hosts[0]["rows"]["file_change_events"] == 12
        assert hosts[0]["shared_name"] is False
        assert hosts[0]["agent"]["last_sync"] is not None
        every = [f"/home/me/src/app/file_{i}.py" for i in range(12)]
        assert await file_paths(http, "desk-b") == sorted(every)
        assert await file_paths(http, first_id) == sorted(every)
        assert await file_paths(http, "desk-a") == sorted(every)  # no host is called that now: its former holder
        assert await files_in_summary(http, "desk-b") == 12  # the rollups, by origin too
        assert await file_paths(http, "nobody") == []


async def test_two_data_folders_sharing_a_name_are_two_hosts(tmp_path, pg_url, pg):
    one = folder_config(tmp_path / "one", "laptop_me", pg_url)
    two = folder_config(tmp_path / "two", "laptop_me", pg_url)
    add_file_events(one.file_events_db, 3)
    add_file_events(two.file_events_db, 4, start=100)
    sync_once(one)
    sync_once(two)
    assert host_id_of(one) != host_id_of(two)
    assert await pg.fetchval("SELECT count(*) FROM hosts WHERE host_identifier = 'laptop_me'") == 2

    async with gateway(pg_url) as http:
        hosts = {h["host_id"]: h for h in (await http.get("/api/v1/hosts")).json()}
        assert set(hosts) == {host_id_of(one), host_id_of(two)}
        assert all(h["host_identifier"] == "laptop_me" and h["shared_name"] for h in hosts.values())
        assert hosts[host_id_of(one)]["rows"]["file_change_events"] == 3
        assert hosts[host_id_of(two)]["rows"]["file_change_events"] == 4
        assert len(await file_paths(http, "laptop_me")) == 7  # a shared name means both hosts
        assert await file_paths(http, host_id_of(one)) == [f"/home/me/src/app/file_{i}.py" for i in range(3)]
        assert len(await file_paths(http, host_id_of(two).upper())) == 4


async def test_a_corrupt_host_id_file_stops_the_sync_and_status_names_it(tmp_path, pg_url, pg):
    config = folder_config(tmp_path / "desk", "desk", pg_url)
    add_file_events(config.file_events_db, 2)
    id_file = config.data_dir / HOST_ID_FILE
    id_file.write_text("this is not an id\n", encoding="ascii")

    done = cli("sync", "--once", "--config", str(config.path), env=clean_env())
    assert done.returncode != 0
    assert f"host id file {id_file} does not hold a host id" in done.stderr
    assert "Traceback" not in done.stderr
    assert id_file.read_text(encoding="ascii") == "this is not an id\n"  # never replaced by a new identity
    assert await pg.fetchval("SELECT count(*) FROM file_change_events") == 0
    assert await pg.fetchval("SELECT count(*) FROM hosts") == 0

    status = cli("status", "--json", "--config", str(config.path), env=clean_env())
    report = json.loads(status.stdout)
    assert report["ok"] is False
    assert any(str(id_file) in item for item in report["attention"])

    agent = AgentProcess(config.path, config.data_dir, env=clean_env()).start()
    try:
        assert agent.process.wait(DEADLINE) != 0
    finally:
        agent.ensure_gone()
    assert f"host id file {id_file} does not hold a host id" in agent.log()
    assert "Traceback" not in agent.log()
    assert id_file.read_text(encoding="ascii") == "this is not an id\n"


async def test_the_clock_offset_a_run_measures_is_recorded_and_shown(tmp_path, pg_url, pg):
    config = folder_config(tmp_path / "desk", "fast-clock", pg_url)
    add_file_events(config.file_events_db, 1)
    settings = load_config(config.path, environ={})

    async def run(clock) -> None:
        manager = DataSyncManager(pg_url, settings.desktop_db_path, settings.file_events_db_path,
                                  host_identifier=settings.host_identifier, data_dir=settings.data_dir, clock=clock)
        try:
            await manager.initialize()
            results = await manager.sync_all()
        finally:
            await manager.close()
        assert all(r.status == "success" for r in results.values())

    # This host's clock as an hour fast: only the comparison with PostgreSQL's uses it.
    await run(lambda: time.time() + 3600)
    offset = await pg.fetchval("SELECT clock_offset_seconds FROM hosts")
    assert 3600 - 30 < offset < 3600 + 30

    status = cli("status", "--config", str(config.path), env=clean_env())
    assert re.search(r"clock\s+3[56]\d\d(\.\d)? s ahead of PostgreSQL's .*rows may land in the wrong hour or day",
                     status.stdout), status.stdout
    assert "clock is 60 min ahead of PostgreSQL's" in status.stdout  # in "Needs attention"

    async with gateway(pg_url) as http:
        [host] = (await http.get("/api/v1/hosts")).json()
        assert host["clock_warning"] == "clock 60 min ahead of PostgreSQL's: its rows may land in the wrong hour or day"
        clocks = (await http.get("/api/v1/sync/status")).json()["clocks"]
        assert [(c["host_identifier"], c["warning"]) for c in clocks] == [("fast-clock", host["clock_warning"])]
        page = await http.get("/sync")
        assert "fast-clock: clock 60 min ahead of PostgreSQL&#39;s" in page.text

    await run(time.time)  # the clock set right: the next run says so
    assert abs(await pg.fetchval("SELECT clock_offset_seconds FROM hosts")) < 30
    async with gateway(pg_url) as http:
        assert (await http.get("/api/v1/hosts")).json()[0]["clock_warning"] is None
        assert (await http.get("/api/v1/sync/status")).json()["clocks"] == []
    status = cli("status", "--config", str(config.path), env=clean_env())
    assert re.search(r"clock\s+(within a second of|\d+(\.\d)? s (ahead of|behind)) PostgreSQL's \(measured .*, "
                     r"hosts table\)\n", status.stdout), status.stdout
    assert "wrong hour" not in status.stdout
