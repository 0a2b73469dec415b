"""Manifests of the fault suite: recorded fleets of simulated cameras, their policy, volumes and grants.

kwok has no storage provisioner, so each camera's retention volume is pre-provisioned as a static
PersistentVolume whose claimRef names the claim the operator will create; the real PV controller binds it,
the real scheduler places the recorder and kwok reports it Running, so a recorded camera can reach Ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from camfleet.devcluster import example_fleet
from camfleet.devcluster.sim_process import SimProcess
from tests.fault.support import Captured
from tests.integration.manifests import camera_with_secret, example_camera_spec

STORAGE_CLASS = "camfleet-fault-encrypted"
RECORDED = {"fault.camfleet.io/recorded": "yes"}


def storage_class() -> dict[str, Any]:
    return example_fleet.encrypted_storage_class(STORAGE_CLASS)


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def static_volume(namespace: str, camera: str) -> dict[str, Any]:
    """The camera's retention volume, provisioned in advance; labelled so that its test can delete it."""
    volume = example_fleet.static_volume(namespace, f"{camera}-recordings", STORAGE_CLASS)
    volume["metadata"]["labels"] = {"fault.camfleet.io/namespace": namespace}
    return volume


def recording_policy(namespace: str, name: str = "thirty-days") -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "RecordingPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cameraSelector": {"matchLabels": RECORDED},
            "retentionDays": 30,
            "segmentSeconds": 60,
            "storage": {"storageClassName": STORAGE_CLASS, "headroomPercent": 20},
            "requireEncryption": True,
        },
    }


def recorded_cameras(
    namespace: str, names: list[str], sim: SimProcess, camera_ids: Iterator[str], captured: Captured
) -> list[dict[str, Any]]:
    """Cameras (with their credentials Secrets and static volumes) that the policy records."""
    objects: list[dict[str, Any]] = []
    for name in names:
        secret, camera = camera_with_secret(namespace, name, sim, next(camera_ids))
        captured.secret(secret["stringData"]["password"])
        camera["metadata"]["labels"] = {**RECORDED, "zone": "centre"}
        objects += [static_volume(namespace, name), secret, camera]
    return objects


def camera_without_device(namespace: str, name: str) -> dict[str, Any]:
    """A Camera in zone `centre` whose endpoint nothing answers (port 9 on loopback): enough for deciding access,
    which needs no device."""
    spec = example_camera_spec()
    spec.update(endpoint="http://127.0.0.1:9/onvif/device_service", credentialsSecretRef={"name": f"{name}-onvif"})
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": namespace, "labels": {"zone": "centre"}},
        "spec": spec,
    }


def grant(grantee: str, owner: str, name: str, start: datetime, end: datetime, **spec: Any) -> dict[str, Any]:
    cameras = {"namespace": owner, **({"names": spec.pop("names")} if "names" in spec else {})}
    if "names" not in cameras:
        cameras["selector"] = {"matchLabels": {"zone": "centre"}}
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": name, "namespace": grantee},
        "spec": {
            "cameras": cameras,
            "shareClass": "Unconditional",
            "permissions": ["LiveView"],
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "purpose": "Watch traffic at the junctions",
            **spec,
        },
    }


def grant_for_a_day(grantee: str, owner: str, name: str, cameras: list[str]) -> dict[str, Any]:
    """Live view of Unconditional cameras by name: active at once (it started a minute ago), for a day.

    Starting in the past matters: a token is valid from its grant's start rounded up to the second.
    """
    now = datetime.now(UTC)
    return grant(grantee, owner, name, now - timedelta(minutes=1), now + timedelta(days=1), names=cameras)


def emergency_grant(grantee: str, owner: str, name: str, cameras: list[str], start: datetime, end: datetime) -> Any:
    return grant(
        grantee, owner, name, start, end, names=cameras, shareClass="NotShared", permissions=["LiveView"],
        emergency={"incidentReference": "EMC-FAULT-1", "description": "levee breach drill"},
    )  # fmt: skip
