"""Small polling helpers shared by the integration and e2e tests."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

from camfleet.devcluster.cluster import ExternalCluster, LocalCluster

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 30, interval: float = 0.3, what: str = "condition") -> T:
    """Poll until `predicate()` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


def get_json(cluster: LocalCluster | ExternalCluster, *args: str) -> dict[str, Any]:
    done = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def condition(camera: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for item in camera.get("status", {}).get("conditions", []):
        if item["type"] == kind:
            return dict(item)
    return None


def wait_ready(
    cluster: LocalCluster | ExternalCluster, namespace: str, name: str, timeout: float = 60
) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        camera = get_json(cluster, "camera", name, "-n", namespace)
        found = condition(camera, "Ready")
        return camera if found and found["status"] == "True" else None

    return wait_for(ready, timeout=timeout, what=f"camera {namespace}/{name} Ready")


def events_for(cluster: LocalCluster | ExternalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return list(items.get("items", []))


DEPARTMENT_GROUP = "camfleet.io/department:"


def as_user(
    cluster: LocalCluster | ExternalCluster, user: str, department: str, manifest: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "create", "-f", "-", f"--as={user}", f"--as-group={DEPARTMENT_GROUP}{department}",
        "--as-group=system:authenticated", input=yaml.safe_dump(manifest), check=False,
    )  # fmt: skip
