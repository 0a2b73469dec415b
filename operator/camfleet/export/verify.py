"""`camfleet export-verify DIR`: re-check every file of a footage export and name the first mismatch.

Checks, in order: SHA256SUMS and manifest.json are there; manifest.json has the expected hash (when
--manifest-sha256 gives the one the operator recorded in the FootageExport's status: without it, whoever rewrites
files, manifest and SHA256SUMS together goes unnoticed); every file in SHA256SUMS hashes to its line; manifest.json
and SHA256SUMS list the same files with the same hashes and sizes; no segment file is in the export unlisted.

With --recording (the camera's recording folder), also where each file came from: the recording's hash chain must
link line by line, hold the chain head the manifest names as its source, and hold each file's original segment
(for a masked file the one under `original`; an unmasked file is its own original) with that exact SHA-256. A
masked file cannot be compared with the chain byte for byte, but its original can: the chain vouches for the
source, SHA256SUMS and the manifest hash for the masked copy.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camfleet.export.document import (
    MANIFEST_FILE,
    SEGMENTS_DIR,
    SUMS_FILE,
    Mismatch,
    manifest_disagrees,
    parse_sums,
    safe_relative,
    segment_path,
)
from camfleet.recorder_pod.manifest import GENESIS, SEGMENT, chain_hash, read_lines
from camfleet.recorder_pod.storage import MANIFEST_NAME, file_digest

EXIT_INTACT = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class ExportCheck:
    mismatch: Mismatch | None
    manifest: dict[str, Any]
    manifest_sha256: str

    @property
    def intact(self) -> bool:
        return self.mismatch is None


def check_export(directory: Path, manifest_sha256: str | None = None) -> ExportCheck:
    for required in (SUMS_FILE, MANIFEST_FILE):
        if not (directory / required).is_file():
            return ExportCheck(Mismatch(required, "missing"), {}, "")
    _, actual_manifest_sha256 = file_digest(directory / MANIFEST_FILE)
    if manifest_sha256 is not None and actual_manifest_sha256 != manifest_sha256.lower():
        mismatch = Mismatch(MANIFEST_FILE, f"sha256 {actual_manifest_sha256}, expected {manifest_sha256}")
        return ExportCheck(mismatch, {}, actual_manifest_sha256)
    read = _read_export(directory)
    if isinstance(read, Mismatch):
        return ExportCheck(read, {}, actual_manifest_sha256)
    sums, manifest = read
    return ExportCheck(_check_files(directory, sums, manifest), manifest, actual_manifest_sha256)


def _read_export(directory: Path) -> Mismatch | tuple[list[tuple[str, str]], dict[str, Any]]:
    """SHA256SUMS and manifest.json, parsed (a manifest that is not an object reads as empty)."""
    try:
        sums = parse_sums((directory / SUMS_FILE).read_text())
    except ValueError as error:  # UnicodeDecodeError included
        return Mismatch(SUMS_FILE, str(error))
    try:
        parsed = json.loads((directory / MANIFEST_FILE).read_bytes())
    except ValueError as error:
        return Mismatch(MANIFEST_FILE, f"not JSON ({error})")
    return list(sums), parsed if isinstance(parsed, dict) else {}


def _copied_file(directory: Path, path: str, sha256: str) -> tuple[int, Mismatch | None]:
    """The size of one file SHA256SUMS lists, and what is wrong with it."""
    if not safe_relative(path):
        return 0, Mismatch(path, "not a path inside the export")
    if (directory / path).resolve() != directory.resolve() / path:
        return 0, Mismatch(path, "reached through a symbolic link, not a copied file")
    if not (directory / path).is_file():
        return 0, Mismatch(path, "missing")
    size, actual = file_digest(directory / path)
    if actual != sha256:
        return size, Mismatch(path, f"sha256 {actual}, SHA256SUMS says {sha256}")
    return size, None


def _check_files(directory: Path, sums: list[tuple[str, str]], manifest: dict[str, Any]) -> Mismatch | None:
    sizes: dict[str, int] = {}
    for path, sha256 in sums:
        sizes[path], mismatch = _copied_file(directory, path, sha256)
        if mismatch is not None:
            return mismatch
    disagreement = manifest_disagrees(manifest, dict(sums))
    if disagreement is not None:
        return disagreement
    for entry in manifest["files"]:
        if entry.get("size") != sizes[entry["path"]]:
            return Mismatch(entry["path"], f"{sizes[entry['path']]} bytes, manifest.json says {entry.get('size')}")
    folder = directory / SEGMENTS_DIR
    present = sorted(segment_path(p.name) for p in folder.iterdir()) if folder.is_dir() else []
    unlisted = next((path for path in present if path not in sizes), None)
    return Mismatch(unlisted, "in the export but listed nowhere") if unlisted is not None else None


@dataclass(frozen=True)
class ChainIndex:
    """What a recording's hash chain holds: each segment's SHA-256 by name, and every chain hash (head included)."""

    segments: dict[str, str]
    hashes: frozenset[str]


def chain_index(recording: Path) -> ChainIndex | Mismatch:
    """The recording's chain, each line checked against its own hash and its link to the line before."""
    lines, _ = read_lines(recording / MANIFEST_NAME)  # a torn last line is a crash mid-write, not a forgery
    if not lines:
        return Mismatch(f"{recording}/{MANIFEST_NAME}", "no hash chain there")
    prev, segments, hashes = GENESIS, {}, set()
    for number, line in enumerate(lines, start=1):
        where = f"{MANIFEST_NAME} line {number}"
        if line is None or not isinstance(line.get("chain"), str):
            return Mismatch(where, "not a chain line")
        if line.get("prev") != prev or chain_hash(prev, line) != line["chain"]:
            return Mismatch(where, "breaks the hash chain (altered, removed or reordered lines)")
        if line.get("kind") == SEGMENT:
            segments[str(line.get("name"))] = str(line.get("sha256"))
        prev = line["chain"]
        hashes.add(prev)
    return ChainIndex(segments, frozenset(hashes))


