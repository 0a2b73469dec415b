"""`camfleet transcode [flags]`: the process inside each transcoder pod.

It runs ffmpeg the way the recorder does, for the same reasons: the camera's password is read from the environment
(the pod references the camera's Secret), the authenticated URL reaches ffmpeg through a pipe and never its argv
(`ffmpeg.stream_source`), credentials go only to the camera's own host (CAMFLEET_CAMERA_HOST), and every line ffmpeg
prints passes through the redacting formatter before it reaches the container log. ffmpeg is restarted with
backoff when it exits; SIGTERM stops it.

It publishes as the camera's transcoder: user `camfleet-transcoder`, the password from CAMFLEET_PUBLISH_PASSWORD
(the operator's `<camera>-publisher` Secret). ffmpeg publishes to a loopback relay (`rtsp_publish_relay`) that adds
the credentials on the way to the gateway, so the password is in no argv either. Privacy masks arrive as polygons
(`--mask name:left,top;...`, one flag per mask); the process rasterizes them at the output size into a PGM in
$TMPDIR and ffmpeg blanks exactly those pixels (`privacy_masks`).

Flags describe the output only (size, rate, masks, bitrate, GOP, where to publish); none of them can carry a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import SecretStr

from camfleet.gateway.publishers import TRANSCODER_USER
from camfleet.privacy_masks import MaskPolygon, mask_pgm, masking_filter_graph
from camfleet.recorder_pod import ffmpeg
from camfleet.recorder_pod.cli import configure_logging
from camfleet.recorder_pod.config import ConfigError, _env, split_credentials
from camfleet.recorder_pod.ffmpeg_restart import restart_delay
from camfleet.recorder_pod.redact import redact
from camfleet.recorder_pod.rtsp_publish_relay import PublishRelay

log = logging.getLogger("camfleet.transcoder")
ffmpeg_log = logging.getLogger("camfleet.transcoder.ffmpeg")

EXIT_CONFIG = 2
STOP_GRACE_SECONDS = 10.0
STEADY_RUN_SECONDS = 60.0  # a run at least this long resets the backoff


@dataclass(frozen=True)
class TranscodeConfig:
    stream_url: str  # without userinfo
    username: str | None
    password: SecretStr | None
    credentials_host: str | None
    output: str
    width: int
    height: int
    fps: int
    masks: tuple[MaskPolygon, ...]
    bitrate_kbps: int
    gop: int
    publish_password: SecretStr | None = None
    ffmpeg: str = "ffmpeg"
    rtsp_timeout_seconds: float = 10.0
    mask_file: str | None = None
    """The rasterized masks, written once at start (`prepare_masks`)."""

    @property
    def secrets(self) -> list[str]:
        return [secret.get_secret_value() for secret in (self.password, self.publish_password) if secret]

    def scale_filters(self) -> list[str]:
        return [f"scale={self.width}:{self.height}", f"fps={self.fps}"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camfleet transcode",
        description="Re-encode a camera's RTSP stream (scaled, masked) and publish it to the media gateway.",
        epilog="Stream: CAMFLEET_STREAM_URL; credentials: CAMFLEET_STREAM_USERNAME / CAMFLEET_STREAM_PASSWORD "
        "(or *_FILE), sent only to CAMFLEET_CAMERA_HOST when set; the gateway's publisher password: "
        "CAMFLEET_PUBLISH_PASSWORD (or *_FILE). Never flags.",
    )
    add = parser.add_argument
    add("--output", required=True, help="rtsp:// URL to publish to (no credentials)")
    add("--width", type=int, required=True, help="output width in pixels")
    add("--height", type=int, required=True, help="output height in pixels")
    add("--fps", type=int, default=25)
    add("--mask", action="append", default=[], help="a privacy mask to blank: name:left,top;left,top;... (fractions)")
    add("--bitrate-kbps", type=int, default=1000)
    add("--gop", type=int, default=50)
    add("--ffmpeg", default="ffmpeg")
    add("--rtsp-timeout-seconds", type=float, default=10.0)
    add("--log-level", default="INFO")
    return parser


def load(argv: list[str], environ: Mapping[str, str]) -> tuple[TranscodeConfig, str]:
    args = build_parser().parse_args(argv)
    if split_credentials(args.output)[2] is not None:
        raise ConfigError("--output must not carry a password")
    raw_url = _env(environ, "STREAM_URL")
    if not raw_url:
        raise ConfigError("no stream: set CAMFLEET_STREAM_URL(_FILE)")
    url, url_username, url_password = split_credentials(raw_url)
    if not url.lower().startswith(("rtsp://", "rtsps://")):
        raise ConfigError("the stream URL must be rtsp:// or rtsps://")
    password = _env(environ, "STREAM_PASSWORD") or url_password
    publish_password = _env(environ, "PUBLISH_PASSWORD")
    try:
        masks = tuple(MaskPolygon.from_arg(text) for text in args.mask)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if args.width <= 0 or args.height <= 0 or args.fps <= 0:
        raise ConfigError("--width, --height and --fps must be positive")
    config = TranscodeConfig(
        stream_url=url,
        username=_env(environ, "STREAM_USERNAME") or url_username,
        password=SecretStr(password) if password else None,
        credentials_host=_env(environ, "CAMERA_HOST"),
        output=args.output,
        width=args.width,
        height=args.height,
        fps=args.fps,
        masks=masks,
        bitrate_kbps=args.bitrate_kbps,
        gop=args.gop,
        publish_password=SecretStr(publish_password) if publish_password else None,
        ffmpeg=args.ffmpeg,
        rtsp_timeout_seconds=args.rtsp_timeout_seconds,
    )
    return config, str(args.log_level).upper()


def prepare_masks(config: TranscodeConfig, directory: Path) -> TranscodeConfig:
    """Rasterize the masks at the output size into `directory` (once: they never change while the pod runs)."""
    if not config.masks:
        return config
    path = directory / "privacy-masks.pgm"
    path.write_bytes(mask_pgm(config.masks, config.width, config.height))
    return replace(config, mask_file=str(path))


def video_arguments(config: TranscodeConfig) -> list[str]:
    """Scale and rate, and with masks the mask picture as a second input blanked over the video."""
    if config.mask_file is None:
        return ["-vf", ",".join(config.scale_filters())]
    graph = masking_filter_graph("0:v", "1:v", "masked", config.scale_filters())
    return ["-f", "image2", "-i", config.mask_file, "-filter_complex", graph, "-map", "[masked]"]


def command(config: TranscodeConfig, source: list[str], output: str) -> list[str]:
    return [
        config.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", *source,
        *video_arguments(config), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-b:v", f"{config.bitrate_kbps}k", "-g", str(config.gop), "-an",
        "-f", "rtsp", "-rtsp_transport", "tcp", output,
    ]  # fmt: skip


async def _relay(stream: asyncio.StreamReader, secrets: list[str]) -> None:
    while True:
        try:
            line = await stream.readline()
        except ValueError:
            continue  # an overlong line was dropped; read on
        if not line:
            return
        for part in line.decode("utf-8", errors="replace").split("\r"):
            if part.strip():
                ffmpeg_log.warning("%s", redact(part.rstrip(), secrets))


async def _stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), timeout=STOP_GRACE_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def run_once(config: TranscodeConfig, stop: asyncio.Event, output: str | None = None) -> int | None:
    """One ffmpeg run until it exits or `stop` is set; its exit code (None when it could not start)."""
    password = config.password.get_secret_value() if config.password else None
    source = ffmpeg.stream_source(
        config.stream_url, config.username, password, config.rtsp_timeout_seconds, config.credentials_host
    )
    if not source.authenticated and password:
        log.warning("stream host differs from the camera's (%s): credentials withheld", config.credentials_host)
    process = await ffmpeg.spawn(command(config, source.args, output or config.output), source, read_stdout=False)
    if process is None:
        return None
    log.info("ffmpeg started (pid %d), publishing to %s", process.pid, redact(config.output, config.secrets))
    assert process.stderr is not None
    relay = asyncio.create_task(_relay(process.stderr, config.secrets))
    stopping = asyncio.create_task(stop.wait())
    exited = asyncio.create_task(process.wait())
    await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not exited.done():
        await _stop(process)
    await relay
    return process.returncode


async def supervise(config: TranscodeConfig, stop: asyncio.Event, output: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    failures = 0
    while not stop.is_set():
        started = loop.time()
        code = await run_once(config, stop, output)
        if stop.is_set():
            break
        failures = 0 if loop.time() - started >= STEADY_RUN_SECONDS else failures + 1
        delay = restart_delay(failures)
        log.warning("ffmpeg exited (code %s); restarting in %g s", code, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
    log.info("stopped")


async def _run(config: TranscodeConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    relay = None
    if config.publish_password is not None:
        relay = PublishRelay(config.output, TRANSCODER_USER, config.publish_password.get_secret_value())
        await relay.start()
    else:
        log.warning("no CAMFLEET_PUBLISH_PASSWORD: publishing without credentials (the gateway will refuse)")
    with tempfile.TemporaryDirectory(prefix="camfleet-transcode-") as scratch:
        try:
            await supervise(prepare_masks(config, Path(scratch)), stop, relay.local_url if relay else None)
        finally:
            if relay is not None:
                await relay.close()


def main(argv: list[str]) -> int:
    try:
        config, level = load(argv, os.environ)
    except ConfigError as error:
        configure_logging([], "INFO")
        log.error("configuration: %s", error)
        return EXIT_CONFIG
    configure_logging(config.secrets, level)
    asyncio.run(_run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
