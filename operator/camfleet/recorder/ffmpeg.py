"""How the recorder drives ffmpeg: its command line, its segment list, and when a segment file is finished.

ffmpeg copies the stream (`-c copy`, no re-encoding) into fixed-length MPEG-TS segments, a container that stays
playable when a write is cut short; packets are written through as they arrive. `-segment_list pipe:1` makes
ffmpeg print one CSV line per finished segment on stdout (`name,start,end` in stream seconds), which is how the
recorder learns a segment is complete: only those enter the manifest.

Credentials: ffmpeg has no way to take RTSP credentials other than the URL, so the password is in ffmpeg's
argv. That argv is visible only inside the recorder pod's own PID namespace (`/proc/<pid>/cmdline`), to the same
user; it is never in the Deployment, the Pod spec, an Event or the operator's logs, which carry only a Secret
reference. ffmpeg echoes its input URL on stderr, so every line it prints is redacted before it is logged.
"""

from __future__ import annotations

import csv
import ctypes
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from camfleet.recorder.storage import SEGMENT_PATTERN

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


def command(
    binary: str, url: str, segments: Path, segment_seconds: int, start_number: int, timeout_seconds: float
) -> list[str]:
    return [
        binary,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-rtsp_transport",
        "tcp",
        # Without a socket timeout a camera that stops sending leaves ffmpeg waiting forever instead of exiting
        # so it can be restarted.
        "-timeout",
        str(int(timeout_seconds * 1_000_000)),
        "-i",
        url,
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
