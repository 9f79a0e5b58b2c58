"""The ``api`` section of a YAML config file: what it sets, what overrides it, what it refuses.

Real files under tmp_path, the app on a real PostgreSQL, and ``reprospective-api`` as a process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from reprospective_db.testing import free_port

from api_gateway.cli import main, settings_from
from api_gateway.config import SettingsError, load_settings
from conftest import eventually, serve

ADMIN = "file-admin-token-0123456789abcdef"
READER = "file-reader-token-0123456789abcdef"
ENV_ADMIN = "env-admin-token-0123456789abcdef"


def config_file(tmp_path: Path, text: str, mode: int = 0o600, name: str = "api.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def tokens_file(tmp_path: Path, pg_url: str, *, extra: str = "") -> Path:
    return config_file(tmp_path, f"api:\n  database_url: '{pg_url}'\n  admin_token: {ADMIN}\n"
                                 f"  read_tokens:\n    - {READER}\n{extra}")


def test_the_file_sets_address_database_and_tokens(tmp_path):
    path = config_file(tmp_path, "api:\n  host: 0.0.0.0\n  port: 9123\n"
                                 "  database_url: postgresql://gw@db.example/reprospective\n"
                                 f"  admin_token: {ADMIN}\n  read_tokens: [{READER}]\n")
    settings = load_settings({}, {}, config_file=path)
    assert (settings.host, settings.port, settings.database_url) == ("0.0.0.0", 9123,
                                                                   "postgresql://gw@db.example/reprospective")
    assert [(t.name, t.admin, t.value.get_secret_value()) for t in settings.tokens] == [
        ("admin", True, ADMIN), ("reader-1", False, READER)]


def test_the_environment_overrides_the_file_and_flags_override_both(tmp_path):
    path = config_file(tmp_path, f"api:\n  port: 9123\n  database_url: postgresql://file/x\n  admin_token: {ADMIN}\n")
    environ = {"REPROSPECTIVE_API_PORT": "9200", "REPROSPECTIVE_API_TOKEN": ENV_ADMIN, "DATABASE_URL": "postgresql://env/x"}
    settings = load_settings({"port": 9300}, environ, config_file=path)
    assert (settings.port, settings.database_url) == (9300, "postgresql://env/x")
    assert settings.admin_token.get_secret_value() == ENV_ADMIN
    assert load_settings({}, environ, config_file=path).port == 9200


def test_the_file_is_named_by_the_flag_or_the_environment(tmp_path):
    path = config_file(tmp_path, "api:\n  database_url: postgresql://file/x\n  port: 9400\n")
    assert settings_from(["--config", str(path)], {})[0].port == 9400
    settings, source = settings_from([], {"REPROSPECTIVE_API_CONFIG": str(path)})
    assert (settings.port, source) == (9400, path)


def test_no_database_url_anywhere_asks_the_agent_last(tmp_path):
    path = config_file(tmp_path, "api:\n  port: 9400\n")
    settings = load_settings({}, {}, config_file=path, default_database_url=lambda: "postgresql://agent/x")
    assert settings.database_url == "postgresql://agent/x"
    asked = []
    load_settings({}, {}, config_file=config_file(tmp_path, "api:\n  database_url: postgresql://f/x\n", name="b.yaml"),
                  default_database_url=lambda: asked.append(1))
    assert asked == [], "a database_url in the file is used without asking the agent"


@pytest.mark.parametrize("text, expected", [
    ("api:\n  port: 70000\n", "api.yaml: api.port: Input should be less than or equal to 65535"),
    ("api:\n  prot: 9000\n", "api.yaml: unknown key 'api.prot' (known: database_url, host, port,"),
    ("gateway:\n  port: 9000\n", "api.yaml: unknown section 'gateway' (the gateway reads only 'api')"),
    ("api: [1, 2]\n", "api.yaml: api: must be a mapping of settings"),
    ("api:\n  port: 9000\n   host: x\n", "api.yaml: is not valid YAML (line 3)"),
    ("- api\n", "api.yaml: must hold a mapping with an 'api' section"),
    ("api:\n  database_url: mysql://x\n", "api.yaml: api.database_url: must be a postgresql:// URL"),
    (f"api:\n  read_tokens: {READER}\n", "api.yaml: api.read_tokens: must be a list of tokens"),
    ("api:\n  read_tokens: [ok-reader-token-0123456789, short-one]\n",
     "api.yaml: api.read_tokens: Value error, token 2 must be at least 16".replace("Value error, ", "")),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_key(tmp_path, text, expected):
    path = config_file(tmp_path, text)
    with pytest.raises(SettingsError) as error:
        load_settings({}, {}, config_file=path, default_database_url=lambda: "postgresql://agent/x")
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_a_short_token_in_the_file_is_named_but_never_shown(tmp_path):
    path = config_file(tmp_path, "api:\n  admin_token: short-secret\n")
    with pytest.raises(SettingsError) as error:
        load_settings({}, {"DATABASE_URL": "postgresql://env/x"}, config_file=path)
    assert f"{path}: api.admin_token: must be at least 16 characters" in str(error.value)
    assert "short-secret" not in str(error.value)


def test_a_bad_environment_value_names_the_variable_not_the_file(tmp_path):
    path = config_file(tmp_path, "api:\n  port: 9000\n")
    with pytest.raises(SettingsError) as error:
        load_settings({}, {"DATABASE_URL": "postgresql://env/x", "REPROSPECTIVE_API_PORT": "0"}, config_file=path)
    assert "port (from $REPROSPECTIVE_API_PORT):" in str(error.value) and str(path) not in str(error.value)


def test_a_missing_file_is_an_error_not_silently_ignored(tmp_path):
    with pytest.raises(SettingsError, match="config file does not exist"):
        load_settings({}, {"DATABASE_URL": "postgresql://env/x"}, config_file=tmp_path / "nowhere.yaml")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_holding_a_token_that_others_may_read_is_refused(tmp_path, mode):
    path = config_file(tmp_path, f"api:\n  database_url: postgresql://db/x\n  read_tokens: [{READER}]\n", mode=mode)
    with pytest.raises(SettingsError) as error:
        load_settings({}, {}, config_file=path)
    message = str(error.value)
    assert f"{path}: holds read_tokens but other users may read it (mode {mode:04o}): run chmod 600 {path}" in message
    assert READER not in message


def test_a_password_in_the_file_s_database_url_needs_a_private_file_too(tmp_path):
    path = config_file(tmp_path, "api:\n  database_url: postgresql://gw:s3cretpass@db/x\n", mode=0o644)
    with pytest.raises(SettingsError, match="holds a password in database_url") as error:
        load_settings({}, {}, config_file=path)
    assert "s3cretpass" not in str(error.value)


def test_a_file_without_secrets_may_be_readable_by_everyone(tmp_path):
    path = config_file(tmp_path, "api:\n  database_url: postgresql://gw@db/x\n  port: 9001\n", mode=0o644)
    assert load_settings({}, {}, config_file=path).port == 9001


def test_the_cli_exits_2_naming_the_file_and_never_printing_its_token(tmp_path, capsys):
    path = config_file(tmp_path, f"api:\n  database_url: postgresql://db/x\n  admin_token: {ADMIN}\n", mode=0o644)
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"reprospective-api: invalid configuration:\n  {path}: holds admin_token" in err
    assert ADMIN not in err


async def test_file_tokens_guard_the_api_401_without_403_for_a_reader(tmp_path, pg_url):
    settings = load_settings({}, {}, config_file=tokens_file(tmp_path, pg_url))
    async with serve(settings) as http:
        assert (await http.get("/api/v1/hosts")).status_code == 401
        wrong = await http.get("/api/v1/hosts", headers={"Authorization": f"Bearer {ENV_ADMIN}"})
        assert wrong.status_code == 401
        assert (await http.get("/api/v1/hosts", headers={"Authorization": f"Bearer {READER}"})).status_code == 200
        body = {"directory_path": "/srv/code"}
        read = await http.post("/api/v1/directories", json=body, headers={"Authorization": f"Bearer {READER}"})
        assert read.status_code == 403
        made = await http.post("/api/v1/directories", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
        assert made.status_code == 201 and made.json()["created_by"] == "admin"


async def test_an_environment_token_replaces_the_file_s_admin_token(tmp_path, pg_url):
    settings = load_settings({}, {"REPROSPECTIVE_API_TOKEN": ENV_ADMIN}, config_file=tokens_file(tmp_path, pg_url))
    async with serve(settings) as http:
        assert (await http.get("/api/v1/hosts", headers={"Authorization": f"Bearer {ADMIN}"})).status_code == 401
        assert (await http.get("/api/v1/hosts", headers={"Authorization": f"Bearer {ENV_ADMIN}"})).status_code == 200


async def test_the_server_process_serves_with_the_file_s_tokens_and_never_logs_them(tmp_path, pg_url):
    port = free_port()
    path = tokens_file(tmp_path, pg_url, extra=f"  port: {port}\n  log_level: DEBUG\n")
    log = tmp_path / "api.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REPROSPECTIVE_"))}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "api_gateway", "--config", str(path)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            async def healthy() -> bool:
                assert process.poll() is None, log.read_text()
                try:
                    return (await http.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, what=f"{base}/health")
            assert (await http.get("/api/v1/hosts")).status_code == 401
            reader = {"Authorization": f"Bearer {READER}"}
            assert (await http.get("/api/v1/hosts", headers=reader)).status_code == 200
            refused = await http.post("/api/v1/directories", json={"directory_path": "/srv/x"}, headers=reader)
            assert refused.status_code == 403
            made = await http.post("/api/v1/directories", json={"directory_path": "/srv/x"},
                                   headers={"Authorization": f"Bearer {ADMIN}"})
            assert made.status_code == 201
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then re-raises the signal it caught: the exit status is SIGTERM's.
        assert process.wait(timeout=30) == -signal.SIGTERM
    text = log.read_text(encoding="utf-8")
    assert "Application shutdown complete" in text
    assert f"configuration from {path}" in text and "token required" in text
    assert ADMIN not in text and READER not in text
