"""Issue 7 on the real control plane: the Argo CD health checks judge status objects the real operator wrote.

The objects are read back from the API server exactly as Argo CD would see them, and the Lua scripts of
docs/gitops/argocd-health/ run on them in a Lua 5.1 interpreter (see tests/unit/test_argocd_lua.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.operator_context import OperatorContext
from tests.helpers import authorize_emergency, condition, configure_authorities, get_json, wait_for, wait_ready
from tests.integration.manifests import as_yaml, camera_with_secret, credentials_secret
from tests.unit.test_argocd_lua import Health, argocd_health

GRANT_CONTROLLER_RUNS = "grants" in OperatorContext.__dataclass_fields__


def apply(cluster: LocalCluster, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "-f", "-", input=as_yaml(objects))


def merge_patch(cluster: LocalCluster, resource: str, name: str, namespace: str, patch: dict[str, Any]) -> Any:
    """The object as the API server stored it right after the patch: new generation, status not yet updated."""
    done = cluster.kubectl(
        "patch", resource, name, "-n", namespace, "--type=merge", "-p", json.dumps(patch), "-o", "json"
    )
    return json.loads(done.stdout)


def ready_reason(obj: dict[str, Any]) -> str | None:
    found = condition(obj, "Ready")
    return found["reason"] if found else None


def when_ready_says(cluster: LocalCluster, resource: str, name: str, namespace: str, reason: str) -> dict[str, Any]:
    """The stored object, once its Ready condition carries `reason`."""

    last: dict[str, Any] = {}

    def stored() -> dict[str, Any] | None:
        nonlocal last
        last = get_json(cluster, resource, name, "-n", namespace)
        return last if ready_reason(last) == reason else None

    try:
        wait_for(stored, what=f"{resource} {name} with Ready reason {reason}")
    except AssertionError as error:
        raise AssertionError(f"{error}; its conditions: {last.get('status', {}).get('conditions')}") from None
    return last


def test_cameras_and_a_policy_are_healthy_progressing_or_degraded_as_the_operator_reports(
    cluster: LocalCluster, operator: OperatorProcess, sim: SimProcess, sim_camera_ids: Iterator[str], namespace: str
) -> None:
    good, locked = next(sim_camera_ids), next(sim_camera_ids)
    secret, camera = camera_with_secret(namespace, "good", sim, good)
    apply(cluster, [secret])
    # What `kubectl create` returns is the object before the operator saw it: no status at all.
    created = json.loads(cluster.kubectl("create", "-f", "-", "-o", "json", input=as_yaml([camera])).stdout)
    assert argocd_health("Camera", created).status == "Progressing"

    wait_ready(cluster, namespace, "good")
    healthy = argocd_health("Camera", get_json(cluster, "camera", "good", "-n", namespace))
    assert healthy.status == "Healthy", healthy

    # A spec change: the stored object's generation is ahead of its status until the operator catches up.
    changed = merge_patch(cluster, "camera", "good", namespace, {"spec": {"device": {"videoEncoder": {"fps": 15}}}})
    assert changed["metadata"]["generation"] > changed["status"]["observedGeneration"]
    behind = argocd_health("Camera", changed)
    assert behind.status == "Progressing"
    assert f"generation {changed['metadata']['generation']}" in behind.message

    def caught_up() -> dict[str, Any] | None:
        camera = get_json(cluster, "camera", "good", "-n", namespace)
        return camera if argocd_health("Camera", camera).status == "Healthy" else None

    wait_for(caught_up, what="the changed camera Healthy again")

    # A wrong password, and a policy that records that camera onto a storage class that does not exist.
    objects = camera_with_secret(namespace, "locked", sim, locked)
    objects[0] = credentials_secret(namespace, "locked-onvif", "Wr0ng-Passw0rd")
    objects[1]["metadata"]["labels"] = {"recorded": "yes"}
    policy = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "RecordingPolicy",
        "metadata": {"name": "nowhere", "namespace": namespace},
        "spec": {
            "cameraSelector": {"matchLabels": {"recorded": "yes"}},
            "retentionDays": 30,
            "storage": {"storageClassName": "camfleet-test-absent"},
        },
    }
    apply(cluster, [*objects, policy])
    degraded = argocd_health("Camera", when_ready_says(cluster, "camera", "locked", namespace, "AuthFailed"))
    assert degraded.status == "Degraded"
    assert degraded.message.startswith("AuthFailed: ")

    stored_policy = when_ready_says(cluster, "recordingpolicy", "nowhere", namespace, "StorageClassNotFound")
    assert argocd_health("RecordingPolicy", stored_policy) == Health(
        "Degraded", "StorageClassNotFound: 1 of 1 not recording: locked: StorageClassNotFound"
    )
    longer = merge_patch(cluster, "recordingpolicy", "nowhere", namespace, {"spec": {"retentionDays": 45}})
    assert argocd_health("RecordingPolicy", longer).status == "Progressing"


def grant(
    namespace: str, name: str, start: datetime, end: datetime, owner: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A grant on the camera `vault` of `owner` (by default the grant's own namespace)."""
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cameras": {"namespace": owner or namespace, "names": ["vault"]},
            "permissions": ["LiveView"],
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "purpose": "health check test",
            **spec,
        },
    }


APPLICATION = {
    "applicantDepartment": "Transport",
    "contact": "Wang Lei, +86 532 8000 1234",
    "reason": "study",
    "dataType": "live video",
    "dataContent": "junction",
    "scopeOfUse": "planners",
    "securityMeasures": "no copies",
}


@pytest.mark.skipif(not GRANT_CONTROLLER_RUNS, reason="the grant controller is not wired into the operator yet")
def test_grants_in_each_phase(
    cluster: LocalCluster, operator: OperatorProcess, sim: SimProcess, sim_camera: str, namespace: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    emergency: dict[str, Any] = {"shareClass": "NotShared", "emergency": {"incidentReference": "EMC-1"}}
    configure_authorities(cluster, namespace)  # the department may request emergency access
    apply(cluster, camera_with_secret(namespace, "vault", sim, sim_camera, shareClass="NotShared"))
    apply(
        cluster,
        [
            grant(namespace, "active", now - timedelta(hours=1), now + timedelta(hours=2), **emergency),
            grant(namespace, "expired", now - timedelta(hours=3), now - timedelta(hours=1), **emergency),
            # Conditional data of a department with no cameras yet: nothing to deny, two approvals to wait for.
            grant(namespace, "pending", now, now + timedelta(days=5), owner=f"{namespace}-x", application=APPLICATION),
            # Conditional data whose only camera is NotShared: denied (R10).
            grant(namespace, "denied", now, now + timedelta(days=5), application=APPLICATION),
        ],
    )
    # The emergency authority authorizes the active one (R12); the expired one never needed it to end.
    assert authorize_emergency(cluster, namespace, namespace, "active").returncode == 0
    expected = {
        "active": ("Active", "Healthy"),
        "expired": ("Expired", "Healthy"),
        "pending": ("AwaitingApproval", "Suspended"),
        "denied": ("Denied", "Degraded"),
    }
    for name, (reason, health) in expected.items():
        stored = when_ready_says(cluster, "sharinggrant", name, namespace, reason)
        assert argocd_health("SharingGrant", stored).status == health, name
