"""`camfleet recorder` settings: flags, with environment variables (and `_FILE` variants) as fallbacks.

Credentials come only from the environment or from files (the pod mounts the camera's Secret), never from
flags: a pod's arguments are visible to anyone who can read the Deployment. A password embedded in the stream URL
is accepted from the environment or a file and moved out of the URL; in a `--stream-url` flag it is refused.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import SecretStr

from camfleet.recorder_pod.retention import RETENTION_FLOOR_DAYS, SECONDS_PER_DAY

ENV_PREFIX = "CAMFLEET_"


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
        segment_seconds=args.segment_seconds,
        retention_days=args.retention_days,
        legal_hold=args.legal_hold,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        ffmpeg=args.ffmpeg,
        reserve_bytes=args.reserve_bytes,
        housekeeping_seconds=args.housekeeping_seconds,
        rtsp_timeout_seconds=args.rtsp_timeout_seconds,
        credentials_host=_env(environ, "CAMERA_HOST"),
    )
    return config, str(args.log_level).upper()
