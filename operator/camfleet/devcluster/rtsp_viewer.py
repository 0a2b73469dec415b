"""A viewer of an RTSP stream, as a grantee's player would be: real ffmpeg decoding real frames, for the tests and
the benchmarks of the media gateway.

ffmpeg decodes the stream and writes each frame, scaled down to `WIDTH`x`HEIGHT` grey pixels, to its stdout; a
thread reads whole frames and notes when each arrived, so a test knows how many frames a viewer got and when the
last one came (the end of a session is the moment frames stop). The URL may carry a grant token (as the RTSP
password or a `jwt=` query): like the recorder, it travels to ffmpeg through a pipe (an ffconcat listing), never
through argv.

Two players: ffmpeg (`player="ffmpeg"`), and GStreamer's rtspsrc (`player="gstreamer"`, `gst_rtsp_viewer`, under the
system Python) for a token sent as the RTSP password: ffmpeg cuts RTSP credentials to 128 bytes, shorter than
a grant token.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from camfleet.recorder_pod.ffmpeg import INPUT_PROTOCOLS, ffconcat_listing, rtsp_options

WIDTH, HEIGHT = 32, 18
FRAME_BYTES = WIDTH * HEIGHT
SYSTEM_PYTHON = "/usr/bin/python3"
GSTREAMER_PLAYER = Path(__file__).with_name("gst_rtsp_viewer.py")


@dataclass
class RtspViewer:
    url: str = field(repr=False)
    timeout_seconds: float = 5.0
    """ffmpeg's socket timeout: a stream that stalls this long ends the viewer."""
    player: str = "ffmpeg"
    """"ffmpeg" or "gstreamer"."""
    decode: bool = True
    """False (ffmpeg only): copy the video packets without decoding them, so that hundreds of viewers fit on a
    small machine; then `frames` counts reads of video data and `last_frame_at` is when the last data came."""
    stderr: int | None = subprocess.DEVNULL
    """Where the player's messages go; by default nowhere, since a player may echo the URL (a token)."""
    frames: int = 0
    last_frame_at: float | None = None
    """time.monotonic() of the last whole frame."""
    process: subprocess.Popen[bytes] | None = None
    _reader: threading.Thread | None = None

    def start(self) -> RtspViewer:
        if self.player == "gstreamer":
            self._start_gstreamer()
        else:
            self._start_ffmpeg()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _start_ffmpeg(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            os.write(write_fd, ffconcat_listing(self.url, rtsp_options(self.timeout_seconds)))
        finally:
            os.close(write_fd)
        command = [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "concat", "-safe", "0", "-protocol_whitelist", INPUT_PROTOCOLS, "-i", f"pipe:{read_fd}",
        ]  # fmt: skip
        if self.decode:
            command += ["-an", "-vf", f"scale={WIDTH}:{HEIGHT}", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"]
        else:
            command += ["-an", "-c:v", "copy", "-f", "h264", "pipe:1"]
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                pass_fds=(read_fd,),
                start_new_session=True,
            )
        finally:
            os.close(read_fd)

    def _start_gstreamer(self) -> None:
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        request = {
            "url": urlunsplit((parts.scheme, host, parts.path, parts.query, "")),
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
        }
        command = [
            SYSTEM_PYTHON, str(GSTREAMER_PLAYER), "--width", str(WIDTH), "--height", str(HEIGHT),
            "--timeout-seconds", str(self.timeout_seconds),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, start_new_session=True
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.close()

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        stream, buffered = self.process.stdout, 0
        while chunk := os.read(stream.fileno(), 65536):
            if not self.decode:
                self.frames += 1
                self.last_frame_at = time.monotonic()
                continue
            buffered += len(chunk)
            whole, buffered = divmod(buffered, FRAME_BYTES)
            if whole:
                self.frames += whole
                self.last_frame_at = time.monotonic()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_frames(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.frames >= count:
                return True
            if not self.running and (self._reader is None or not self._reader.is_alive()):
                return self.frames >= count
            time.sleep(0.05)
        return self.frames >= count

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code once ffmpeg has ended (its output read to the end), or None while it still runs."""
        if self.process is None:
            return None
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader is not None:
            self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
