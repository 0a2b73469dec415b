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


def create_as(
    cluster: LocalCluster | ExternalCluster, user: str, groups: list[str], manifest: dict[str, Any], *verb: str
) -> subprocess.CompletedProcess[str]:
    """`kubectl create` (or the given verb, e.g. "apply") as `user` with exactly `groups` (impersonation)."""
    return cluster.kubectl(
        *(verb or ("create",)), "-f", "-", f"--as={user}", *[f"--as-group={group}" for group in groups],
        "--as-group=system:authenticated", input=yaml.safe_dump(manifest), check=False,
    )  # fmt: skip


EMERGENCY_OFFICER = "emergency-officer"
EMERGENCY_GROUP = "camfleet.io/authority:emergency-command"
CLASSIFIER = "classifier"
CLASSIFICATION_GROUP = "camfleet.io/authority:classification"

_AUTHORITY_RBAC: list[dict[str, Any]] = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "camfleet-test-authorities"},
        "rules": [
            {"apiGroups": ["camfleet.io"], "resources": ["grantapprovals"], "verbs": ["create", "get"]},
            {"apiGroups": ["camfleet.io"], "resources": ["cameras"], "verbs": ["get", "list", "create", "patch"]},
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "camfleet-test-authorities"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "camfleet-test-authorities",
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": EMERGENCY_GROUP},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": CLASSIFICATION_GROUP},
        ],
    },
]


def configure_authorities(cluster: LocalCluster | ExternalCluster, *emergency_departments: str) -> None:
    """The test authorities, with `emergency_departments` added to the list (server-side apply merges the list
    items of every test's field manager), and the authorities' test RBAC."""
    authorities = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "CamfleetAuthorities",
        "metadata": {"name": "camfleet"},
        "spec": {
            "emergency": {"users": [EMERGENCY_OFFICER], "groups": [EMERGENCY_GROUP]},
            "classification": {"users": [CLASSIFIER], "groups": [CLASSIFICATION_GROUP]},
            "emergencyDepartments": list(emergency_departments),
        },
    }
    manager = f"camfleet-tests-{emergency_departments[0] if emergency_departments else 'none'}"
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(_AUTHORITY_RBAC))
    cluster.kubectl(
        "apply", "--server-side", f"--field-manager={manager}", "-f", "-", input=yaml.safe_dump(authorities)
    )


def authorize_emergency(
    cluster: LocalCluster | ExternalCluster, owner: str, grantee: str, grant: str
) -> subprocess.CompletedProcess[str]:
    """The emergency authority's special authorization (R12): its member approves the grant in the owner namespace."""
    approval = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": f"{grant}-authorization", "namespace": owner},
        "spec": {
            "target": {"kind": "SharingGrant", "namespace": grantee, "name": grant},
            "verdict": "Approve",
            "documentReference": "EMC-AUTH-TEST",
        },
    }
    return create_as(cluster, EMERGENCY_OFFICER, [EMERGENCY_GROUP], approval)


def audit_records(source: Any, action: str) -> list[dict[str, Any]]:
    """The operator's audit records (JSON lines in its log) of one action, as written so far. `source` is an
    OperatorProcess or the path of its log. A record follows its decision by moments: use `audited` to wait."""
    records = []
    with open(getattr(source, "log_path", source), encoding="utf-8", errors="replace") as log:
        lines = log.readlines()
    for line in lines:
        if line.startswith("{") and f'"action": "{action}"' in line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def audited(
    source: Any,
    action: str,
    obj: str | None = None,
    *,
    where: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 10,
) -> list[dict[str, Any]]:
    """The operator's audit records of `action` (on `obj`, if given; passing `where`, if given), waited for until
    there is at least one. The audit writer batches records off the decision's path, so a record follows the
    answer (a webhook refusal, a status write) by moments: a test that reads the trail once races it.
    `source` is an OperatorProcess or the path of its log."""

    def matching() -> list[dict[str, Any]]:
        return [
            r for r in audit_records(source, action)
            if (obj is None or r["object"] == obj) and (where is None or where(r))
        ]  # fmt: skip

    return wait_for(matching, timeout=timeout, what=f"the audit record {action}" + (f" of {obj}" if obj else ""))
