"""MediaMTX, the media gateway of the tests and the demo, built from its Go module and cached by version.

Like the control plane and Helm, nothing comes from a release page. The module zip the Go proxy serves lacks
two files MediaMTX's release process generates, so the module is copied out of the (read-only) module cache
and completed:

- `internal/core/VERSION`: the version string `mediamtx --help` prints (an embedded file);
- `internal/servers/hls/hls.min.js`: the HLS player page's script (an embedded file), taken from the npm
  package `hls.js` at the version MediaMTX pins in `internal/servers/hls/hlsjsdownloader/VERSION`.

Then `go build .` in that copy (it is the main module there, so `-mod=mod` applies).
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from camfleet.devcluster.build import _run, cache_root

MEDIAMTX_VERSION = "v1.20.1"
MEDIAMTX_MODULE = "github.com/bluenviron/mediamtx"
HLSJS_VERSION_FILE = Path("internal/servers/hls/hlsjsdownloader/VERSION")
HLSJS_TARGET = Path("internal/servers/hls/hls.min.js")
VERSION_FILE = Path("internal/core/VERSION")


def mediamtx_path(version: str = MEDIAMTX_VERSION) -> Path:
    return cache_root() / "bin" / f"mediamtx-{version}" / "mediamtx"


def _module_dir(version: str) -> Path:
    out = _run(["go", "mod", "download", "-json", f"{MEDIAMTX_MODULE}@{version}"], cwd=Path("/"))
    return Path(json.loads(out)["Dir"])


def _writable_copy(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    # The module cache is read-only; the copy must take the two generated files.
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _hls_min_js(hlsjs_version: str) -> bytes:
    """`dist/hls.min.js` of the npm package hls.js at that version, through the npm registry."""
    with tempfile.TemporaryDirectory(prefix="camfleet-hlsjs-") as folder:
        done = subprocess.run(
            ["npm", "pack", f"hls.js@{hlsjs_version.removeprefix('v')}", "--silent"],
            cwd=folder,
            text=True,
            capture_output=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm pack hls.js@{hlsjs_version} failed: {done.stderr[-2000:]}")
        tarball = Path(folder) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/dist/hls.min.js")
            if member is None:
                raise RuntimeError(f"hls.js@{hlsjs_version} has no dist/hls.min.js")
            return member.read()


def _build_mediamtx(version: str, target: Path) -> None:
    work = cache_root() / "src" / f"mediamtx-{version}"
    _writable_copy(_module_dir(version), work)
    (work / VERSION_FILE).write_text(version + "\n")
    hlsjs_version = (work / HLSJS_VERSION_FILE).read_text().strip()
    (work / HLSJS_TARGET).write_bytes(_hls_min_js(hlsjs_version))
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "mediamtx"), "."], cwd=work)
    # Publish atomically so an interrupted build never looks like a cached one.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def ensure_mediamtx(version: str = MEDIAMTX_VERSION) -> Path:
    """Build MediaMTX when it is not cached yet; return the binary's path."""
    binary = mediamtx_path(version)
    if not binary.is_file():
        started = time.monotonic()
        _build_mediamtx(version, binary.parent)
        print(f"built mediamtx {version} in {time.monotonic() - started:.0f}s", flush=True)
    return binary


if __name__ == "__main__":
    print(ensure_mediamtx())
    sys.exit(0)
