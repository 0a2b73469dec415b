"""Masked copies of segments: each original, verified against its chain entry, re-encoded by ffmpeg with black over
exactly the camera's privacy mask polygons (R17).

The polygons are rasterized (`camfleet.privacy_masks`, the same functions the live transcoder uses) at each
segment's own resolution, read with ffprobe, so a mask covers the same pixels whatever the camera's profile was when
the segment was recorded. ffmpeg reads a staged copy that was hashed against the chain as it was written, never the
live file, so the original a masked file names is exactly the one the chain vouches for. Timestamps are kept
(`-copyts`), so masked segments play back in sequence like the originals; audio is copied as it was.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camfleet.export.errors import ExportError
from camfleet.export.files import partial_path, seal_file, stage_segment, staged_path
from camfleet.export.selection import ChainSegment
from camfleet.privacy_masks import MaskPolygon, mask_pgm, masking_filter_graph
from camfleet.recorder_pod.storage import file_digest

log = logging.getLogger(__name__)

QUALITY_CRF = "18"
"""libx264 constant rate factor: visually near-lossless, so the evidence loses as little as masking allows."""
_TIMEOUT_SECONDS = 30 * 60  # one segment; a hung ffmpeg must not hold the Job until its deadline
_ERROR_TAIL = 600


@dataclass(frozen=True)
class Tools:
    """The programs a masked export runs."""

    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"


DEFAULT_TOOLS = Tools()


@dataclass(frozen=True)
class MaskedFile:
    """A masked copy: its own size and SHA-256, and the original segment (chain entry) it was made from."""

    size: int
    sha256: str
    original: ChainSegment


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=_TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        raise ExportError(f"{argv[0]} is not installed; masked exports need ffmpeg and ffprobe") from None
    except subprocess.TimeoutExpired:
        raise ExportError(f"{what} took longer than {_TIMEOUT_SECONDS}s") from None
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip()[-_ERROR_TAIL:]
        raise ExportError(f"{what} failed (exit {result.returncode}): {tail}")
    return result


def video_size(path: Path, tools: Tools) -> tuple[int, int]:
    """Width and height of the first video stream."""
    argv = [tools.ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
            "-of", "csv=p=0:s=x", str(path)]  # fmt: skip
    text = _run(argv, f"ffprobe of {path.name}").stdout.decode().strip()
    try:
        width, height = (int(value) for value in text.splitlines()[0].split("x")[:2])
    except (ValueError, IndexError):
        raise ExportError(f"{path.name} has no video stream ffprobe can size (it said {text[:80]!r})") from None
    return width, height


def ffmpeg_mask_argv(original: Path, mask: Path, output: Path, tools: Tools) -> list[str]:
    graph = masking_filter_graph("0:v:0", "1:v", "masked")
    return [
        tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-copyts", "-i", str(original), "-i", str(mask),
        "-filter_complex", graph, "-map", "[masked]", "-map", "0:a?",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", QUALITY_CRF, "-pix_fmt", "yuv420p",
        "-c:a", "copy", "-muxdelay", "0", "-f", "mpegts", str(output),
    ]  # fmt: skip


def mask_segment(
    source: Path, target: Path, segment: ChainSegment, polygons: Sequence[MaskPolygon], tools: Tools
) -> MaskedFile:
    """Write the masked copy of one chain segment (`source`, its file in the recording) to `target`."""
    staged = staged_path(target, "original")
    mask = staged_path(target, "mask")
    output = partial_path(target)
    try:
        stage_segment(source, staged, segment.size, segment.sha256)
        width, height = video_size(staged, tools)
        mask.write_bytes(mask_pgm(polygons, width, height))
        _run(ffmpeg_mask_argv(staged, mask, output, tools), f"masking {segment.name}")
        seal_file(output, target)
    finally:
        for leftover in (staged, mask, output):
            leftover.unlink(missing_ok=True)
    size, sha256 = file_digest(target)
    log.info("masked %s (%dx%d, %d polygons): %d bytes", segment.name, width, height, len(polygons), size)
    return MaskedFile(size, sha256, segment)
