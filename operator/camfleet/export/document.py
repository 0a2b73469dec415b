"""The export's own records, as data: manifest.json, SHA256SUMS and the one-line summary. Pure.

Layout of an export directory:

    manifest.json          what was asked (export, case, camera, ranges), what was found (files, gaps, pruned
                           segments), where it came from (the source chain head when the copy was made)
    SHA256SUMS             `sha256sum -c` format; every segment and manifest.json. Written last: its presence
                           marks the export complete
    segments/seg-*.ts      the segments under their recorded names: byte for byte as recorded, or masked

An unmasked export (maskPrivacy: false) holds the original segments, byte-identical to what the recorder hashed
into its chain. A masked one holds each segment re-encoded with black over the camera's privacy mask polygons
(`privacyMasks` lists them); each file entry then carries its own SHA-256 and size, and under `original` the name,
SHA-256 and size of the chain segment it was made from, so the recording's chain still vouches for its source
(`camfleet export-verify --recording DIR` checks it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from camfleet.export.selection import ChainSegment, Gap, Selection, TimeRange
from camfleet.privacy_masks import MaskPolygon
from camfleet.recorder_pod.manifest import to_timestamp

FORMAT = "camfleet.io/footage-export/v1"
MANIFEST_FILE = "manifest.json"
SUMS_FILE = "SHA256SUMS"
SEGMENTS_DIR = "segments"
TOOL = "camfleet export"
CONTENT = "original segments, byte-identical to the recording and its hash chain; no privacy masking applied"
CONTENT_MASKED = (
    "privacy masks blanked: each file is the chain segment named under `original`, re-encoded with black over"
    " exactly the polygons listed in `privacyMasks`"
)
CONTENT_NO_MASKS = (
    "masking asked for, but the camera has no privacy masks: original segments, byte-identical to the recording"
    " and its hash chain"
)
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass(frozen=True)
class Request:
    """What an export was asked for; a destination holding the same request is the same export."""

    name: str
    case_reference: str
    camera: str
    ranges: tuple[TimeRange, ...]
    approved_by: tuple[str, ...] = ()  # not part of what makes two requests the same; recorded for custody
    privacy_masks: tuple[MaskPolygon, ...] | None = None
    """The camera's masks to blank (R17); None for an unmasked export (maskPrivacy: false)."""

    @property
    def masking(self) -> bool:
        """Whether files are re-encoded: masks asked for and the camera has some."""
        return bool(self.privacy_masks)


@dataclass(frozen=True)
class Source:
    """The recording the copy came from, as verified just before copying."""

    chain_head: str
    segments: int
    pruned: int


@dataclass(frozen=True)
class Mismatch:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def segment_path(name: str) -> str:
    return f"{SEGMENTS_DIR}/{name}"


def request_fields(request: Request) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "export": request.name,
        "caseReference": request.case_reference,
        "camera": request.camera,
        "ranges": [_span(r.start, r.end) for r in request.ranges],
    }
    if request.privacy_masks is not None:
        fields["privacyMasks"] = [_mask(polygon) for polygon in request.privacy_masks]
    return fields


def _mask(polygon: MaskPolygon) -> dict[str, Any]:
    return {"name": polygon.name, "corners": [[left, top] for left, top in polygon.vertices]}


def same_request(manifest: Mapping[str, Any], request: Request) -> bool:
    """Same export, same camera, ranges and masks (an unmasked export's manifest has no `privacyMasks`)."""
    wanted = request_fields(request)
    same_masks = manifest.get("privacyMasks") == wanted.get("privacyMasks")
    return same_masks and all(manifest.get(key) == value for key, value in wanted.items())


def _span(start: float, end: float) -> dict[str, str]:
    return {"start": to_timestamp(start), "end": to_timestamp(end)}


MaskedCopies = Mapping[str, tuple[int, str]]
"""Segment name -> (size, SHA-256) of its masked copy."""


def _file(segment: ChainSegment, masked: MaskedCopies | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": segment_path(segment.name),
        "sha256": segment.sha256,
        "size": segment.size,
        **_span(segment.start, segment.end),
        "chainSeq": segment.seq,
    }
    if masked is not None:
        size, sha256 = masked[segment.name]
        entry.update(size=size, sha256=sha256)
        entry["original"] = {"name": segment.name, "sha256": segment.sha256, "size": segment.size}
    if segment.recovered:
        entry["recovered"] = True  # its times are when the recorder found it after a crash, not when recorded
    return entry


