"""`camfleet recorder` settings: flags, with environment variables (and `_FILE` variants) as fallbacks.

Credentials come only from the environment or from files (the pod mounts the camera's Secret), never from
flags: a pod's arguments are visible to anyone who can read the Deployment. A password embedded in the stream URL
is accepted from the environment or a file and moved out of the URL; in a `--stream-url` flag it is refused.

Group mode: when CAMFLEET_GROUP_CONFIG_DIR is set (the group's members Secret, mounted read-only), one process
records several cameras of a recorder group, each into `$DATA_DIR/<camera>` with the single-camera layout. The
directory holds `members.json` (a list of {camera, mode, streamUrl, host, retentionDays, legalHold, retainUntil?})
and, per recording member, `<camera>.username` / `<camera>.password`; mode `retain` is a camera that left the
group: no recording, its directory only pruned after its retention. The process re-reads the directory while it
runs (group.py), so the members change without a restart. The shared settings (data dir, segment length, metrics
port, housekeeping) are as above.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import SecretStr

from camfleet.recorder_pod.retention import RETENTION_FLOOR_DAYS, SECONDS_PER_DAY

ENV_PREFIX = "CAMFLEET_"
GROUP_CONFIG_DIR = "GROUP_CONFIG_DIR"
MEMBERS_FILE = "members.json"
USERNAME_SUFFIX = ".username"
PASSWORD_SUFFIX = ".password"
KUBELET_DATA_LINK = "..data"
"""The kubelet writes a mounted Secret's files into a fresh directory and swaps this symlink to it atomically."""
MODE_RECORD = "record"
MODE_RETAIN = "retain"
# A camera's name is a Kubernetes name (DNS label): it is the member's directory on the volume, so nothing else.
_CAMERA_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the setting, never its secret value."""


@dataclass(frozen=True)
class RecorderConfig:
    stream_url: str  # without userinfo
    username: str | None
    password: SecretStr | None
    data_dir: Path
    segment_seconds: int = 60
    retention_days: float = RETENTION_FLOOR_DAYS
    legal_hold: bool = False
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9100
    ffmpeg: str = "ffmpeg"
    reserve_bytes: int = 32 * 1024 * 1024
    housekeeping_seconds: float = 60.0
    rtsp_timeout_seconds: float = 10.0
    # The camera's own host: stream credentials are sent only to it (a camera must not redirect them elsewhere).
    credentials_host: str | None = None

    @property
    def retention_seconds(self) -> float:
        return self.retention_days * SECONDS_PER_DAY


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """CAMFLEET_<NAME>, or the content of the file named by CAMFLEET_<NAME>_FILE (one trailing newline dropped)."""
    value = environ.get(ENV_PREFIX + name)
    path = environ.get(ENV_PREFIX + name + "_FILE")
    if value and path:
        raise ConfigError(f"set {ENV_PREFIX}{name} or {ENV_PREFIX}{name}_FILE, not both")
    if path:
        try:
            return Path(path).read_text().removesuffix("\n")
        except OSError as error:
            raise ConfigError(f"cannot read {ENV_PREFIX}{name}_FILE: {error.strerror}") from None
    return value or None


def _flag_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    def default(name: str, fallback: str) -> str:
        return _env(environ, name) or fallback

    parser = argparse.ArgumentParser(
        prog="camfleet recorder",
        description="Record a camera's RTSP stream into hash-chained segments; delete them only after retention.",
        epilog="Credentials: CAMFLEET_STREAM_USERNAME / CAMFLEET_STREAM_PASSWORD (or *_FILE), never flags; they go "
        "only to the host in CAMFLEET_CAMERA_HOST when it is set.",
    )
    add = parser.add_argument
    add("--stream-url", default=None, help="rtsp:// URL without credentials [CAMFLEET_STREAM_URL(_FILE)]")
    add("--data-dir", type=Path, default=Path(default("DATA_DIR", "/data")), help="the retention volume")
    add("--segment-seconds", type=int, default=int(default("SEGMENT_SECONDS", "60")))
    add("--retention-days", type=float, default=float(default("RETENTION_DAYS", str(RETENTION_FLOOR_DAYS))))
    add("--legal-hold", type=_flag_bool, default=_flag_bool(default("LEGAL_HOLD", "false")), help="true: never prune")
    add("--metrics-host", default=default("METRICS_HOST", "0.0.0.0"))
    add("--metrics-port", type=int, default=int(default("METRICS_PORT", "9100")), help="/metrics and /healthz")
    add("--ffmpeg", default=default("FFMPEG", "ffmpeg"), help="ffmpeg binary")
    add(
        "--reserve-bytes",
        type=int,
        default=int(default("RESERVE_BYTES", str(32 * 1024 * 1024))),
        help="stop recording when less than max(this, two segments) is free",
    )
    add("--housekeeping-seconds", type=float, default=float(default("HOUSEKEEPING_SECONDS", "60")))
    add("--rtsp-timeout-seconds", type=float, default=float(default("RTSP_TIMEOUT_SECONDS", "10")))
    add("--log-level", default=default("LOG_LEVEL", "INFO"))
    return parser


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(URL without userinfo, username, password) with percent-escapes in the userinfo decoded."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        raise ConfigError("the stream URL has an invalid port") from None
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return bare, username, password


def load(argv: list[str], environ: Mapping[str, str]) -> tuple[RecorderConfig, str]:
    """The configuration and the log level; ConfigError when something is missing or wrong."""
    try:
        args = build_parser(environ).parse_args(argv)
    except ValueError as error:  # a malformed number in an environment variable
        raise ConfigError(str(error)) from None
    if args.stream_url and split_credentials(args.stream_url)[2] is not None:
        raise ConfigError("--stream-url must not carry a password; use CAMFLEET_STREAM_PASSWORD(_FILE)")
    raw_url = args.stream_url or _env(environ, "STREAM_URL")
    if not raw_url:
        raise ConfigError("no stream: set --stream-url or CAMFLEET_STREAM_URL(_FILE)")
    url, url_username, url_password = split_credentials(raw_url)
    if not url.lower().startswith(("rtsp://", "rtsps://")):
        raise ConfigError("the stream URL must be rtsp:// or rtsps://")
    username = _env(environ, "STREAM_USERNAME") or url_username
    password = _env(environ, "STREAM_PASSWORD") or url_password
    if args.retention_days < RETENTION_FLOOR_DAYS:
        raise ConfigError(
            f"--retention-days {args.retention_days:g} is below the legal floor of {RETENTION_FLOOR_DAYS}"
        )
    if args.segment_seconds < 1:
        raise ConfigError("--segment-seconds must be at least 1")
    config = RecorderConfig(
        stream_url=url,
        username=username,
        password=SecretStr(password) if password else None,
        data_dir=args.data_dir.absolute(),
        retention_days=args.retention_days,
        legal_hold=args.legal_hold,
        credentials_host=_env(environ, "CAMERA_HOST"),
        **_process_settings(args),
    )
    return config, str(args.log_level).upper()


def _process_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags a single recorder and every member of a group share."""
    return {
        "segment_seconds": args.segment_seconds,
        "metrics_host": args.metrics_host,
        "metrics_port": args.metrics_port,
        "ffmpeg": args.ffmpeg,
        "reserve_bytes": args.reserve_bytes,
        "housekeeping_seconds": args.housekeeping_seconds,
        "rtsp_timeout_seconds": args.rtsp_timeout_seconds,
    }


