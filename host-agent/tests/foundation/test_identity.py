"""Who a host is: a name for people (configurable, validated) and an id made once in the data folder."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from host_agent.core.config import load_config
from host_agent.core.errors import ConfigError, IdentityError
from host_agent.core.identity import HOST_ID_FILE, default_host_identifier, host_id, read_host_id


def test_the_host_id_is_made_once_and_read_back_the_same(tmp_path):
    assert read_host_id(tmp_path) is None
    made = host_id(tmp_path)
    assert (tmp_path / HOST_ID_FILE).read_text(encoding="ascii") == f"{made}\n"
    assert host_id(tmp_path) == made == read_host_id(tmp_path)
    assert host_id(tmp_path / "other") != made  # another data folder is another host
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_the_host_id_folder_is_made_when_missing(tmp_path):
    made = host_id(tmp_path / "new" / "data")
    assert read_host_id(tmp_path / "new" / "data") == made


@pytest.mark.parametrize(
    "content",
    ["", "not-a-uuid\n", "1234", b"\xff\xfe\x00garbage"],
    ids=["empty", "text", "short", "binary"],
)
def test_a_corrupt_host_id_file_is_an_error_naming_it_never_a_new_identity(tmp_path, content):
    path = tmp_path / HOST_ID_FILE
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for read in (read_host_id, host_id):
        with pytest.raises(IdentityError) as caught:
            read(tmp_path)
        assert str(path) in str(caught.value)
        assert "new host" in caught.value.hint
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())  # left as it was


def test_an_unreadable_host_id_file_is_an_error_naming_it(tmp_path):
    (tmp_path / HOST_ID_FILE).mkdir()  # unreadable as a file, for root too
    with pytest.raises(IdentityError, match=f"host id file {tmp_path / HOST_ID_FILE} cannot be read"):
        host_id(tmp_path)


def test_a_host_id_file_with_surrounding_whitespace_still_reads(tmp_path):
    known = uuid.uuid4()
    (tmp_path / HOST_ID_FILE).write_text(f"  {known}\r\n", encoding="ascii")
    assert host_id(tmp_path) == known


def _config(tmp_path: Path, name: str | None):
    agent = {"data_dir": "data"} | ({"host_identifier": name} if name is not None else {})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"agent": agent}, allow_unicode=True), encoding="utf-8")
    return load_config(tmp_path / "config.yaml", environ={})


def test_the_host_name_defaults_to_hostname_username_and_can_be_configured(tmp_path):
    assert _config(tmp_path, None).host_identifier == default_host_identifier()
    assert _config(tmp_path, "workstation").host_identifier == "workstation"
    assert _config(tmp_path, "büro-rechner_anna").host_identifier == "büro-rechner_anna"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        (" padded", "must not start or end with spaces"),
        ("a" * 256, "at most 255 characters"),
        ("tab\there", "printable characters only"),
        (str(uuid.uuid4()), "must not be a UUID"),
    ],
)
def test_a_bad_host_name_in_the_config_is_refused_naming_the_key(tmp_path, name, message):
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, name)
    assert "agent.host_identifier" in str(caught.value)
    assert message in str(caught.value)
    assert str(tmp_path / "config.yaml") in str(caught.value)
