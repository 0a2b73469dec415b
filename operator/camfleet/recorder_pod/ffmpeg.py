"""How the recorder drives ffmpeg: its command line, its segment list, and when a segment file is finished.

ffmpeg copies the stream (`-c copy`, no re-encoding) into fixed-length MPEG-TS segments, a container that stays
playable when a write is cut short; packets are written through as they arrive. `-segment_list pipe:1` makes
ffmpeg print one CSV line per finished segment on stdout (`name,start,end` in stream seconds), which is how the
recorder learns a segment is complete: only those enter the manifest.

Credentials: ffmpeg takes RTSP credentials only inside the URL, and a URL on its command line is readable in
`/proc/<pid>/cmdline`. So the authenticated URL never goes on the command line: `stream_source` writes a one-entry
ffconcat listing that names it into a pipe, and ffmpeg's argv says only `-f concat -i pipe:<fd>` (ffmpeg reads the
pipe once; nothing is written to disk). The listing also carries the RTSP options (`option rtsp_transport tcp`).
Credentials go into that URL only when the stream's host is the camera's own (`credentials_host`): a camera that
names another host in its stream URI must not make ffmpeg answer that host's `401 Basic` challenge with the
password. ffmpeg still echoes the URL in some errors ("Impossible to open '...'"), so every line it prints is
redacted before it is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import ctypes
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from camfleet.recorder_pod.storage import SEGMENT_PATTERN

log = logging.getLogger(__name__)
# ffmpeg's log lines can be long (a whole SDP); a larger reader limit than asyncio's 64 KiB keeps them whole.
STREAM_LINE_LIMIT = 1 << 20

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class FinishedSegment:
    name: str
    stream_start: float
    stream_end: float

    @property
    def duration(self) -> float:
        return max(self.stream_end - self.stream_start, 0.0)


def url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    if not username and not password:
        return url
    parts = urlsplit(url)
    userinfo = quote(username or "", safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, parts.fragment))


# What the input may open: the pipe with the listing, and the network protocols of RTSP(S). Never `file`.
INPUT_PROTOCOLS = "pipe,rtsp,rtsps,tcp,tls,udp,rtp,srtp,crypto"


def credentials_allowed(url: str, credentials_host: str | None) -> bool:
    """Whether the credentials may go to the host of `url`: only the camera's own host (when it is known)."""
    if credentials_host is None:
        return True
    host = urlsplit(url).hostname or ""
    return host.lower() == credentials_host.strip("[]").lower()


def _ffconcat_quote(text: str) -> str:
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError("a stream URL must not contain line breaks")
    return "'" + text.replace("'", "'\\''") + "'"


def ffconcat_listing(url: str, options: Mapping[str, str]) -> bytes:
    lines = ["ffconcat version 1.0", f"file {_ffconcat_quote(url)}"]
    lines += [f"option {key} {_ffconcat_quote(value)}" for key, value in options.items()]
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class StreamSource:
    """ffmpeg's input arguments and the pipe they name; pass `fd` to the child (pass_fds), then `close()`."""

    args: list[str]
    fd: int
    authenticated: bool

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def rtsp_options(timeout_seconds: float) -> dict[str, str]:
    # Without a socket timeout a camera that stops sending leaves ffmpeg waiting forever instead of exiting so it
    # can be restarted.
    return {"rtsp_transport": "tcp", "timeout": str(int(timeout_seconds * 1_000_000))}


def stream_source(
    url: str,
    username: str | None,
    password: str | None,
    timeout_seconds: float,
    credentials_host: str | None = None,
) -> StreamSource:
    """The input of ffmpeg: the (authenticated) URL travels through a pipe, never through argv."""
    authenticated = credentials_allowed(url, credentials_host) and bool(username or password)
    full = url_with_credentials(url, username, password) if authenticated else url
    listing = ffconcat_listing(full, rtsp_options(timeout_seconds))
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, listing)  # a few hundred bytes: far below the pipe's buffer, never blocks
    finally:
        os.close(write_fd)
    args = ["-f", "concat", "-safe", "0", "-protocol_whitelist", INPUT_PROTOCOLS, "-i", f"pipe:{read_fd}"]
    return StreamSource(args, read_fd, authenticated)


async def spawn(argv: Sequence[str], source: StreamSource, *, read_stdout: bool) -> asyncio.subprocess.Process | None:
    """Start ffmpeg reading its input from `source`'s pipe (closed here either way); None, logged, when it cannot.

    Its own process group: a Ctrl-C or group signal meant for the recorder must not reach ffmpeg directly, or it
    aborts the segment instead of finishing it when the recorder asks it to stop.
    """
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if read_stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            limit=STREAM_LINE_LIMIT,
            pass_fds=(source.fd,),
            process_group=0,
            preexec_fn=die_with_parent,
        )
    except OSError as error:
        log.error("cannot start %s: %s", argv[0], error.strerror)
        return None
    finally:
        source.close()


def command(binary: str, source: list[str], segments: Path, segment_seconds: int, start_number: int) -> list[str]:
    return [
        binary,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        *source,
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "segment",
        "-segment_time",
        str(segment_seconds),
        "-segment_format",
        "mpegts",
        # Write every packet through to the file rather than in 256 KiB chunks, so a crash loses (almost)
        # nothing of the segment being written.
        "-segment_format_options",
        "flush_packets=1",
        "-reset_timestamps",
        "1",
        "-segment_start_number",
        str(start_number),
        "-segment_list",
        "pipe:1",
        "-segment_list_type",
        "csv",
        str(segments / SEGMENT_PATTERN),
    ]


def parse_segment_list_line(line: str) -> FinishedSegment | None:
    """One line of ffmpeg's CSV segment list, or None when it is not one."""
    rows = list(csv.reader([line.strip()]))
    if not rows or len(rows[0]) != 3:
        return None
    name, start, end = rows[0]
    try:
        return FinishedSegment(Path(name).name, float(start), float(end))
    except ValueError:
        return None


def holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` still has `path` open.

    ffmpeg prints a segment's list line just BEFORE it closes the file, so the last buffered bytes may not be
    written yet; hashing then would record a hash the file no longer has a moment later.
    """
    target = os.path.realpath(path)
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False  # gone (or no /proc): nothing holds it
    for descriptor in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") == target:
                return True
        except OSError:
            continue
    return False


def die_with_parent() -> None:
    """preexec hook: if the recorder dies (even by SIGKILL), the kernel kills ffmpeg too.

    A surviving ffmpeg would keep writing segments no manifest records, and race the next recorder's ffmpeg.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the pod's PID namespace still ends with the recorder
