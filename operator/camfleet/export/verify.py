"""`camfleet export-verify DIR`: re-check every file of a footage export and name the first mismatch.

Checks, in order: SHA256SUMS and manifest.json are there; manifest.json has the expected hash (when
--manifest-sha256 gives the one the operator recorded in the FootageExport's status: without it, whoever rewrites
files, manifest and SHA256SUMS together goes unnoticed); every file in SHA256SUMS hashes to its line; manifest.json
and SHA256SUMS list the same files with the same hashes and sizes; no segment file is in the export unlisted.
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
from camfleet.recorder_pod.storage import file_digest

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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="camfleet export-verify", description=__doc__.split("\n", 1)[0])
    parser.add_argument("directory", type=Path, help="the export (holds manifest.json, SHA256SUMS, segments/)")
    parser.add_argument("--manifest-sha256", help="the manifest hash recorded in the FootageExport's status")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"no export at {args.directory}", file=sys.stderr)
        return EXIT_USAGE
    result = check_export(args.directory, args.manifest_sha256)
    if result.mismatch is not None:
        print(f"export does not verify: {result.mismatch}")
        return EXIT_MISMATCH
    files = result.manifest["files"]
    total = sum(int(entry["size"]) for entry in files)
    print(f"export intact: {len(files)} files, {total} bytes, manifest.json sha256 {result.manifest_sha256}")
    return EXIT_INTACT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
