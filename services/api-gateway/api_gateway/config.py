"""The gateway's one validated configuration object, built from a file, the environment and flags.

Precedence, lowest first: built-in defaults → the ``api`` section of a YAML file
(``--config PATH`` or ``$REPROSPECTIVE_API_CONFIG``; no file is read unless one is named) → the
environment (:data:`ENV_VARS`) → command-line flags. :func:`load_settings` is given the
argv-derived values, an environment mapping and the file's path; it opens no connection.

Tokens are :class:`pydantic.SecretStr`: their value never appears in a repr, a log line or a
validation message (:func:`describe_errors` names where a value came from and why it is wrong,
never the value). A file that holds a secret (a token, or a password in ``database_url``) must
be readable by its owner only, as ssh insists for a private key: otherwise it is refused.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8800
#: A token shorter than this is too easy to guess by trying; 16 characters of a random
#: alphabet is already ~80 bits (`openssl rand -hex 16` gives 32).
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

#: Names the config file when ``--config`` is not given.
CONFIG_ENV = "REPROSPECTIVE_API_CONFIG"
#: The one section of the file the gateway reads; its keys are the fields of :class:`Settings`.
FILE_SECTION = "api"
#: Environment variable → setting. The two token variables are read by :func:`_from_environ`.
ENV_VARS: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "REPROSPECTIVE_API_HOST": "host",
    "REPROSPECTIVE_API_PORT": "port",
    "REPROSPECTIVE_API_TOKEN": "admin_token",
    "REPROSPECTIVE_API_READ_TOKENS": "read_tokens",
    "REPROSPECTIVE_API_LOG_LEVEL": "log_level",
}
#: Command-line flag → setting, for naming a flag in an error.
FLAGS: dict[str, str] = {
    "database_url": "--database-url", "host": "--host", "port": "--port", "log_level": "--log-level",
    "upgrade_schema": "--no-upgrade-schema",
}


class SettingsError(Exception):
    """The configuration is invalid; the message names each field and why, never a secret."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 possibly in brackets) is this machine only."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Token:
    """One configured credential: ``name`` is what ``created_by``/``updated_by`` record."""

    name: str
    value: SecretStr
    admin: bool


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = Field(description="postgresql:// URL of the server that holds every host's rows")
    host: str = DEFAULT_HOST
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    admin_token: SecretStr | None = None
    read_tokens: tuple[SecretStr, ...] = ()
    pool_max_size: int = Field(8, ge=1, le=100)
    #: Seconds; every statement of a request is bounded (the design: requests are short).
    statement_timeout: float = Field(10.0, gt=0, le=300)
    connect_timeout: float = Field(5.0, gt=0, le=60)
    #: Seconds one page of a search that no index answers well (file path text, project,
    #: extension, event type; session text) reads back in time before it answers with what it
    #: found and a cursor to search further back (0: one window per page).
    search_seconds: float = Field(0.25, ge=0, le=60)
    upgrade_schema: bool = True
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")
        return value

    @field_validator("read_tokens")
    @classmethod
    def _read_token_length(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, token in enumerate(value, 1):
            if len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
                raise ValueError(f"token {index} must be at least {MIN_TOKEN_LENGTH} characters")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @model_validator(mode="after")
    def _non_loopback_needs_a_token(self) -> Settings:
        if not is_loopback(self.host) and not self.tokens:
            raise ValueError(
                f"host {self.host!r} is not a loopback address: set REPROSPECTIVE_API_TOKEN "
                "(or REPROSPECTIVE_API_READ_TOKENS, or api.admin_token in the config file) "
                "before serving other machines"
            )
        return self

    @property
    def tokens(self) -> tuple[Token, ...]:
        found = []
        if self.admin_token is not None:
            found.append(Token("admin", self.admin_token, admin=True))
        found += [Token(f"reader-{i}", value, admin=False) for i, value in enumerate(self.read_tokens, 1)]
        return tuple(found)

    @property
    def auth_required(self) -> bool:
        return bool(self.tokens)


#: Settings whose value is a secret: never shown, and a file holding one must be private.
SECRET_FIELDS = ("admin_token", "read_tokens")


def resolve_config_path(flag: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    """The config file named by ``--config``, else by ``$REPROSPECTIVE_API_CONFIG``; None: no file."""
    named = flag or environ.get(CONFIG_ENV, "").strip()
    return Path(named).expanduser().absolute() if named else None


def _fail(path: Path, message: str) -> SettingsError:
    return SettingsError(f"  {path}: {message}")


def _has_password(url: object) -> bool:
    try:
        return isinstance(url, str) and bool(urlsplit(url).password)
    except ValueError:
        return False


def read_config_file(path: Path) -> dict[str, object]:
    """The ``api`` section of ``path``, its keys checked; raises :class:`SettingsError` naming file and key."""
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise _fail(path, "is not a regular file")
            data = handle.read()
    except FileNotFoundError:
        raise _fail(path, f"config file does not exist (named by --config or ${CONFIG_ENV})") from None
    except IsADirectoryError:
        raise _fail(path, "is not a regular file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read the config file: {exc.strerror}") from None
    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(path, "is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _fail(path, "is not valid YAML" + (f" (line {mark.line + 1})" if mark else "")) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise _fail(path, f"must hold a mapping with an '{FILE_SECTION}' section")
    unknown = [str(key) for key in document if key != FILE_SECTION]
    if unknown:
        raise _fail(path, f"unknown section '{unknown[0]}' (the gateway reads only '{FILE_SECTION}')")
    section = document.get(FILE_SECTION)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise _fail(path, f"{FILE_SECTION}: must be a mapping of settings")
    for key in section:
        if key not in Settings.model_fields:
            known = ", ".join(Settings.model_fields)
            raise _fail(path, f"unknown key '{FILE_SECTION}.{key}' (known: {known})")
    if isinstance(section.get("read_tokens"), str):
        raise _fail(path, f"{FILE_SECTION}.read_tokens: must be a list of tokens (one '- TOKEN' line each)")
    values = {key: value for key, value in section.items() if value is not None}
    secrets = [key for key in SECRET_FIELDS if values.get(key)]
    if _has_password(values.get("database_url")):
        secrets.append("a password in database_url")
    if secrets and mode & (stat.S_IRGRP | stat.S_IROTH):
        raise _fail(path, f"holds {' and '.join(secrets)} but other users may read it "
                          f"(mode {stat.S_IMODE(mode):04o}): run chmod 600 {path}")
    return values


def _from_environ(environ: Mapping[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for var, field in ENV_VARS.items():
        text = environ.get(var, "").strip()
        if not text:
            continue
        if field == "read_tokens":
            readers = tuple(t.strip() for t in text.split(",") if t.strip())
            if readers:
                values[field] = readers
        else:
            values[field] = text
    return values


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: a key of a file, or a variable or flag (``source``)."""

    source: str
    file: Path | None = None

    def locate(self, dotted: str) -> str:
        if self.file is not None:
            return f"{self.file}: {FILE_SECTION}.{dotted}"
        return f"{dotted} (from {self.source})"


def describe_errors(error: ValidationError, origins: Mapping[str, Origin] | None = None) -> str:
    """One line per invalid field: where its value came from and the reason, never the value given."""
    origins = origins or {}
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        dotted = ".".join(str(part) for part in item["loc"]) or "settings"
        message = item["msg"].removeprefix("Value error, ")
        origin = origins.get(str(item["loc"][0])) if item["loc"] else None
        lines.append(f"  {origin.locate(dotted) if origin else dotted}: {message}")
    return "\n".join(lines)


def load_settings(flags: Mapping[str, object], environ: Mapping[str, str], *, config_file: Path | None = None,
                  default_database_url: Callable[[], str | None] | None = None) -> Settings:
    """Settings from flag values (``None`` = not given) over the environment over the file over defaults.

    ``default_database_url`` is asked only when no source gives ``database_url``.
    """
    values: dict[str, object] = {}
    origins: dict[str, Origin] = {}
    variable = {field: var for var, field in ENV_VARS.items()}
    layers = [
        (read_config_file(config_file) if config_file else {}, lambda field: Origin(str(config_file), config_file)),
        (_from_environ(environ), lambda field: Origin("$" + variable[field])),
        ({k: v for k, v in flags.items() if v is not None}, lambda field: Origin(FLAGS.get(field, field))),
    ]
    for layer, origin in layers:
        for field, value in layer.items():
            values[field] = value
            origins[field] = origin(field)
    if "database_url" not in values and default_database_url is not None:
        found = default_database_url()
        if found:
            values["database_url"] = found
            origins["database_url"] = Origin("`reprospective-agent db url`")
    if "database_url" not in values:
        raise SettingsError(
            "  database_url: not set: pass --database-url, set DATABASE_URL or api.database_url in the config "
            "file (the agent's own server: --database-url \"$(reprospective-agent db url)\")"
        )
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, origins)) from None
