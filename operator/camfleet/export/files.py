"""File operations of an export: copy while hashing, durable atomic writes, clearing an unfinished export.

Every file is written under a temporary name, fsynced, renamed into place and its directory fsynced, so a crash
leaves either the complete file or a temporary one that the next run clears; SHA256SUMS, written last, is the
commit point of the whole export.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from camfleet.export.document import MANIFEST_FILE, SEGMENTS_DIR, SUMS_FILE
from camfleet.export.errors import DestinationConflict, ExportError, SourceBroken
from camfleet.recorder_pod.storage import fsync_path, segment_number
from camfleet.recorder_pod.verify import CONTENT_CHANGED, SEGMENT_MISSING

PARTIAL_SUFFIX = ".partial"
READ_ONLY = 0o444  # evidence: nothing in the export is meant to be written again
_CHUNK = 1 << 20


def partial_path(path: Path) -> Path:
    return _partial(path)


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def write_atomic(path: Path, data: bytes) -> None:
    temporary = _partial(path)
    with temporary.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    temporary.chmod(READ_ONLY)
    temporary.replace(path)
    fsync_path(path.parent)


def copy_segment(source: Path, target: Path, size: int, sha256: str) -> None:
    """Copy one segment, hashing the bytes as they are read: what lands in the export is exactly what the chain
    vouches for, even if the source changed after it was verified."""
    temporary = _partial(target)
    stage_segment(source, temporary, size, sha256)
    temporary.chmod(READ_ONLY)
    temporary.replace(target)


def staged_path(target: Path, what: str) -> Path:
    """A working file beside `target` that an unfinished export's clean-up recognises (`.NAME.WHAT.partial`)."""
    return target.with_name(f".{target.name}.{what}{PARTIAL_SUFFIX}")


def stage_segment(source: Path, staged: Path, size: int, sha256: str) -> None:
    """Copy `source` to `staged` (a `.partial` path), hashing the bytes as they are read; SourceBroken unless they
    are exactly what the chain recorded. A masked export re-encodes this copy, never the live file, so what ffmpeg
    reads is what the chain vouches for."""
    if not staged.name.endswith(PARTIAL_SUFFIX):
        raise ValueError(f"{staged} must end with {PARTIAL_SUFFIX}: a crash would leave it for the next run to clear")
    digest = hashlib.sha256()
    copied = 0
    try:
        with source.open("rb") as reader, staged.open("wb") as writer:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
                copied += len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
    except FileNotFoundError:
        staged.unlink(missing_ok=True)
        # The recorder prunes a segment once its retention passed; a retry selects without it and reports a gap.
        raise ExportError(f"{source.name} disappeared during the export ({SEGMENT_MISSING}); retry") from None
    if copied != size or digest.hexdigest() != sha256:
        staged.unlink(missing_ok=True)
        detail = f"read sha256 {digest.hexdigest()[:16]}... ({copied} bytes), recorded {sha256[:16]}... ({size} bytes)"
        raise SourceBroken(source.name, CONTENT_CHANGED, detail)


def seal_file(temporary: Path, target: Path) -> None:
    """Make a finished working file evidence: fsynced, read-only, renamed into place."""
    with temporary.open("rb") as stream:
        os.fsync(stream.fileno())
    temporary.chmod(READ_ONLY)
    temporary.replace(target)


def _ours(directory: Path, name: str) -> bool:
    """Whether an entry of the destination is one an export writes (and so one it may clear)."""
    if name.endswith(PARTIAL_SUFFIX):
        return True
    if directory.name == SEGMENTS_DIR:
        return segment_number(name) is not None
    return name in (MANIFEST_FILE, SUMS_FILE, SEGMENTS_DIR)


def clear_unfinished(destination: Path) -> int:
    """Remove an unfinished export's files; refuse (touching nothing) when anything else is there, so a wrong
    --destination cannot wipe unrelated data. Returns how many files went."""
    segments = destination / SEGMENTS_DIR
    if segments.is_symlink():
        raise DestinationConflict(f"{segments} is a symbolic link, not an export's folder; not touched")
    entries = [destination / name for name in os.listdir(destination)]
    if segments.is_dir():
        entries += [segments / name for name in os.listdir(segments)]
    foreign = sorted(str(entry) for entry in entries if not _ours(entry.parent, entry.name))
    if foreign:
        shown = ", ".join(foreign[:5])
        raise DestinationConflict(f"{destination} holds files that are not part of an export ({shown}); not touched")
    removed = 0
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
            removed += 1
    if segments.is_dir():
        shutil.rmtree(segments)
    fsync_path(destination)
    return removed
