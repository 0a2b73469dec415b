"""The group recorder's settings: the shared flags and variables, and the mounted members directory
(CAMFLEET_GROUP_CONFIG_DIR: members.json and each member's `<camera>.username` / `<camera>.password`) — what each
member records with, and errors that name the member and field at fault but never a secret value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from camfleet.recorder_pod.config import (
    MODE_RECORD,
    MODE_RETAIN,
    ConfigError,
    RecorderConfig,
    is_group,
    load,
    load_group,
    parse_members,
    read_members,
)
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from tests.recorder.conftest import members_files, write_secret_mount

PASSWORDS = {"lobby-1": "lobby:Pa55/w@rd", "gate-2": "gate-secret-2"}
MEMBERS: list[dict[str, Any]] = [
    {"camera": "lobby-1", "mode": "record", "streamUrl": "rtsp://10.0.0.7:554/Streaming/101", "host": "10.0.0.7",
     "retentionDays": 45, "legalHold": False},
    {"camera": "gate-2", "mode": "record", "streamUrl": "rtsp://10.0.0.8/live", "host": "10.0.0.8",
     "retentionDays": 30, "legalHold": True},
    {"camera": "dock-3", "mode": "retain", "streamUrl": "", "host": "", "retentionDays": 60, "legalHold": False,
     "retainUntil": "2030-06-01T00:00:00Z"},
]  # fmt: skip
CREDENTIALS = {camera: ("viewer", password) for camera, password in PASSWORDS.items()}


def group_environ(tmp_path: Path) -> dict[str, str]:
    return {
        "CAMFLEET_GROUP_CONFIG_DIR": str(tmp_path / "members"),
        "CAMFLEET_DATA_DIR": str(tmp_path / "volume"),
        "CAMFLEET_SEGMENT_SECONDS": "10",
        "CAMFLEET_METRICS_PORT": "9300",
    }


def shared(tmp_path: Path) -> RecorderConfig:
    group, _ = load_group([], group_environ(tmp_path))
    assert group.shared is not None
    return group.shared


def test_each_member_gets_its_own_stream_credentials_directory_and_policy(tmp_path: Path) -> None:
    group, level = load_group([], group_environ(tmp_path))
    assert level == "INFO"
    assert (group.config_dir, group.data_dir, group.metrics_port) == (
        tmp_path / "members", tmp_path / "volume", 9300
    )  # fmt: skip
    assert group.members == ()  # read by the running process, which keeps reading them
    write_secret_mount(tmp_path / "members", members_files(MEMBERS, CREDENTIALS))
    assert group.shared is not None
    members = read_members(tmp_path / "members", group.shared)
    assert [member.camera for member in members] == ["lobby-1", "gate-2", "dock-3"]
    assert [member.mode for member in members] == [MODE_RECORD, MODE_RECORD, MODE_RETAIN]
    lobby, gate, dock = (member.config for member in members)
    assert [lobby.data_dir, gate.data_dir, dock.data_dir] == [
        tmp_path / "volume" / name for name in ("lobby-1", "gate-2", "dock-3")
    ]
    assert (lobby.stream_url, lobby.username, lobby.credentials_host) == (
        "rtsp://10.0.0.7:554/Streaming/101",
        "viewer",
        "10.0.0.7",
    )
    assert lobby.password is not None
    assert lobby.password.get_secret_value() == PASSWORDS["lobby-1"]
    assert gate.password is not None
    assert gate.password.get_secret_value() == PASSWORDS["gate-2"]
    assert (lobby.retention_seconds, gate.legal_hold, lobby.legal_hold) == (45 * SECONDS_PER_DAY, True, False)
    assert (dock.stream_url, dock.retention_days, dock.password) == ("", 60, None)
    assert {member.config.segment_seconds for member in members} == {10}  # shared settings reach every member


def test_a_password_in_a_member_url_is_moved_out_of_it(tmp_path: Path) -> None:
    members = [{**MEMBERS[0], "streamUrl": "rtsp://admin:url%3Asecret@10.0.0.7/live"}]
    (lobby,) = parse_members(json.dumps(members), {}, shared(tmp_path))
    assert lobby.config.stream_url == "rtsp://10.0.0.7/live"
    assert lobby.config.username == "admin"
    assert lobby.config.password is not None
    assert lobby.config.password.get_secret_value() == "url:secret"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[{"camera": "lobby-1", "mode": "rec', "members.json is not JSON"),  # half-written
        ('{"camera": "lobby-1"}', "members.json is not a list"),
        ('["lobby-1"]', "members.json member 0 is not an object"),
        ('[{"camera": "../etc"}]', "member 0: camera is not a DNS label"),
        ('[{"camera": "gate-2", "mode": "record", "streamUrl": ""}]', "camera gate-2: no streamUrl"),
        ('[{"camera": "gate-2", "streamUrl": "http://10.0.0.7/live"}]', "camera gate-2: streamUrl must be rtsp"),
        ('[{"camera": "gate-2", "mode": "retain", "retentionDays": 29}]', "retentionDays 29 is below the legal floor"),
        ('[{"camera": "gate-2", "mode": "retain", "retentionDays": "sixty"}]', "retentionDays is not a number"),
        ('[{"camera": "gate-2", "mode": "retain", "legalHold": "maybe"}]', "legalHold must be true or false"),
        ('[{"camera": "gate-2", "mode": "archive"}]', "mode must be record or retain"),
        ('[{"camera": "gate-2", "mode": "retain"}, {"camera": "gate-2", "mode": "retain"}]', "names a camera twice"),
    ],
)
def test_a_wrong_members_file_is_refused_naming_the_member_and_field_not_a_secret(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_members(text, CREDENTIALS, shared(tmp_path))
    assert named in str(raised.value)
    assert not any(password in str(raised.value) for password in PASSWORDS.values())


def test_a_password_file_that_is_not_text_is_refused_without_quoting_it(tmp_path: Path) -> None:
    write_secret_mount(tmp_path / "members", members_files(MEMBERS[:1], {}))
    (tmp_path / "members" / "..data" / "lobby-1.password").write_bytes(b"pw\xff\xfe-secret")
    with pytest.raises(ConfigError) as raised:
        read_members(tmp_path / "members", shared(tmp_path))
    assert str(raised.value) == "lobby-1.password is not UTF-8"


def test_a_stream_url_flag_or_an_empty_directory_setting_is_refused_in_a_group(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a group's members are in CAMFLEET_GROUP_CONFIG_DIR"):
        load_group(["--stream-url", "rtsp://10.0.0.7/live"], group_environ(tmp_path))
    with pytest.raises(ConfigError, match="CAMFLEET_GROUP_CONFIG_DIR names no directory"):
        load_group([], group_environ(tmp_path) | {"CAMFLEET_GROUP_CONFIG_DIR": ""})


def test_the_group_variable_decides_the_mode_and_single_mode_is_unchanged(tmp_path: Path) -> None:
    environ = group_environ(tmp_path)
    assert is_group(environ)
    single = {
        "CAMFLEET_STREAM_URL": "rtsp://10.0.0.7/live",
        "CAMFLEET_STREAM_PASSWORD": PASSWORDS["lobby-1"],
        "CAMFLEET_CAMERA_HOST": "10.0.0.7",
        "CAMFLEET_DATA_DIR": str(tmp_path / "volume"),
    }
    assert not is_group(single)
    config, _ = load([], single)
    assert isinstance(config, RecorderConfig)
    assert (config.data_dir, config.credentials_host) == (tmp_path / "volume", "10.0.0.7")
