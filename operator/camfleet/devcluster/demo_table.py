"""The demo's closing table: one line per camera, at most 120 columns, saying which parts are simulated.

kwok runs no containers: it marks the recorder's pod Running, so the Camera's `Recording` condition is True
although no recorder process runs and no footage is written. The table therefore says what was really set up
(the retention volume bound, the recorder Deployment created and its pod faked) instead of "recording".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from camfleet.condition_merge import stored_condition
from camfleet.devcluster.cluster import LocalCluster

COLUMNS = ("NAMESPACE", "CAMERA", "READY", "DEVICE", "VOLUME", "RECORDER")
LEGEND = (
    "Simulated: DEVICE sim = `camfleet sim` answers ONVIF and streams a test pattern over RTSP;",
    "RECORDER pod faked = kwok marks the recorder's pod Running, but no recorder runs and no footage is written",
    "(Camera condition Recording=True means the operator set recording up, not that video is being stored).",
    "Real: kube-apiserver, etcd, controllers, the operator, the ONVIF exchange, volume binding, the decision",
    "endpoint and MediaMTX (the gateway lines above read real frames through it).",
)


def camera_rows(
    cameras: Iterable[dict[str, Any]], claims: dict[tuple[str, str], str], recorders: dict[tuple[str, str], int]
) -> list[tuple[str, ...]]:
    """One row per camera from the Camera objects, the phases of their retention claims and the ready replicas
    of their recorder Deployments (keyed by namespace and camera)."""
    rows: list[tuple[str, ...]] = []
    for camera in cameras:
        meta = camera["metadata"]
        key = (meta["namespace"], meta["name"])
        recorder = ("pod faked" if recorders[key] else "not ready") if key in recorders else "none"
        endpoint = camera["spec"]["endpoint"]
        device = "sim" if "/cam/" in endpoint and "127.0.0.1" in endpoint else "real"
        ready = str(stored_condition(camera.get("status"), "Ready").get("status", "-"))
        rows.append((meta["namespace"], meta["name"], ready, device, claims.get(key, "none"), recorder))
    return rows


def render(rows: list[tuple[str, ...]], width: int) -> str:
    """A kubectl-style table; the widest column (CAMERA) is cut to keep every line within `width`."""
    table = [COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    overflow = sum(widths) + 3 * (len(widths) - 1) - width
    if overflow > 0:
        widths[1] = max(len(COLUMNS[1]), widths[1] - overflow)
    lines = ["   ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table]
    return "\n".join([*lines, "", *LEGEND])


def simulated_table(cluster: LocalCluster, width: int) -> str:
    def items(*args: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)["items"]
        return found

    claims = {
        (c["metadata"]["namespace"], c["metadata"]["name"].removesuffix("-recordings")): (c.get("status") or {}).get(
            "phase", "Pending"
        )
        for c in items("pvc", "-A", "-l", "camfleet.io/retention-volume=true")
    }
    recorders = {
        (d["metadata"]["namespace"], d["metadata"]["labels"].get("camfleet.io/camera", "")): int(
            (d.get("status") or {}).get("readyReplicas") or 0
        )
        for d in items("deployments", "-A", "-l", "app.kubernetes.io/component=recorder")
    }
    return render(camera_rows(items("cameras", "-A"), claims, recorders), width)
