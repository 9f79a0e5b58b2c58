"""The one validated configuration object, and how it is built.

Precedence, lowest first: built-in defaults → ``config.yaml`` → environment (and a ``.env``
file beside the config file) → command-line flags. ``${VAR}`` and ``${VAR:-default}`` inside
YAML string values are expanded from the environment, then from ``.env``.

Two models: :class:`ConfigFile` is the file as written (validated, paths as given), and
:class:`AgentConfig` is what the agent runs on: frozen, every path absolute and resolved. Nothing
below the entry point reads files or the environment: :func:`load_config` is called once, and
the resulting :class:`AgentConfig` is passed down.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from host_agent.core.errors import ConfigError
from host_agent.core.identity import host_identifier

APP_NAME = "reprospective"

#: Environment variable naming the config file (after ``--config``, before the default location).
CONFIG_ENV = "REPROSPECTIVE_CONFIG"

#: Environment variables that override single keys. DATABASE_URL is the usual name for a
#: PostgreSQL URL (libpq tools, Docker images, hosting platforms all use it).
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "postgres_url"),
    "REPROSPECTIVE_DATA_DIR": ("agent", "data_dir"),
    "REPROSPECTIVE_DESKTOP_DB": ("database", "desktop_activity_db"),
    "REPROSPECTIVE_FILE_EVENTS_DB": ("database", "file_events_db"),
    "REPROSPECTIVE_LOG_LEVEL": ("agent", "log_level"),
}

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def default_config_path() -> Path:
    """``~/.config/reprospective/config.yaml`` (XDG_CONFIG_HOME is honoured)."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.yaml"


def default_data_dir() -> Path:
    """``~/.local/share/reprospective`` for a user; ``/var/lib/reprospective`` for root.

    Root's home is private (mode 0700), and the embedded PostgreSQL server runs as the
    unprivileged ``postgres`` user, which must be able to reach its cluster folder.
    """
    if os.geteuid() == 0:
        return Path("/var/lib") / APP_NAME
    return Path(platformdirs.user_data_dir(APP_NAME))


class _Section(BaseModel):
    # Frozen: one validated object, never changed after loading. No NaN or infinity: every
    # number must be a real bound (an infinite interval would mean "never sync again").
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AgentSection(_Section):
    data_dir: Path | None = None  # None: default_data_dir()
    log_level: str = "INFO"
    # This host's name for people; None: hostname_username. Renaming keeps the host's history
    # (the host is its id, kept in the data folder; see core/identity.py).
    host_identifier: str | None = None

    @field_validator("host_identifier")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        return check_host_identifier(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"must be one of DEBUG, INFO, WARNING, ERROR, not {value!r}")
        return level