def _original_of(entry: dict[str, Any]) -> tuple[str, str]:
    original = entry.get("original")
    if isinstance(original, dict):
        return str(original.get("name")), str(original.get("sha256"))
    return str(entry.get("path", "")).rsplit("/", 1)[-1], str(entry.get("sha256"))


def check_originals(manifest: dict[str, Any], recording: Path) -> Mismatch | None:
    """The first file whose original the recording's chain does not vouch for (see the module's doc)."""
    index = chain_index(recording)
    if isinstance(index, Mismatch):
        return index
    head = (manifest.get("source") or {}).get("chainHead")
    if head not in index.hashes:
        return Mismatch(MANIFEST_FILE, f"its source chain head {str(head)[:16]}... is not in the recording's chain")
    for entry in manifest.get("files", []):
        name, sha256 = _original_of(entry)
        recorded = index.segments.get(name)
        if recorded is None:
            return Mismatch(entry.get("path", name), f"its original {name} is not in the recording's chain")
        if recorded != sha256:
            return Mismatch(
                entry.get("path", name), f"its original {name} has sha256 {recorded} in the chain, not {sha256}"
            )
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="camfleet export-verify", description=__doc__.split("\n", 1)[0])
    parser.add_argument("directory", type=Path, help="the export (holds manifest.json, SHA256SUMS, segments/)")
    parser.add_argument("--manifest-sha256", help="the manifest hash recorded in the FootageExport's status")
    parser.add_argument(
        "--recording", type=Path, help="the camera's recording folder: check each file's original against its chain"
    )
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"no export at {args.directory}", file=sys.stderr)
        return EXIT_USAGE
    if args.recording is not None and not args.recording.is_dir():
        print(f"no recording at {args.recording}", file=sys.stderr)
        return EXIT_USAGE
    result = check_export(args.directory, args.manifest_sha256)
    mismatch = result.mismatch
    if mismatch is None and args.recording is not None:
        mismatch = check_originals(result.manifest, args.recording)
    if mismatch is not None:
        print(f"export does not verify: {mismatch}")
        return EXIT_MISMATCH
    files = result.manifest["files"]
    total = sum(int(entry["size"]) for entry in files)
    masked = sum(1 for entry in files if isinstance(entry.get("original"), dict))
    origins = "; every original is in the recording's chain" if args.recording is not None else ""
    print(
        f"export intact: {len(files)} files ({masked} masked), {total} bytes,"
        f" manifest.json sha256 {result.manifest_sha256}{origins}"
    )
    return EXIT_INTACT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
