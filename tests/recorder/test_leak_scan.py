"""The leak scan: real recorder and transcoder processes, real ffmpeg, cameras that make ffmpeg talk.

For each process (`camfleet recorder`, `camfleet transcode`) and each hostile RTSP behaviour (nothing listening,
a server that accepts and drops the connection, a server answering `401` with a `Basic` challenge), the process
runs until ffmpeg has been started at least twice. Searched: everything the process printed (its own log and
ffmpeg's relayed stderr, i.e. the container log), and the argv of the process and of every ffmpeg it started
(`/proc/<pid>/cmdline`, sampled while they ran). The password must appear in none of them, neither plain,
percent-encoded nor inside the base64 `user:password` of a Basic answer.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.recorder.conftest import FFMPEG, RecorderProcess, child_pids, free_port, kill_group
from tests.recorder.rtsp_responder import RtspResponder

USERNAME = "viewer"
PASSWORD = "leak-Pa55:w/rd@scan"
FORMS = {
    "plain": PASSWORD,
    "percent-encoded": quote(PASSWORD, safe=""),
    "base64 user:password": base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode(),
    "base64 password": base64.b64encode(PASSWORD.encode()).decode(),
}
PUBLISH_PASSWORD = "publisher-Pa55:leak/scan"
"""The transcoder's gateway password (CAMFLEET_PUBLISH_PASSWORD): searched for like the camera's."""
FORMS |= {
    "publisher plain": PUBLISH_PASSWORD,
    "publisher percent-encoded": quote(PUBLISH_PASSWORD, safe=""),
    "publisher base64 user:password": base64.b64encode(f"camfleet-transcoder:{PUBLISH_PASSWORD}".encode()).decode(),
}
CAMERA_BIN = Path(sys.executable).with_name("camfleet")


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def watch_argv(process: subprocess.Popen[bytes], runs: int, timeout: float) -> dict[int, str]:
    """The argv of the process and of each ffmpeg it starts, until `runs` ffmpegs were seen (or timeout)."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(seen) < runs + 1:
        seen[process.pid] = seen.get(process.pid) or cmdline(process.pid)
        for child in child_pids(process.pid):
            # A child is a forked Python until it has exec'd ffmpeg: keep looking until it has.
            if child not in seen and (line := cmdline(child)).startswith(FFMPEG):
                seen[child] = line
        time.sleep(0.01)
    return seen


def start_transcoder(stream_url: str, camera_host: str, log_path: Path) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "CAMFLEET_STREAM_URL": stream_url,
        "CAMFLEET_STREAM_USERNAME": USERNAME,
        "CAMFLEET_STREAM_PASSWORD": PASSWORD,
        "CAMFLEET_CAMERA_HOST": camera_host,
        "CAMFLEET_PUBLISH_PASSWORD": PUBLISH_PASSWORD,
    }
    argv = [str(CAMERA_BIN), "transcode", "--ffmpeg", FFMPEG, "--output", f"rtsp://127.0.0.1:{free_port()}/out"]
    argv += ["--width", "320", "--height", "180", "--mask", "windows:0.1,0.1;0.5,0.1;0.3,0.6"]
    argv += ["--rtsp-timeout-seconds", "3"]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv, env=environ, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextlib.contextmanager
def camera(behaviour: str, host: str = "127.0.0.1") -> Iterator[tuple[str, RtspResponder | None]]:
    if behaviour == "closed":
        yield f"rtsp://{host}:{free_port()}/cam/main", None
        return
    with RtspResponder(behaviour, host=host).running() as responder:
        yield f"rtsp://{host}:{responder.port}/cam/main", responder


def run_process(kind: str, url: str, camera_host: str, tmp_path: Path) -> tuple[str, dict[int, str]]:
    """Run the recorder or transcoder until it started ffmpeg twice; its whole output and every argv seen."""
    log_path = tmp_path / f"{kind}.log"
    if kind == "recorder":
        recorder = RecorderProcess(tmp_path / "volume", url, PASSWORD, log_path, "--rtsp-timeout-seconds", "3")
        process = recorder.process
    else:
        process = start_transcoder(url, camera_host, log_path)
    try:
        argvs = watch_argv(process, runs=2, timeout=25)
        process.terminate()
        process.wait(timeout=30)
    finally:
        kill_group(process)
        process.wait(timeout=30)
    return log_path.read_text(errors="replace"), argvs


@pytest.mark.parametrize("behaviour", ["closed", "refuse", "basic"])
@pytest.mark.parametrize("kind", ["recorder", "transcoder"])
def test_no_password_in_output_or_argv(kind: str, behaviour: str, tmp_path: Path) -> None:
    with camera(behaviour) as (url, responder):
        output, argvs = run_process(kind, url, "127.0.0.1", tmp_path)
    ffmpegs = [line for line in argvs.values() if line.startswith(FFMPEG)]
    assert len(ffmpegs) >= 2, f"ffmpeg was not started twice: {argvs}\n{output}"
    assert "ffmpeg" in output  # ffmpeg's complaints were relayed, so there was something to leak
    for form, text in FORMS.items():
        assert text not in output, f"{form} password in the {kind} output"
        for pid, line in argvs.items():
            assert text not in line, f"{form} password in the argv of pid {pid}: {line}"
    if responder is not None and behaviour == "basic":
        # ffmpeg did answer the challenge of the camera's own host: the scan searched a real Basic exchange.
        assert FORMS["base64 user:password"] in " ".join(responder.authorizations())
        assert "***" in output or "401" in output


@pytest.mark.parametrize("kind", ["recorder", "transcoder"])
def test_a_stream_on_a_foreign_host_gets_no_credentials(kind: str, tmp_path: Path) -> None:
    """The camera names 127.0.0.2 in its stream URI; its endpoint is 127.0.0.1: no Basic answer goes there."""
    with camera("basic", host="127.0.0.2") as (url, responder):
        assert responder is not None
        if kind == "recorder":
            os.environ["CAMFLEET_CAMERA_HOST"] = "127.0.0.1"
            try:
                output, _ = run_process(kind, url, "127.0.0.1", tmp_path)
            finally:
                del os.environ["CAMFLEET_CAMERA_HOST"]
        else:
            output, _ = run_process(kind, url, "127.0.0.1", tmp_path)
    assert responder.requests, "ffmpeg never asked the foreign host (nothing proven)"
    assert responder.authorizations() == []
    assert "credentials withheld" in output