class DatabaseSection(_Section):
    desktop_activity_db: Path | None = None  # None: <data_dir>/desktop_activity.db
    file_events_db: Path | None = None  # None: <data_dir>/file_changes.db
    # None: the embedded PostgreSQL cluster under <data_dir>/postgres.
    postgres_url: SecretStr | None = None

    @field_validator("postgres_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value()
        if not url.startswith(("postgresql://", "postgres://")):
            # Never echo the value: it may hold a password.
            raise ValueError("must be a postgresql:// URL")
        return value


class DataSyncSection(_Section):
    enabled: bool = True
    interval_seconds: float = Field(300, gt=0, le=7 * 86_400)
    # Rows per PostgreSQL transaction; chosen from bench/bench_sync.py (see docs/benchmarks.md).
    batch_size: int = Field(5000, ge=1, le=100_000)
    max_retries: int = Field(5, ge=0, le=100)
    retry_backoff_seconds: float = Field(30, gt=0, le=86_400)
    # How long shutdown may spend on the last sync before giving up (the rows stay queued).
    final_sync_timeout_seconds: float = Field(20, ge=0, le=3600)
    # Longest wait for one PostgreSQL statement (a batch's COPY included): a server that stops
    # answering fails the batch as "PostgreSQL away" after this, and the run is retried later.
    statement_timeout_seconds: float = Field(60, gt=0, le=3600)
    # Longest a whole run may take; past it the run is abandoned (its committed batches stay
    # synced) and the rest waits for the next one.
    run_timeout_seconds: float = Field(1800, gt=0, le=86_400)
    # Synced rows older than this are deleted locally; 0 keeps everything.
    retention_days: int = Field(30, ge=0, le=36_500)


class DesktopMonitorSection(_Section):
    enabled: bool = True
    # The display system: ``auto`` (X11 today) or ``x11``.
    backend: Literal["auto", "x11"] = "auto"
    monitor_interval: float = Field(5, gt=0, le=3600)
    idle_timeout_seconds: int = Field(300, ge=0, le=86_400)
    exclude_applications: list[str] = Field(default_factory=list)
    exclude_titles: list[str] = Field(default_factory=list)

    @field_validator("exclude_applications", "exclude_titles")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        return _check_regexes(patterns)


DEFAULT_EXCLUDE_PATTERNS = [
    r"(^|/)\.git(/|$)",
    r"(^|/)node_modules(/|$)",
    r"(^|/)__pycache__(/|$)",
    r"(^|/)\.(venv|tox|mypy_cache|pytest_cache)(/|$)",
    r"(^|/)(venv|env)(/|$)",
    r"(^|/)(build|dist|target)(/|$)",
    r"\.(swp|swo|swx|tmp|temp|pyc|pyo|log)$",
    r"~$",
    r"(^|/)\.#",
    r"(^|/)#[^/]*#$",
]


class BufferSection(_Section):
    max_events: int = Field(100, ge=1, le=1_000_000)
    # At most this much of recorded events is lost if the agent is killed (kill -9, power loss).
    flush_interval: float = Field(1, gt=0, le=3600)
    # Most events kept in memory while they cannot be written (a full disk); past it new ones are
    # not kept, and their trees are rescanned once writing works again.
    max_pending: int = Field(100_000, ge=1, le=10_000_000)


class SymlinkSection(_Section):
    follow: bool = False

    @field_validator("follow")
    @classmethod
    def _not_followed(cls, follow: bool) -> bool:
        if follow:
            raise ValueError("following symlinks is not supported; set it to false")
        return follow


class FilesystemWatcherSection(_Section):
    enabled: bool = True
    monitored_directories: list[Path] = Field(default_factory=list)
    exclude_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE_PATTERNS))
    buffer: BufferSection = Field(default_factory=BufferSection)
    symlinks: SymlinkSection = Field(default_factory=SymlinkSection)
    coalesce_seconds: float = Field(1.0, ge=0, le=3600)
    refresh_interval_seconds: float = Field(60, gt=0, le=86_400)

    @field_validator("exclude_patterns")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        return _check_regexes(patterns)


