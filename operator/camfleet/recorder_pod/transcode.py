"""`camfleet transcode [flags]`: the process inside each transcoder pod.

It runs ffmpeg the way the recorder does, for the same reasons: the camera's password is read from the environment
(the pod references the camera's Secret), the authenticated URL reaches ffmpeg through a pipe and never its argv
(`ffmpeg.stream_source`), credentials go only to the camera's own host (CAMFLEET_CAMERA_HOST), and every line ffmpeg
prints passes through the redacting formatter before it reaches the container log. ffmpeg is restarted with
backoff when it exits; SIGTERM stops it.

Flags describe the output only (filters, bitrate, GOP, where to publish); none of them can carry a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from camfleet.recorder_pod import ffmpeg
from camfleet.recorder_pod.cli import configure_logging
from camfleet.recorder_pod.config import ConfigError, _env, split_credentials
from camfleet.recorder_pod.ffmpeg_restart import restart_delay
from camfleet.recorder_pod.redact import redact

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
    video_filter: str
    bitrate_kbps: int
    gop: int
    ffmpeg: str = "ffmpeg"
    rtsp_timeout_seconds: float = 10.0

    @property
    def secrets(self) -> list[str]:
        return [self.password.get_secret_value()] if self.password else []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camfleet transcode",
        description="Re-encode a camera's RTSP stream (scaled, masked) and publish it to the media gateway.",
        epilog="Stream: CAMFLEET_STREAM_URL; credentials: CAMFLEET_STREAM_USERNAME / CAMFLEET_STREAM_PASSWORD "
        "(or *_FILE), sent only to CAMFLEET_CAMERA_HOST when set. Never flags.",
    )
    add = parser.add_argument
    add("--output", required=True, help="rtsp:// URL to publish to (no credentials)")
    add("--video-filter", default="null", help="ffmpeg -vf chain")
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
    config = TranscodeConfig(
        stream_url=url,
        username=_env(environ, "STREAM_USERNAME") or url_username,
        password=SecretStr(password) if password else None,
        credentials_host=_env(environ, "CAMERA_HOST"),
        output=args.output,
        video_filter=args.video_filter,
        bitrate_kbps=args.bitrate_kbps,
        gop=args.gop,
        ffmpeg=args.ffmpeg,
        rtsp_timeout_seconds=args.rtsp_timeout_seconds,
    )
    return config, str(args.log_level).upper()


def command(config: TranscodeConfig, source: list[str]) -> list[str]:
    return [
        config.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", *source,
        "-vf", config.video_filter, "-c:v", "libx264", "-preset", "veryfast",
        "-b:v", f"{config.bitrate_kbps}k", "-g", str(config.gop), "-an",
        "-f", "rtsp", "-rtsp_transport", "tcp", config.output,
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


async def run_once(config: TranscodeConfig, stop: asyncio.Event) -> int | None:
    """One ffmpeg run until it exits or `stop` is set; its exit code (None when it could not start)."""
    password = config.password.get_secret_value() if config.password else None
    source = ffmpeg.stream_source(
        config.stream_url, config.username, password, config.rtsp_timeout_seconds, config.credentials_host
    )
    if not source.authenticated and password:
        log.warning("stream host differs from the camera's (%s): credentials withheld", config.credentials_host)
    process = await ffmpeg.spawn(command(config, source.args), source, read_stdout=False)
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


async def supervise(config: TranscodeConfig, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    failures = 0
    while not stop.is_set():
        started = loop.time()
        code = await run_once(config, stop)
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
    await supervise(config, stop)


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