@dataclass(frozen=True)
class GroupMember:
    camera: str
    mode: str  # MODE_RECORD or MODE_RETAIN
    config: RecorderConfig  # data_dir is the member's own directory, $DATA_DIR/<camera>

    @property
    def records(self) -> bool:
        return self.mode == MODE_RECORD


@dataclass(frozen=True)
class GroupConfig:
    data_dir: Path  # the group volume's root
    members: tuple[GroupMember, ...]
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9100
    # The mounted members directory, re-read while the process runs (None: the members above, for good).
    config_dir: Path | None = None
    # What every member shares (segment length, ffmpeg, housekeeping...): the base of members read later.
    shared: RecorderConfig | None = None

    @property
    def secrets(self) -> list[str]:
        return member_secrets(self.members)


def member_secrets(members: tuple[GroupMember, ...]) -> list[str]:
    return [m.config.password.get_secret_value() for m in members if m.config.password is not None]


def is_group(environ: Mapping[str, str]) -> bool:
    """Whether the process is a group recorder: CAMFLEET_GROUP_CONFIG_DIR is set (even empty, which is an error)."""
    return ENV_PREFIX + GROUP_CONFIG_DIR in environ


# -- members.json ------------------------------------------------------------------------------------------------


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} is not a string")
    return value


def _retention_days(item: Mapping[str, Any], where: str) -> float:
    value = item.get("retentionDays", RETENTION_FLOOR_DAYS)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: retentionDays is not a number")
    if value < RETENTION_FLOOR_DAYS:
        raise ConfigError(f"{where}: retentionDays {value:g} is below the legal floor of {RETENTION_FLOOR_DAYS}")
    return float(value)


def _member_stream(item: Mapping[str, Any], mode: str, where: str) -> tuple[str, str | None, str | None]:
    """(URL without credentials, username from the URL, password from the URL); empty for a retained camera."""
    raw_url = _text(item, "streamUrl", where)
    if not raw_url:
        if mode == MODE_RECORD:
            raise ConfigError(f"{where}: no streamUrl for a camera to record")
        return "", None, None
    url, username, password = split_credentials(raw_url)
    if not url.lower().startswith(("rtsp://", "rtsps://")):
        raise ConfigError(f"{where}: streamUrl must be rtsp:// or rtsps://")
    return url, username, password


