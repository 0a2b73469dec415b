"""The group recorder's settings (CAMFLEET_GROUP_CAMERAS and CAMFLEET_CAMERA_<i>_*): what each member records with,
and errors that name the variable at fault but never a secret value."""

from __future__ import annotations

from pathlib import Path

import pytest

from camfleet.recorder_pod.config import (
    MODE_RECORD,
    MODE_RETAIN,
    ConfigError,
    RecorderConfig,
    is_group,
    load,
    load_group,
)
from camfleet.recorder_pod.retention import SECONDS_PER_DAY

PASSWORDS = ["lobby:Pa55/w@rd", "gate-secret-2", "dock-secret-3"]


def group_environ(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "gate-password").write_text(PASSWORDS[1] + "\n")
    return {
        "CAMFLEET_GROUP_CAMERAS": "lobby-1, gate-2,dock-3",
        "CAMFLEET_DATA_DIR": str(tmp_path / "volume"),
        "CAMFLEET_SEGMENT_SECONDS": "10",
        "CAMFLEET_METRICS_PORT": "9300",
        "CAMFLEET_CAMERA_0_STREAM_URL": "rtsp://10.0.0.7:554/Streaming/101",
        "CAMFLEET_CAMERA_0_STREAM_USERNAME": "viewer",
        "CAMFLEET_CAMERA_0_STREAM_PASSWORD": PASSWORDS[0],
        "CAMFLEET_CAMERA_0_HOST": "10.0.0.7",
        "CAMFLEET_CAMERA_0_RETENTION_DAYS": "45",
        "CAMFLEET_CAMERA_0_LEGAL_HOLD": "false",
        "CAMFLEET_CAMERA_0_MODE": "record",
        "CAMFLEET_CAMERA_1_STREAM_URL": "rtsp://10.0.0.8/live",
        "CAMFLEET_CAMERA_1_STREAM_USERNAME": "viewer",
        "CAMFLEET_CAMERA_1_STREAM_PASSWORD_FILE": str(tmp_path / "gate-password"),
        "CAMFLEET_CAMERA_1_HOST": "10.0.0.8",
        "CAMFLEET_CAMERA_1_RETENTION_DAYS": "30",
        "CAMFLEET_CAMERA_1_LEGAL_HOLD": "true",
        "CAMFLEET_CAMERA_2_STREAM_URL": "",
        "CAMFLEET_CAMERA_2_STREAM_PASSWORD": PASSWORDS[2],
        "CAMFLEET_CAMERA_2_RETENTION_DAYS": "60",
        "CAMFLEET_CAMERA_2_MODE": "retain",
    }


def test_each_member_gets_its_own_stream_credentials_directory_and_policy(tmp_path: Path) -> None:
    group, level = load_group([], group_environ(tmp_path))
    assert level == "INFO"
    assert [member.camera for member in group.members] == ["lobby-1", "gate-2", "dock-3"]
    assert [member.mode for member in group.members] == [MODE_RECORD, MODE_RECORD, MODE_RETAIN]
    lobby, gate, dock = (member.config for member in group.members)
    assert group.data_dir == tmp_path / "volume"
    assert [lobby.data_dir, gate.data_dir, dock.data_dir] == [
        tmp_path / "volume" / name for name in ("lobby-1", "gate-2", "dock-3")
    ]
    assert (lobby.stream_url, lobby.username, lobby.credentials_host) == (
        "rtsp://10.0.0.7:554/Streaming/101",
        "viewer",
        "10.0.0.7",
    )
    assert lobby.password is not None
    assert lobby.password.get_secret_value() == PASSWORDS[0]
    assert gate.password is not None
    assert gate.password.get_secret_value() == PASSWORDS[1]  # from the mounted Secret file
    assert (lobby.retention_seconds, gate.legal_hold, lobby.legal_hold) == (45 * SECONDS_PER_DAY, True, False)
    assert (dock.stream_url, dock.retention_days) == ("", 60)
    # Shared settings reach every member; the metrics port is the group's.
    assert {member.config.segment_seconds for member in group.members} == {10}
    assert group.metrics_port == 9300
    assert sorted(group.secrets) == sorted(PASSWORDS)


