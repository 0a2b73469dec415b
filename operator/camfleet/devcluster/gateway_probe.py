"""Does the media gateway let this token read that camera? Asked the way a grantee's player asks: real ffmpeg
reading real frames over RTSP, with the token in the URL (`?jwt=`).

The URL (with the token) reaches ffmpeg through a pipe (an ffconcat listing), never through argv, and ffmpeg's
error text, which may echo the URL, is reduced to a verdict before anyone sees it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from urllib.parse import quote

from camfleet.recorder_pod.ffmpeg import INPUT_PROTOCOLS, ffconcat_listing, rtsp_options


@dataclass(frozen=True)
class Probe:
    frames: bool
    refused: bool  # the gateway answered 401/403 (the door said no)
    detail: str  # what happened, without the URL


def gateway_url(rtsp_port: int, path: str, token: str, host: str = "127.0.0.1") -> str:
    """The token as a `jwt=` query, which MediaMTX hands to the door: ffmpeg cuts an RTSP URL's userinfo at 127
    bytes, and a grant token is longer, so as the RTSP password it would arrive truncated."""
    return f"rtsp://{host}:{rtsp_port}/{path}?jwt={quote(token, safe='')}"


def read_frames(url: str, frames: int = 10, timeout: float = 20) -> Probe:
    """Decode `frames` video frames from `url`; whether that worked, or why not."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, ffconcat_listing(url, rtsp_options(10)))
    finally:
        os.close(write_fd)
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "concat", "-safe", "0", "-protocol_whitelist", INPUT_PROTOCOLS, "-i", f"pipe:{read_fd}",
        "-an", "-frames:v", str(frames), "-f", "null", "-",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, pass_fds=(read_fd,), check=False
        )
    except subprocess.TimeoutExpired:
        return Probe(False, False, f"no {frames} frames within {timeout:.0f}s")
    finally:
        os.close(read_fd)
    errors = done.stderr
    if "401" in errors or "403" in errors or "Unauthorized" in errors or "Forbidden" in errors:
        return Probe(False, True, "refused by the gateway (RTSP 401 Unauthorized)")
    if done.returncode == 0:
        return Probe(True, False, f"{frames} frames decoded")
    return Probe(False, False, f"ffmpeg exited {done.returncode}")
