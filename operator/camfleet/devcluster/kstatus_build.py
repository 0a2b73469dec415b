"""The kstatus helper (tools/kstatus), built from `sigs.k8s.io/cli-utils` through the Go module proxy, cached.

kstatus is the library Flux's health checks (kustomize-controller `wait`, helm-controller) use to call an object
InProgress, Current or Failed. The tests run the real library over camfleet's statuses instead of a port of it.
The Go source lives in the repository; the binary is cached outside it, under a key made of the cli-utils
version and a digest of the source, so editing tools/kstatus rebuilds it and nothing else does.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import time
from pathlib import Path

from camfleet.devcluster.build import _run, cache_root

SOURCE = Path(__file__).resolve().parents[3] / "tools" / "kstatus"
SOURCE_FILES = ("go.mod", "go.sum", "main.go")
_CLI_UTILS_REQUIRE = re.compile(r"^\s*(?:require\s+)?sigs\.k8s\.io/cli-utils\s+(v\S+)", re.MULTILINE)


def cli_utils_version(go_mod: str) -> str:
    """The cli-utils version tools/kstatus/go.mod pins."""
    match = _CLI_UTILS_REQUIRE.search(go_mod)
    if not match:
        raise RuntimeError("tools/kstatus/go.mod does not require sigs.k8s.io/cli-utils")
    return match.group(1)


def _source_digest(source: Path) -> str:
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        digest.update(name.encode() + b"\0" + (source / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def kstatus_path(source: Path = SOURCE) -> Path:
    version = cli_utils_version((source / "go.mod").read_text())
    return cache_root() / "bin" / f"kstatus-cli-utils-{version}-{_source_digest(source)}" / "kstatus"


def _build_kstatus(source: Path, target: Path) -> None:
    work = cache_root() / "src" / target.parent.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in SOURCE_FILES:
        shutil.copy2(source / name, work / name)
    staging = target.parent.with_name(target.parent.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / target.name), "."], cwd=work)
    # Publish atomically so an interrupted build never looks like a cached one.
    shutil.rmtree(target.parent, ignore_errors=True)
    staging.rename(target.parent)


def ensure_kstatus(source: Path = SOURCE) -> Path:
    """Build the helper when this source is not cached yet; return the binary's path."""
    binary = kstatus_path(source)
    if not binary.is_file():
        started = time.monotonic()
        _build_kstatus(source, binary)
        print(f"built kstatus ({binary.parent.name}) in {time.monotonic() - started:.0f}s", flush=True)
    return binary


if __name__ == "__main__":
    print(ensure_kstatus())
    sys.exit(0)
