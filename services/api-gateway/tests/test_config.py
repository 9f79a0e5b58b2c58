"""The one settings object: where each value comes from, and what it refuses (never echoing a token)."""

from __future__ import annotations

import pytest

from api_gateway.cli import main, settings_from
from api_gateway.config import SettingsError, is_loopback, load_settings

URL = "postgresql://gateway:s3cretpass@db.example/reprospective"
TOKEN = "a-long-admin-token-value-1234567890"


def test_flags_win_over_the_environment_and_defaults_fill_the_rest():
    settings = load_settings({"port": 9100, "host": None}, {"DATABASE_URL": URL, "REPROSPECTIVE_API_PORT": "9000"})
    assert (settings.database_url, settings.host, settings.port) == (URL, "127.0.0.1", 9100)
    assert not settings.auth_required


def test_tokens_come_from_the_environment_admin_and_comma_separated_readers():
    settings = load_settings({}, {"DATABASE_URL": URL, "REPROSPECTIVE_API_TOKEN": TOKEN,
                                  "REPROSPECTIVE_API_READ_TOKENS": " reader-one-0123456789, reader-two-0123456789 ,"})
    assert [(t.name, t.admin) for t in settings.tokens] == [("admin", True), ("reader-1", False), ("reader-2", False)]
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.tokens)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.org", False),
])
def test_loopback_addresses_are_recognised(host, loopback):
    assert is_loopback(host) is loopback


def test_a_non_loopback_address_is_refused_without_a_token():
    with pytest.raises(SettingsError, match="not a loopback address"):
        load_settings({"host": "0.0.0.0"}, {"DATABASE_URL": URL})
    assert load_settings({"host": "0.0.0.0"}, {"DATABASE_URL": URL, "REPROSPECTIVE_API_TOKEN": TOKEN}).auth_required


def test_a_short_token_is_refused_without_showing_it():
    with pytest.raises(SettingsError) as error:
        load_settings({}, {"DATABASE_URL": URL, "REPROSPECTIVE_API_TOKEN": "short-secret"})
    assert "admin_token" in str(error.value) and "short-secret" not in str(error.value)


def test_a_missing_or_wrong_database_url_names_the_field():
    with pytest.raises(SettingsError, match="database_url"):
        load_settings({}, {})
    with pytest.raises(SettingsError, match=r"database_url \(from --database-url\): must be a postgresql:// URL"):
        load_settings({"database_url": "mysql://x"}, {})


def test_port_out_of_range_names_the_field():
    with pytest.raises(SettingsError, match="port"):
        load_settings({"port": 70000}, {"DATABASE_URL": URL})


def test_cli_flags_parse_into_settings():
    settings, _ = settings_from(["--database-url", URL, "--port", "8900", "--no-upgrade-schema"], {})
    assert (settings.port, settings.upgrade_schema) == (8900, False)


def test_cli_exits_2_on_bad_configuration_without_printing_secrets(capsys):
    assert main(["--database-url", URL, "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "s3cretpass" not in err