class ConfigFile(_Section):
    """The configuration as written: validated, paths as given (relative to the file, or unset)."""

    agent: AgentSection = Field(default_factory=AgentSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    data_sync: DataSyncSection = Field(default_factory=DataSyncSection)
    desktop_monitor: DesktopMonitorSection = Field(default_factory=DesktopMonitorSection)
    filesystem_watcher: FilesystemWatcherSection = Field(default_factory=FilesystemWatcherSection)


class AgentConfig(ConfigFile):
    """Everything the agent needs, validated and resolved: every path below is absolute."""

    #: The file this configuration came from (None: built-in defaults only).
    source: Path | None = None
    data_dir: Path
    desktop_db_path: Path
    file_events_db_path: Path

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL URL with its password. Never log it: use :func:`reprospective_db.secrets.redact`."""
        url = self.database.postgres_url
        return url.get_secret_value() if url is not None else None

    @property
    def host_identifier(self) -> str:
        """This host's name for people: ``agent.host_identifier``, else ``hostname_username``."""
        return host_identifier(self.agent.host_identifier)

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.database.postgres_url is None


#: The longest host name the API's ``host`` parameter takes.
HOST_IDENTIFIER_MAX = 255


def check_host_identifier(value: str | None) -> str | None:
    """A configured host name: printable text of 1 to 255 characters, no surrounding spaces, and
    not shaped like a UUID (the API's ``host`` parameter takes a host id or a name)."""
    if value is None:
        return None
    if not value.strip():
        raise ValueError("must not be empty (leave it out to use hostname_username)")
    if value != value.strip():
        raise ValueError("must not start or end with spaces")
    if len(value) > HOST_IDENTIFIER_MAX:
        raise ValueError(f"must be at most {HOST_IDENTIFIER_MAX} characters")
    if not value.isprintable():
        raise ValueError("must hold printable characters only")
    try:
        uuid.UUID(value)
    except ValueError:
        return value
    raise ValueError("must not be a UUID (host ids are UUIDs; a name must tell itself apart)")


def _check_regexes(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return patterns


def resolve_config_path(cli_path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """Where the config file is: ``--config``, else ``$REPROSPECTIVE_CONFIG``, else the default.

    Returns the path and whether it was asked for explicitly (an explicit path must exist).
    """
    if cli_path:
        return Path(cli_path).expanduser().absolute(), True
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser().absolute(), True
    return default_config_path(), False


def load_config(
    cli_path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Build the configuration: defaults, the file, the environment, then ``overrides``.

    ``overrides`` maps dotted keys (``"data_sync.interval_seconds"``) to values, for CLI flags.
    Raises :class:`ConfigError` naming the file and the key for every kind of mistake.
    """
    environ = dict(os.environ if environ is None else environ)
    path, explicit = resolve_config_path(cli_path, environ)
    raw: dict[str, Any] = {}
    source: Path | None = None
    if path.exists():
        source = path
        raw = _read_yaml(path)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist", hint="check --config or $REPROSPECTIVE_CONFIG")

    base_dir = path.parent
    dotenv = {k: v for k, v in dotenv_values(base_dir / ".env").items() if v is not None} if source else {}
    raw = _expand(raw, environ, dotenv, source or path, ())

    for var, (section, key) in ENV_OVERRIDES.items():
        value = environ.get(var, dotenv.get(var))
        if value:
            raw.setdefault(section, {})
            if not isinstance(raw[section], dict):
                break  # reported by validation below
            raw[section][key] = value
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        raw.setdefault(section, {})[key] = value

    try:
        written = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc, source)) from None
    return resolve(written, base_dir, source)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def _expand(node: Any, environ: Mapping[str, str], dotenv: Mapping[str, str], path: Path, key: tuple) -> Any:
    if isinstance(node, dict):
        return {k: _expand(v, environ, dotenv, path, (*key, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, environ, dotenv, path, (*key, str(i))) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ:
            return environ[name]
        if name in dotenv:
            return dotenv[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{path}: {'.'.join(key)}: environment variable {name} is not set (nor in {path.parent / '.env'})",
            hint=f"export {name}=... or add it to the .env file",
        )

    return _VAR.sub(replace, node)


def _describe_validation(exc: ValidationError, source: Path | None) -> str:
    where = str(source) if source else "configuration"
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'")
            continue
        message = error["msg"].removeprefix("Value error, ")
        shown = "" if "postgres_url" in key else f" (got {error.get('input')!r})"
        lines.append(f"{where}: {key}: {message}{shown}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def resolve(written: ConfigFile, base_dir: Path, source: Path | None = None) -> AgentConfig:
    """The configuration the agent runs on: relative paths taken from ``base_dir``, defaults filled in."""

    def absolute(p: Path) -> Path:
        p = p.expanduser()
        return p if p.is_absolute() else (base_dir / p).resolve()

    data_dir = absolute(written.agent.data_dir) if written.agent.data_dir else default_data_dir()
    db = written.database
    desktop_db = absolute(db.desktop_activity_db) if db.desktop_activity_db else data_dir / "desktop_activity.db"
    file_events_db = absolute(db.file_events_db) if db.file_events_db else data_dir / "file_changes.db"
    watcher = written.filesystem_watcher
    return AgentConfig(
        agent=written.agent.model_copy(update={"data_dir": data_dir}),
        database=db.model_copy(update={"desktop_activity_db": desktop_db, "file_events_db": file_events_db}),
        data_sync=written.data_sync,
        desktop_monitor=written.desktop_monitor,
        filesystem_watcher=watcher.model_copy(
            update={"monitored_directories": [absolute(p) for p in watcher.monitored_directories]}
        ),
        source=source,
        data_dir=data_dir,
        desktop_db_path=desktop_db,
        file_events_db_path=file_events_db,
    )