def test_a_password_in_a_member_url_is_moved_out_of_it(tmp_path: Path) -> None:
    environ = group_environ(tmp_path)
    environ["CAMFLEET_CAMERA_0_STREAM_URL"] = "rtsp://admin:url%3Asecret@10.0.0.7/live"
    del environ["CAMFLEET_CAMERA_0_STREAM_USERNAME"], environ["CAMFLEET_CAMERA_0_STREAM_PASSWORD"]
    lobby = load_group([], environ)[0].members[0].config
    assert lobby.stream_url == "rtsp://10.0.0.7/live"
    assert lobby.username == "admin"
    assert lobby.password is not None
    assert lobby.password.get_secret_value() == "url:secret"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"CAMFLEET_CAMERA_1_STREAM_URL": ""}, "CAMFLEET_CAMERA_1_STREAM_URL"),
        ({"CAMFLEET_CAMERA_0_STREAM_URL": "http://10.0.0.7/live"}, "CAMFLEET_CAMERA_0_STREAM_URL"),
        ({"CAMFLEET_CAMERA_0_RETENTION_DAYS": "29"}, "CAMFLEET_CAMERA_0_RETENTION_DAYS 29 is below the legal floor"),
        ({"CAMFLEET_CAMERA_2_RETENTION_DAYS": "sixty"}, "CAMFLEET_CAMERA_2_RETENTION_DAYS is not a number"),
        ({"CAMFLEET_CAMERA_1_LEGAL_HOLD": "maybe"}, "CAMFLEET_CAMERA_1_LEGAL_HOLD must be true or false"),
        ({"CAMFLEET_CAMERA_2_MODE": "archive"}, "CAMFLEET_CAMERA_2_MODE must be record or retain"),
        ({"CAMFLEET_GROUP_CAMERAS": " , "}, "CAMFLEET_GROUP_CAMERAS names no camera"),
        ({"CAMFLEET_GROUP_CAMERAS": "lobby-1,gate-2,lobby-1"}, "CAMFLEET_GROUP_CAMERAS names a camera twice"),
        ({"CAMFLEET_GROUP_CAMERAS": "lobby-1,../etc,dock-3"}, "camera 1 is not a DNS label"),
        ({"CAMFLEET_CAMERA_1_STREAM_PASSWORD": "x"}, "CAMFLEET_CAMERA_1_STREAM_PASSWORD or"),
    ],
)
def test_a_wrong_member_setting_is_refused_naming_the_variable_not_a_secret(
    tmp_path: Path, change: dict[str, str], named: str
) -> None:
    environ = group_environ(tmp_path) | change
    with pytest.raises(ConfigError) as raised:
        load_group([], environ)
    assert named in str(raised.value)
    assert not any(password in str(raised.value) for password in PASSWORDS)


def test_a_stream_url_flag_is_refused_in_a_group(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a group takes CAMFLEET_CAMERA_<i>_STREAM_URL"):
        load_group(["--stream-url", "rtsp://10.0.0.7/live"], group_environ(tmp_path))


def test_the_group_variable_decides_the_mode_and_single_mode_is_unchanged(tmp_path: Path) -> None:
    environ = group_environ(tmp_path)
    assert is_group(environ)
    single = {
        "CAMFLEET_STREAM_URL": "rtsp://10.0.0.7/live",
        "CAMFLEET_STREAM_PASSWORD": PASSWORDS[0],
        "CAMFLEET_CAMERA_HOST": "10.0.0.7",
        "CAMFLEET_DATA_DIR": str(tmp_path / "volume"),
    }
    assert not is_group(single)
    config, _ = load([], single)
    assert isinstance(config, RecorderConfig)
    assert (config.data_dir, config.credentials_host) == (tmp_path / "volume", "10.0.0.7")
