"""The recording volume's layout and the small file operations the recorder and `camfleet verify` share.

DATA_DIR/manifest.jsonl    hash-chained record of every segment and every deletion
DATA_DIR/segments/         seg-000000001.ts, seg-000000002.ts, ... (numbers never reused)
DATA_DIR/.recorder.lock    held by the one recorder allowed to write here
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from pathlib import Path

MANIFEST_NAME = "manifest.jsonl"
SEGMENTS_DIR = "segments"
LOCK_NAME = ".recorder.lock"
SEGMENT_EXTENSION = ".ts"
SEGMENT_PATTERN = "seg-%09d" + SEGMENT_EXTENSION  # ffmpeg's printf-style output pattern
_SEGMENT_NAME = re.compile(r"^seg-(\d{9,})\.ts$")
_CHUNK = 1 << 20


class VolumeLocked(RuntimeError):
    """Another recorder already writes to this volume; two writers would fork the hash chain."""


def segments_dir(data_dir: Path) -> Path:
    return data_dir / SEGMENTS_DIR


def segment_number(name: str) -> int | None:
    match = _SEGMENT_NAME.match(name)
    return int(match.group(1)) if match else None


def segment_files(data_dir: Path) -> list[str]:
    """Names of the segment files on disk, oldest first."""
    folder = segments_dir(data_dir)
    if not folder.is_dir():
        return []
    names = [entry.name for entry in folder.iterdir() if segment_number(entry.name) is not None]
    return sorted(names, key=lambda name: segment_number(name) or 0)


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file's content."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file's (or directory's) data to the device, so a hash we record describes bytes that survive."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def volume_space(path: Path) -> tuple[int, int]:
    """(free, total) bytes an unprivileged writer can use on the filesystem holding `path`."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize


def lock_volume(data_dir: Path) -> int:
    """Take the volume's writer lock for the life of the process; returns the descriptor holding it."""
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise VolumeLocked(f"another recorder is writing to {data_dir}") from None
    return fd
