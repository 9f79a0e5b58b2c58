"""The gateway's one validated configuration object, built from flags and the environment.

Precedence: built-in defaults → the environment (``DATABASE_URL``, ``REPROSPECTIVE_API_TOKEN``,
``REPROSPECTIVE_API_READ_TOKENS``, ``REPROSPECTIVE_API_HOST``, ``REPROSPECTIVE_API_PORT``) →
command-line flags. Nothing here reads a file or opens a connection; :func:`load_settings` is
given the argv-derived values and an environment mapping.

Tokens are :class:`pydantic.SecretStr`: their value never appears in a repr, a log line or a
validation message (:func:`describe_errors` prints the field and the reason, never the input).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8800
#: A token shorter than this is too easy to guess by trying; 16 characters of a random
#: alphabet is already ~80 bits (`openssl rand -hex 16` gives 32).
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


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
                "(or REPROSPECTIVE_API_READ_TOKENS) before serving other machines"
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


def describe_errors(error: ValidationError) -> str:
    """One line per invalid field, with the reason and never the value given."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {field}: {message}")
    return "\n".join(lines)


def load_settings(flags: Mapping[str, object], environ: Mapping[str, str]) -> Settings:
    """Settings from flag values (``None`` = not given) over the environment over defaults."""
    values: dict[str, object] = {}
    if environ.get("DATABASE_URL"):
        values["database_url"] = environ["DATABASE_URL"]
    if environ.get("REPROSPECTIVE_API_HOST"):
        values["host"] = environ["REPROSPECTIVE_API_HOST"]
    if environ.get("REPROSPECTIVE_API_PORT"):
        values["port"] = environ["REPROSPECTIVE_API_PORT"]
    if environ.get("REPROSPECTIVE_API_TOKEN", "").strip():
        values["admin_token"] = environ["REPROSPECTIVE_API_TOKEN"].strip()
    readers = [t.strip() for t in environ.get("REPROSPECTIVE_API_READ_TOKENS", "").split(",") if t.strip()]
    if readers:
        values["read_tokens"] = tuple(readers)
    if environ.get("REPROSPECTIVE_API_LOG_LEVEL"):
        values["log_level"] = environ["REPROSPECTIVE_API_LOG_LEVEL"]
    values.update({key: value for key, value in flags.items() if value is not None})
    if "database_url" not in values:
        raise SettingsError(
            "  database_url: not set: pass --database-url or set DATABASE_URL "
            "(the agent's own server: --database-url \"$(reprospective-agent db url)\")"
        )
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None
