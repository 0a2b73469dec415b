"""`camfleet recorder` settings: flags, with environment variables (and `_FILE` variants) as fallbacks.

Credentials come only from the environment or from files (the pod mounts the camera's Secret), never from
flags: a pod's arguments are visible to anyone who can read the Deployment. A password embedded in the stream URL
is accepted from the environment or a file and moved out of the URL; in a `--stream-url` flag it is refused.

Group mode: when CAMFLEET_GROUP_CAMERAS is set (comma-separated camera names, in slot order), one process records
several cameras of a recorder group, each into `$DATA_DIR/<camera>` with the single-camera layout. Member i's
settings are CAMFLEET_CAMERA_<i>_{STREAM_URL,STREAM_USERNAME,STREAM_PASSWORD,HOST,RETENTION_DAYS,LEGAL_HOLD,MODE}
(with `_FILE` variants); MODE `retain` is a camera that left the group: no recording, its directory only pruned
after its retention. The shared settings (data dir, segment length, metrics port, housekeeping) are as above.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import SecretStr

from camfleet.recorder_pod.retention import RETENTION_FLOOR_DAYS, SECONDS_PER_DAY

ENV_PREFIX = "CAMFLEET_"
GROUP_CAMERAS = "GROUP_CAMERAS"
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

    @property
    def secrets(self) -> list[str]:
        return [m.config.password.get_secret_value() for m in self.members if m.config.password is not None]


def is_group(environ: Mapping[str, str]) -> bool:
    """Whether the process is a group recorder: CAMFLEET_GROUP_CAMERAS is set (even empty, which is an error)."""
    return ENV_PREFIX + GROUP_CAMERAS in environ or ENV_PREFIX + GROUP_CAMERAS + "_FILE" in environ


def _camera_names(environ: Mapping[str, str]) -> list[str]:
    names = [name.strip() for name in (_env(environ, GROUP_CAMERAS) or "").split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{ENV_PREFIX}{GROUP_CAMERAS} names no camera")
    for index, name in enumerate(names):
        if not _CAMERA_NAME.match(name):
            raise ConfigError(f"{ENV_PREFIX}{GROUP_CAMERAS}: camera {index} is not a DNS label (a-z, 0-9, -)")
    if len(set(names)) != len(names):
        raise ConfigError(f"{ENV_PREFIX}{GROUP_CAMERAS} names a camera twice")
    return names


def _member_float(environ: Mapping[str, str], name: str, fallback: float) -> float:
    text = _env(environ, name)
    if text is None:
        return fallback
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name} is not a number") from None


def _member_bool(environ: Mapping[str, str], name: str) -> bool:
    try:
        return _flag_bool(_env(environ, name) or "false")
    except argparse.ArgumentTypeError:
        raise ConfigError(f"{ENV_PREFIX}{name} must be true or false") from None


def _member_stream(environ: Mapping[str, str], prefix: str, mode: str) -> tuple[str, str | None, str | None]:
    """(URL without credentials, username from the URL, password from the URL); empty for a retained camera."""
    raw_url = _env(environ, prefix + "STREAM_URL")
    if not raw_url:
        if mode == MODE_RECORD:
            raise ConfigError(f"no stream: set {ENV_PREFIX}{prefix}STREAM_URL(_FILE)")
        return "", None, None
    url, username, password = split_credentials(raw_url)
    if not url.lower().startswith(("rtsp://", "rtsps://")):
        raise ConfigError(f"{ENV_PREFIX}{prefix}STREAM_URL must be rtsp:// or rtsps://")
    return url, username, password


def _member(environ: Mapping[str, str], index: int, camera: str, shared: RecorderConfig) -> GroupMember:
    prefix = f"CAMERA_{index}_"
    mode = (_env(environ, prefix + "MODE") or MODE_RECORD).strip().lower()
    if mode not in (MODE_RECORD, MODE_RETAIN):
        raise ConfigError(f"{ENV_PREFIX}{prefix}MODE must be {MODE_RECORD} or {MODE_RETAIN}")
    url, url_username, url_password = _member_stream(environ, prefix, mode)
    retention_days = _member_float(environ, prefix + "RETENTION_DAYS", RETENTION_FLOOR_DAYS)
    if retention_days < RETENTION_FLOOR_DAYS:
        raise ConfigError(
            f"{ENV_PREFIX}{prefix}RETENTION_DAYS {retention_days:g} is below the legal floor of {RETENTION_FLOOR_DAYS}"
        )
    password = _env(environ, prefix + "STREAM_PASSWORD") or url_password
    config = replace(
        shared,
        stream_url=url,
        username=_env(environ, prefix + "STREAM_USERNAME") or url_username,
        password=SecretStr(password) if password else None,
        data_dir=shared.data_dir / camera,
        retention_days=retention_days,
        legal_hold=_member_bool(environ, prefix + "LEGAL_HOLD"),
        credentials_host=_env(environ, prefix + "HOST"),
    )
    return GroupMember(camera, mode, config)


def load_group(argv: list[str], environ: Mapping[str, str]) -> tuple[GroupConfig, str]:
    """The group configuration and the log level; ConfigError (naming the variable) when something is wrong."""
    try:
        args = build_parser(environ).parse_args(argv)
    except ValueError as error:  # a malformed number in an environment variable
        raise ConfigError(str(error)) from None
    if args.stream_url:
        raise ConfigError("--stream-url is for one camera; a group takes CAMFLEET_CAMERA_<i>_STREAM_URL")
    if args.segment_seconds < 1:
        raise ConfigError("--segment-seconds must be at least 1")
    root = args.data_dir.absolute()
    shared = RecorderConfig(
        stream_url="",
        username=None,
        password=None,
        data_dir=root,
        **_process_settings(args),
    )
    members = tuple(_member(environ, index, camera, shared) for index, camera in enumerate(_camera_names(environ)))
    group = GroupConfig(root, members, metrics_host=args.metrics_host, metrics_port=args.metrics_port)
    return group, str(args.log_level).upper()
