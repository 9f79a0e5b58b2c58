"""Configuration: one validated object from defaults, config.yaml, the environment and flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from host_agent.core.config import load_config
from host_agent.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "config.yaml"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_loads_with_paths_relative_to_its_folder():
    config = load_config(EXAMPLE, environ={"POSTGRES_PASSWORD": "pw"})
    assert config.desktop_db_path == EXAMPLE.parent / "data" / "desktop_activity.db"
    assert config.file_events_db_path == EXAMPLE.parent / "data" / "file_changes.db"
    assert config.postgres_url == "postgresql://reprospective_user:pw@localhost:5432/reprospective"
    assert config.data_sync.interval_seconds == 300
    assert config.data_sync.max_retries == 5
    assert config.data_sync.retry_backoff_seconds == 30


def test_no_config_file_means_built_in_defaults_and_the_embedded_database(tmp_path):
    config = load_config(environ={"XDG_CONFIG_HOME": str(tmp_path), "REPROSPECTIVE_DATA_DIR": str(tmp_path / "d")})
    assert config.source is None
    assert config.uses_embedded_postgres
    assert config.desktop_db_path == tmp_path / "d" / "desktop_activity.db"


def test_variables_come_from_the_environment_then_the_dotenv_file_then_their_default(tmp_path):
    write(tmp_path / ".env", "POSTGRES_PASSWORD=from-dotenv\nDB_HOST=dotenv-host\n")
    path = write(
        tmp_path / "config.yaml",
        'database:\n  postgres_url: "postgresql://u:${POSTGRES_PASSWORD}@${DB_HOST}:${DB_PORT:-5433}/r"\n',
    )
    assert load_config(path, environ={}).postgres_url == "postgresql://u:from-dotenv@dotenv-host:5433/r"
    assert load_config(path, environ={"DB_HOST": "env-host"}).postgres_url == "postgresql://u:from-dotenv@env-host:5433/r"


def test_environment_overrides_win_over_the_file_and_flags_win_over_both(tmp_path):
    path = write(tmp_path / "config.yaml", "data_sync:\n  interval_seconds: 60\ndatabase:\n  file_events_db: f.db\n")
    environ = {"DATABASE_URL": "postgresql://app@db.example/reprospective", "REPROSPECTIVE_FILE_EVENTS_DB": "/srv/f.db"}
    config = load_config(path, environ=environ, overrides={"data_sync.interval_seconds": 5})
    assert config.postgres_url == "postgresql://app@db.example/reprospective"
    assert config.file_events_db_path == Path("/srv/f.db")
    assert config.data_sync.interval_seconds == 5


def test_reprospective_config_names_the_file_when_no_flag_does(tmp_path):
    path = write(tmp_path / "elsewhere.yaml", "data_sync:\n  batch_size: 77\n")
    assert load_config(environ={"REPROSPECTIVE_CONFIG": str(path)}).data_sync.batch_size == 77


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data_sync:\n  intervl_seconds: 5\n", "unknown key 'data_sync.intervl_seconds'"),
        ("data_sync:\n  batch_size: lots\n", "data_sync.batch_size: Input should be a valid integer"),
        ("data_sync:\n  interval_seconds: -1\n", "data_sync.interval_seconds: Input should be greater than 0"),
        ("desktop_monitor:\n  exclude_titles: ['([a-z']\n", "desktop_monitor.exclude_titles"),
        ("database:\n  postgres_url: 'postgresql://u:${NOPE}@h/db'\n", "database.postgres_url: environment variable NOPE is not set"),
        ("filesystem_watcher:\n  symlinks:\n    follow: true\n", "filesystem_watcher.symlinks.follow"),
        ("- just\n- a list\n", "must hold a mapping of sections"),
        ("data_sync: [\n", "is not valid YAML at line"),
        ("desktop_monitor:\n  backend: wayland\n", "desktop_monitor.backend: Input should be 'auto' or 'x11'"),
        ("data_sync:\n  interval_seconds: 1e400\n", "data_sync.interval_seconds: Input should be a finite number"),
        ("data_sync:\n  retry_backoff_seconds: .nan\n", "data_sync.retry_backoff_seconds: Input should be a finite number"),
    ],
)
def test_a_bad_config_is_reported_with_the_file_and_the_key(tmp_path, text, expected):
    path = write(tmp_path / "config.yaml", text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})
    assert expected in str(excinfo.value)
    assert str(path) in str(excinfo.value)


def test_a_bad_postgres_url_is_reported_without_echoing_its_password(tmp_path):
    path = write(tmp_path / "config.yaml", "database:\n  postgres_url: 'mysql://u:hunter2secret@h/db'\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})
    assert "database.postgres_url: must be a postgresql:// URL" in str(excinfo.value)
    assert "hunter2secret" not in str(excinfo.value)


def test_an_explicit_config_path_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml", environ={})


def test_the_agent_does_not_start_on_a_bad_config(tmp_path):
    path = write(tmp_path / "config.yaml", "data_sync:\n  enabled: maybe\n")
    done = subprocess.run(
        [sys.executable, "-m", "host_agent", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "data_sync.enabled" in done.stderr and str(path) in done.stderr
    assert "Traceback" not in done.stderr


def test_the_loaded_config_is_frozen_and_every_path_in_it_is_absolute(tmp_path):
    path = write(tmp_path / "config.yaml", "agent:\n  data_dir: data\nfilesystem_watcher:\n  monitored_directories: [src]\n")
    config = load_config(path, environ={})
    assert config.data_dir == tmp_path / "data"
    assert config.file_events_db_path == tmp_path / "data" / "file_changes.db"
    assert config.filesystem_watcher.monitored_directories == [tmp_path / "src"]
    with pytest.raises(ValidationError):
        config.data_sync.interval_seconds = 1
