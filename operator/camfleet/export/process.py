"""One export, start to finish: check the destination, verify the source, select, copy, write the records.

Order matters for evidence (R3, R15):

1. A destination that already holds this complete export, still verifying, is the answer: nothing is copied
   again (a Job retried after its pod died past the commit point). One that holds another export, or an
   export that no longer verifies, is refused rather than overwritten: that would hide an alteration. One
   with an unfinished export (no SHA256SUMS yet) is cleared and redone.
2. The source's whole hash chain is verified before anything is copied; a tampered recording is never
   exported. Selection uses only the chain up to the head that was verified, even if the recorder appended
   more since.
3. Each segment is hashed as it is copied and must match its chain entry, closing the window between
   verification and copy. A masked export (the request carries the camera's privacy masks) re-encodes that
   verified copy with the masks blanked (`masking.py`) and records both the masked file's hash and the original's.
4. manifest.json, then SHA256SUMS (the commit point), each fsynced; then the export is re-read and checked
   as `camfleet export-verify` would.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camfleet import __version__
from camfleet.export.document import (
    MANIFEST_FILE,
    SEGMENTS_DIR,
    SUMS_FILE,
    Request,
    Source,
    build_manifest,
    format_sums,
    manifest_bytes,
    same_request,
    summary,
)
from camfleet.export.errors import DestinationConflict, ExportError, SourceBroken, UsageError
from camfleet.export.files import clear_unfinished, copy_segment, write_atomic
from camfleet.export.masking import DEFAULT_TOOLS, Tools, mask_segment
from camfleet.export.selection import DEFAULT_GAP_TOLERANCE_SECONDS, Selection, chain_state, select
from camfleet.export.verify import check_export
from camfleet.recorder_pod.manifest import GENESIS, read_lines, to_timestamp
from camfleet.recorder_pod.storage import MANIFEST_NAME, fsync_path, segments_dir
from camfleet.recorder_pod.verify import ENTRY_ALTERED, SEGMENT_MISSING, Verdict, verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Paths:
    source: Path  # the recording folder (manifest.jsonl, segments/), mounted read-only
    destination: Path  # this export's folder on the export volume


def run_export(
    request: Request,
    paths: Paths,
    gap_tolerance: float = DEFAULT_GAP_TOLERANCE_SECONDS,
    now: Callable[[], float] = time.time,
    tools: Tools = DEFAULT_TOOLS,
) -> dict[str, Any]:
    """Make the export (or find it made); returns the summary line. Raises ExportError and its kinds."""
    if not (paths.source / MANIFEST_NAME).is_file():
        raise UsageError(f"no recording in {paths.source}: {MANIFEST_NAME} is missing")
    finished = _finished_export(request, paths.destination)
    if finished is not None:
        return finished
    _prepare(paths.destination)
    verdict = _verified_source(paths.source, now())
    state = chain_state(_lines_up_to(paths.source, verdict.head))
    selection = select(state, request.ranges, gap_tolerance)
    for gap in selection.gaps:
        log.warning("no footage from %s to %s (%s)", to_timestamp(gap.start), to_timestamp(gap.end), gap.reason)
    masked = _mask(selection, paths, request, tools) if request.masking else None
    if masked is None:
        _copy(selection, paths)
    source = Source(verdict.head, verdict.segments, verdict.pruned)
    manifest = build_manifest(request, selection, source, gap_tolerance, now(), __version__, masked)
    document = manifest_bytes(manifest)
    _write_records(manifest, document, paths.destination)
    check = check_export(paths.destination, _sha256(document))
    if check.mismatch is not None:  # what was just written does not read back: the volume is failing
        raise ExportError(f"the export does not read back as written: {check.mismatch}")
    return summary(manifest, check.manifest_sha256, str(paths.destination), reused=False)


def _copy(selection: Selection, paths: Paths) -> None:
    target = paths.destination / SEGMENTS_DIR
    target.mkdir(exist_ok=True)
    for segment in selection.segments:
        copy_segment(segments_dir(paths.source) / segment.name, target / segment.name, segment.size, segment.sha256)
    fsync_path(target)
    fsync_path(paths.destination)
    log.info("copied %d segments (%d bytes)", len(selection.segments), selection.total_bytes)


def _mask(selection: Selection, paths: Paths, request: Request, tools: Tools) -> dict[str, tuple[int, str]]:
    """Masked copies of the selected segments: name -> (size, SHA-256) of the copy."""
    target = paths.destination / SEGMENTS_DIR
    target.mkdir(exist_ok=True)
    polygons = request.privacy_masks or ()
    masked = {}
    for segment in selection.segments:
        source = segments_dir(paths.source) / segment.name
        if segment.size == 0:  # an empty file a crash left (recorded as recovered): no picture to mask
            copy_segment(source, target / segment.name, segment.size, segment.sha256)
            masked[segment.name] = (segment.size, segment.sha256)
            continue
        copy = mask_segment(source, target / segment.name, segment, polygons, tools)
        masked[segment.name] = (copy.size, copy.sha256)
    fsync_path(target)
    fsync_path(paths.destination)
    log.info("masked %d segments with %d privacy mask(s)", len(masked), len(polygons))
    return masked


def _write_records(manifest: Mapping[str, Any], document: bytes, destination: Path) -> None:
    """manifest.json, then SHA256SUMS: once SHA256SUMS is in place the export is complete."""
    write_atomic(destination / MANIFEST_FILE, document)
    sums = [(str(entry["path"]), str(entry["sha256"])) for entry in manifest["files"]]
    sums.append((MANIFEST_FILE, _sha256(document)))
    write_atomic(destination / SUMS_FILE, format_sums(sums).encode())


def _finished_export(request: Request, destination: Path) -> dict[str, Any] | None:
    if not (destination / SUMS_FILE).exists():
        return None
    check = check_export(destination)
    if check.mismatch is not None:
        raise DestinationConflict(
            f"{destination} holds a complete export that no longer verifies ({check.mismatch}); "
            "refusing to overwrite it: that would hide the alteration"
        )
    if not same_request(check.manifest, request):
        raise DestinationConflict(f"{destination} holds export {check.manifest.get('export')!r} of another request")
    log.info("%s already holds this export, verified; nothing to copy", destination)
    return summary(check.manifest, check.manifest_sha256, str(destination), reused=True)


def _prepare(destination: Path) -> None:
    if destination.exists():
        removed = clear_unfinished(destination)
        if removed:
            log.warning("cleared an unfinished export from %s (%d files); starting over", destination, removed)
    else:
        destination.mkdir(parents=True)
        fsync_path(destination.parent)


def _verified_source(source: Path, now: float) -> Verdict:
    verdict = verify(source, now)
    if verdict.first_break is not None and verdict.first_break.kind == SEGMENT_MISSING:
        # The recorder appends a prune line and then deletes the file; a verification that read the manifest
        # just before the prune sees the file gone without it. Once more settles whether it was that race.
        log.info("%s is missing; checking again in case the recorder just pruned it", verdict.first_break.segment)
        verdict = verify(source, now)
    for note in verdict.notes:
        log.info("source: %s", note)
    broken = verdict.first_break
    if broken is not None:
        raise SourceBroken(broken.segment, broken.kind, broken.detail)
    log.info("source chain intact: %d segments (%d pruned), head %s", verdict.segments, verdict.pruned, verdict.head)
    return verdict


def _lines_up_to(source: Path, head: str) -> list[Mapping[str, Any]]:
    """The manifest lines up to and including the verified head (the recorder keeps appending meanwhile)."""
    if head == GENESIS:
        return []
    lines, _ = read_lines(source / MANIFEST_NAME)
    prefix: list[Mapping[str, Any]] = []
    for line in _until_none(lines):
        prefix.append(line)
        if line.get("chain") == head:
            return prefix
    # An append-only file cannot lose its verified head; the manifest was rewritten under us.
    raise SourceBroken(MANIFEST_NAME, ENTRY_ALTERED, f"the verified head {head[:16]}... vanished during the export")


def _until_none(lines: Iterable[dict[str, Any] | None]) -> Iterable[dict[str, Any]]:
    for line in lines:
        if line is None:
            return
        yield line


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