def _gap(gap: Gap) -> dict[str, Any]:
    return {**_span(gap.start, gap.end), "seconds": round(gap.end - gap.start, 6), "reason": gap.reason}


def _content(request: Request) -> str:
    if request.privacy_masks is None:
        return CONTENT
    return CONTENT_MASKED if request.masking else CONTENT_NO_MASKS


def build_manifest(
    request: Request,
    selection: Selection,
    source: Source,
    gap_tolerance: float,
    created_at: float,
    version: str,
    masked: MaskedCopies | None = None,
) -> dict[str, Any]:
    """`masked`: the masked copies, when the export re-encoded the segments (`request.masking`)."""
    files = [_file(segment, masked) for segment in selection.segments]
    return {
        "format": FORMAT,
        **request_fields(request),
        "approvedBy": list(request.approved_by),
        "content": _content(request),
        "files": files,
        "totalBytes": sum(int(entry["size"]) for entry in files),
        "gaps": [_gap(gap) for gap in selection.gaps],
        "gapToleranceSeconds": gap_tolerance,
        "prunedInRange": [{"name": s.name, **_span(s.start, s.end)} for s in selection.pruned],
        "source": {"chainHead": source.chain_head, "chainSegments": source.segments, "chainPruned": source.pruned},
        "tool": {"name": TOOL, "version": version},
        "createdAt": to_timestamp(created_at),
    }


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    # Case references are often in Chinese; keep them readable rather than \u-escaped.
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


def format_sums(entries: Sequence[tuple[str, str]]) -> str:
    """`sha256sum` output for (path, sha256) pairs; two spaces, as sha256sum writes in text mode."""
    for path, _ in entries:
        if "\n" in path or "\\" in path:
            raise ValueError(f"{path!r} would need sha256sum's escaping; export file names never do")
    return "".join(f"{sha256}  {path}\n" for path, sha256 in entries)


def parse_sums(text: str) -> list[tuple[str, str]]:
    """(path, sha256) pairs in file order; ValueError naming the first line that is not a sha256sum line."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SUMS_LINE.match(line)
        if not match:
            raise ValueError(f"line {number} is not `<sha256>  <path>`")
        entries.append((match.group(2), match.group(1)))
    return entries


def safe_relative(path: str) -> bool:
    """A path an export may list: relative, inside the export, no tricks."""
    parts = path.split("/")
    return not path.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def manifest_disagrees(manifest: Mapping[str, Any], sums: Mapping[str, str]) -> Mismatch | None:
    """The first way manifest.json and SHA256SUMS disagree about the files of the export."""
    if manifest.get("format") != FORMAT:
        return Mismatch(MANIFEST_FILE, f"not a {FORMAT} manifest")
    files = manifest.get("files")
    if not isinstance(files, list):
        return Mismatch(MANIFEST_FILE, "has no file list")
    listed: set[str] = set()
    for entry in files:
        path = str(entry.get("path")) if isinstance(entry, dict) else "?"
        if path not in sums:
            return Mismatch(path, "in manifest.json but not in SHA256SUMS")
        if entry.get("sha256") != sums[path]:
            return Mismatch(path, "manifest.json and SHA256SUMS record different hashes")
        listed.add(path)
    for path in sums:
        if path != MANIFEST_FILE and path not in listed:
            return Mismatch(path, "in SHA256SUMS but not in manifest.json")
    if MANIFEST_FILE not in sums:
        return Mismatch(MANIFEST_FILE, "not covered by SHA256SUMS")
    return None


def summary(manifest: Mapping[str, Any], manifest_sha256: str, destination: str, reused: bool) -> dict[str, Any]:
    """The line the operator reads from the Job (termination message, at most 4096 bytes: counts, not lists)."""
    return {
        "ok": True,
        "export": manifest["export"],
        "camera": manifest["camera"],
        "destination": destination,
        "files": len(manifest["files"]),
        "bytes": manifest["totalBytes"],
        "gaps": len(manifest["gaps"]),
        "chainHead": manifest["source"]["chainHead"],
        "manifestSha256": manifest_sha256,
        "reused": reused,
    }


def failure(request_name: str, error: str, exit_code: int, broken: Mapping[str, str] | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"ok": False, "export": request_name, "exitCode": exit_code, "error": error}
    if broken:
        line["brokenLink"] = dict(broken)
    return line


def json_line(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
