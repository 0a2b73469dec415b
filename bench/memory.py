"""Where the operator's memory goes: memray records every allocation of the operator process; at its peak, the
live allocations are attributed like py-spy's samples (library of the innermost frame, camfleet module on whose
behalf), weighted by bytes.

memray runs the operator in-process (`python -m memray run -m camfleet.cli run ...`), so pids, probes and
py-spy work as usual; tracking costs CPU, so a run with `--memray` says so next to its figures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from processes import shares_of

# Longest first, so that site-packages wins over the standard library folder that contains it.
IMPORT_ROOTS = sorted({str(Path(entry).resolve()) for entry in sys.path if entry}, key=len, reverse=True)


def launcher(output: Path) -> tuple[str, ...]:
    """Interpreter arguments that run the operator module under memray, writing `output`."""
    return ("-m", "memray", "run", "--quiet", "--force", "-o", str(output))


def _relative(filename: str) -> str:
    """memray gives absolute paths; py-spy's summariser expects them relative to their sys.path entry."""
    for root in IMPORT_ROOTS:
        if filename.startswith(root + "/"):
            return filename[len(root) + 1 :]
    return filename.rsplit("/", 1)[-1]


def peak_breakdown(recording: Path, top: int = 8) -> tuple[float, str, str, str]:
    """Peak RSS-relevant heap (MB) and its shares by library, by camfleet module, and by allocating function."""
    from memray import FileReader  # only benchmarks need memray

    reader = FileReader(str(recording))
    stacks = []
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        frames = [f"{function} ({_relative(filename)}:{line})" for function, filename, line in record.stack_trace()]
        if frames:
            stacks.append((list(reversed(frames)), float(record.size)))  # memray: innermost first
    peak_mb = reader.metadata.peak_memory / 1e6
    libraries, callers, functions = shares_of(stacks, top) if stacks else ("no allocations", "", "")
    return peak_mb, libraries, callers, functions


# -- per-camera bytes of the operator's camera store ---------------------------------------------------------
#
#     .venv/bin/python bench/memory.py --store-cameras 2000
#
# memray tracks N puts of a real Camera body (bench/camera_body.json: one camera of a fleet run, Ready, as the API
# server handed it out) into the operator's CameraStore; the allocations still live when tracking ends are what
# the store keeps. For comparison, the same N bodies as parsed dicts (what a kopf-style cache or a queued watch
# event holds per camera) and as the store's earlier compact JSON (everything but managedFields).

CAMERA_BODY = Path(__file__).resolve().parent / "camera_body.json"


def _bodies(count: int) -> list[dict[str, Any]]:
    import copy

    template = json.loads(CAMERA_BODY.read_text())
    bodies = []
    for index in range(count):
        body = copy.deepcopy(template)
        body["metadata"]["name"] = f"cam-{index:06d}"  # distinct keys, as a fleet has
        body["metadata"]["uid"] = f"{index:08d}-0000-0000-0000-000000000000"
        bodies.append(body)
    return bodies


def _retained_bytes(fill: Callable[[], object], label: str) -> int:
    """Bytes allocated inside `fill()` and still live after it, per memray."""
    import tempfile

    from memray import FileReader, Tracker

    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / f"{label}.bin"
        with Tracker(str(output), trace_python_allocators=True):
            kept = fill()
        retained = sum(record.size for record in FileReader(str(output)).get_leaked_allocation_records())
        del kept
    return int(retained)


def _applied_by_kubectl(body: dict[str, Any]) -> dict[str, Any]:
    """The body as it is after a client-side `kubectl apply`: the manifest copied into an annotation."""
    manifest = {key: body[key] for key in ("apiVersion", "kind", "spec")}
    manifest["metadata"] = {key: body["metadata"][key] for key in ("name", "namespace", "labels")}
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(manifest)}
    return {**body, "metadata": {**body["metadata"], "annotations": annotations}}


def _earlier_compact(body: Mapping[str, Any]) -> str:
    """The store's rule before the projection: everything but managedFields."""
    metadata = {key: value for key, value in body["metadata"].items() if key != "managedFields"}
    return json.dumps({**body, "metadata": metadata}, separators=(",", ":"))


def store_bytes_per_camera(count: int) -> dict[str, float]:
    from camfleet.kube import store as store_module

    bench_bodies = _bodies(count)
    applied_bodies = [_applied_by_kubectl(body) for body in bench_bodies]

    def filled(bodies: list[dict[str, Any]]) -> Callable[[], store_module.CameraStore]:
        def fill() -> store_module.CameraStore:
            store = store_module.CameraStore()
            for body in bodies:
                store.put(body)
            return store

        return fill

    def parsed() -> list[object]:
        return [json.loads(json.dumps(body)) for body in bench_bodies]

    def parsed_lean() -> list[object]:  # a listed camera as kopf holds it now (kube/kopf_listing.lean)
        lean = [{**body, "metadata": {k: v for k, v in body["metadata"].items() if k != "managedFields"}}
                for body in bench_bodies]  # fmt: skip
        return [json.loads(json.dumps(body)) for body in lean]

    figures = {
        "store, projection (bench camera: POSTed)": _retained_bytes(filled(bench_bodies), "a") / count,
        "store, projection (camera applied by kubectl)": _retained_bytes(filled(applied_bodies), "b") / count,
        "full body as parsed dicts (bench camera)": _retained_bytes(parsed, "c") / count,
        "body as parsed dicts without managedFields (bench camera)": _retained_bytes(parsed_lean, "f") / count,
    }
    projection = store_module._compact
    store_module._compact = _earlier_compact  # the earlier rule, for comparison only
    try:
        figures["store, earlier rule (bench camera)"] = _retained_bytes(filled(bench_bodies), "d") / count
        applied = _retained_bytes(filled(applied_bodies), "e")
        figures["store, earlier rule (camera applied by kubectl)"] = applied / count
    finally:
        store_module._compact = projection
    return figures


def listing_peak_bytes(count: int, page: int | None = None) -> float:
    """Peak heap (memray) of reading one LIST reply of `count` cameras as kopf does (the reply's bytes, then
    parsed whole), or page by page with `page` objects per reply, each page dropped before the next."""
    import tempfile

    from memray import FileReader, Tracker

    replies = [json.dumps({"items": _bodies(count)[start : start + (page or count)]}).encode()
               for start in range(0, count, page or count)]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "listing.bin"
        with Tracker(str(output), trace_python_allocators=True):
            for reply in replies:
                items = json.loads(bytes(reply))["items"]  # the copy stands for the reply read off the socket
                del items
        return float(FileReader(str(output)).metadata.peak_memory)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="per-camera bytes of the camera store, measured with memray")
    parser.add_argument("--store-cameras", type=int, default=2000)
    args = parser.parse_args()
    count = args.store_cameras
    for what, per_camera in store_bytes_per_camera(count).items():
        print(f"{count} cameras, {what}: {per_camera:,.0f} bytes per camera")
    whole, paged = listing_peak_bytes(count), listing_peak_bytes(count, page=500)
    print(f"{count} cameras, one unpaginated LIST reply read and parsed: peak {whole / 1e6:.1f} MB")
    print(f"{count} cameras, the same in pages of 500: peak {paged / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