def _group_member(
    item: Any, index: int, credentials: Mapping[str, tuple[str | None, str | None]], shared: RecorderConfig
) -> GroupMember:
    where = f"{MEMBERS_FILE} member {index}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} is not an object")
    camera = _text(item, "camera", where)
    if not _CAMERA_NAME.match(camera):
        raise ConfigError(f"{where}: camera is not a DNS label (a-z, 0-9, -)")
    where = f"{MEMBERS_FILE} camera {camera}"
    mode = _text(item, "mode", where) or MODE_RECORD
    if mode not in (MODE_RECORD, MODE_RETAIN):
        raise ConfigError(f"{where}: mode must be {MODE_RECORD} or {MODE_RETAIN}")
    hold = item.get("legalHold", False)
    if not isinstance(hold, bool):
        raise ConfigError(f"{where}: legalHold must be true or false")
    url, url_username, url_password = _member_stream(item, mode, where)
    username, password = credentials.get(camera, (None, None))
    password = password or url_password
    config = replace(
        shared,
        stream_url=url,
        username=username or url_username,
        password=SecretStr(password) if password else None,
        data_dir=shared.data_dir / camera,
        retention_days=_retention_days(item, where),
        legal_hold=hold,
        credentials_host=_text(item, "host", where) or None,
    )
    return GroupMember(camera, mode, config)


def parse_members(
    text: str, credentials: Mapping[str, tuple[str | None, str | None]], shared: RecorderConfig
) -> tuple[GroupMember, ...]:
    """The members `members.json` names, each with its (username, password) from `credentials` (by camera);
    ConfigError naming the member and the field, never a secret, when anything is wrong (then nothing of it is
    used: the caller keeps the members it had)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{MEMBERS_FILE} is not JSON ({error})") from None
    if not isinstance(data, list):
        raise ConfigError(f"{MEMBERS_FILE} is not a list")
    members = tuple(_group_member(item, index, credentials, shared) for index, item in enumerate(data))
    cameras = [member.camera for member in members]
    if len(set(cameras)) != len(cameras):
        raise ConfigError(f"{MEMBERS_FILE} names a camera twice")
    return members


def members_source(directory: Path) -> Path:
    """Where to read one consistent set of files: the directory the kubelet's `..data` link points to now (all
    files of one Secret version, even if the link is swapped meanwhile), or the directory itself."""
    link = directory / KUBELET_DATA_LINK
    return Path(os.path.realpath(link)) if link.is_symlink() else directory


def _secret_file(path: Path) -> str | None:
    """A mounted Secret key's value (one trailing newline dropped); None when absent. Never quoted in an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return raw.decode().removesuffix("\n") or None
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name} is not UTF-8") from None


def read_members(directory: Path, shared: RecorderConfig) -> tuple[GroupMember, ...]:
    """The members of the mounted directory (ConfigError or OSError when unreadable)."""
    source = members_source(directory)
    text = (source / MEMBERS_FILE).read_text()
    cameras = {item.get("camera") for item in _json_list(text) if isinstance(item, dict)}
    credentials = {
        camera: (
            _secret_file(source / f"{camera}{USERNAME_SUFFIX}"),
            _secret_file(source / f"{camera}{PASSWORD_SUFFIX}"),
        )
        for camera in cameras
        if isinstance(camera, str) and _CAMERA_NAME.match(camera)
    }
    return parse_members(text, credentials, shared)


def _json_list(text: str) -> list[Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return []  # parse_members says what is wrong
    return data if isinstance(data, list) else []


def load_group(argv: list[str], environ: Mapping[str, str]) -> tuple[GroupConfig, str]:
    """The group's shared settings and the log level; ConfigError (naming the setting) when something is wrong.
    The members are read from the directory by the running process (group.py), which keeps reading it."""
    try:
        args = build_parser(environ).parse_args(argv)
    except ValueError as error:  # a malformed number in an environment variable
        raise ConfigError(str(error)) from None
    if args.stream_url:
        raise ConfigError(f"--stream-url is for one camera; a group's members are in {ENV_PREFIX}{GROUP_CONFIG_DIR}")
    if args.segment_seconds < 1:
        raise ConfigError("--segment-seconds must be at least 1")
    directory = _env(environ, GROUP_CONFIG_DIR)
    if not directory:
        raise ConfigError(f"{ENV_PREFIX}{GROUP_CONFIG_DIR} names no directory")
    root = args.data_dir.absolute()
    shared = RecorderConfig(stream_url="", username=None, password=None, data_dir=root, **_process_settings(args))
    group = GroupConfig(
        root, (), metrics_host=args.metrics_host, metrics_port=args.metrics_port, config_dir=Path(directory),
        shared=shared,
    )  # fmt: skip
    return group, str(args.log_level).upper()
