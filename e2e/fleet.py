"""The journeys' own small city: a roads department owning two recorded cameras, a planning department that asks
to see them, the people of both (RBAC for groups, never system:masters), and storage for the recordings.

Each operator mode gets its own pair of namespaces, so one mode's retained volumes never meet the next mode's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.helpers import DEPARTMENT_GROUP

from camfleet.devcluster.example_fleet import DEMO_SIM_PORT, encrypted_storage_class, static_volume

JOURNEY_CAMERAS = ("e2e-junction", "e2e-harbour")
# Recorded by a policy whose storage class nothing provisions: its recorder waits for the volume, and says so.
UNBOUND_CAMERA = "e2e-pier"
UNPROVISIONED_CLASS = "e2e-unprovisioned"
DEVICE_USERNAME = "camfleet"
DEVICE_PASSWORD = "e2e-only-5b2f"  # a simulated device's; never a real one
STORAGE_CLASS = "e2e-encrypted"
POLICY = "e2e-ten-second-segments"
EXPORT = "collision-0412"  # the journeys' FootageExport; its volume is provisioned with the rest
SIM_NAMESPACE = "camfleet-e2e-sim"
IN_CLUSTER_SIM = f"http://camfleet-sim.{SIM_NAMESPACE}.svc:{DEMO_SIM_PORT}"
LOCAL_SIM = f"http://127.0.0.1:{DEMO_SIM_PORT}"


def journey_devices() -> list[dict[str, str]]:
    """The journeys' cameras as `camfleet sim --fleet` entries."""
    cameras = (*JOURNEY_CAMERAS, UNBOUND_CAMERA)
    return [{"id": c, "username": DEVICE_USERNAME, "password": DEVICE_PASSWORD} for c in cameras]


@dataclass(frozen=True)
class City:
    owner: str  # the roads department: owns the cameras
    grantee: str  # the planning department: asks to see them
    devices: str  # where the simulated devices answer (base URL)

    @classmethod
    def fresh(cls, mode: str, devices: str) -> City:
        suffix = uuid.uuid4().hex[:5]
        return cls(owner=f"e2e-roads-{mode}-{suffix}", grantee=f"e2e-planning-{mode}-{suffix}", devices=devices)

    def group(self, namespace: str) -> str:
        return f"{DEPARTMENT_GROUP}{namespace}"

    def manifests(self) -> list[dict[str, Any]]:
        namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in self.namespaces]
        cameras = [o for c in JOURNEY_CAMERAS for o in self.camera(c)]
        unbound = self.camera(UNBOUND_CAMERA, recorded="unprovisioned")
        unprovisioned = self.policy(UNPROVISIONED_CLASS, "unprovisioned", "e2e-unprovisioned")
        return [*namespaces, *self.people(), self.policy(), unprovisioned, *cameras, *unbound]

    @property
    def namespaces(self) -> tuple[str, str]:
        return (self.owner, self.grantee)

    def storage(self) -> list[dict[str, Any]]:
        """An encrypted class and a volume bound in advance to each camera's retention claim (static
        provisioning: works on kwok, kind and any cluster that allows hostPath volumes)."""
        volumes = [static_volume(self.owner, f"{c}-recordings", STORAGE_CLASS) for c in JOURNEY_CAMERAS]
        volumes.append(static_volume(self.owner, f"{EXPORT}-export", STORAGE_CLASS))
        return [encrypted_storage_class(STORAGE_CLASS), encrypted_storage_class(UNPROVISIONED_CLASS), *volumes]

    def people(self) -> list[dict[str, Any]]:
        """The owner department's staff, bound through the roles the chart ships (docs/install.md, people and roles):
        its group may request exports (department admin) and record approvals (approver), each as themselves."""
        return [self._binding(role) for role in ("camfleet-department-admin", "camfleet-department-approver")]

    def _binding(self, cluster_role: str) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"e2e-{cluster_role}", "namespace": self.owner},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": self.group(self.owner)}],
        }

    def policy(self, storage_class: str = STORAGE_CLASS, recorded: str = "true", name: str = POLICY) -> dict[str, Any]:
        return {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "RecordingPolicy",
            "metadata": {"name": name, "namespace": self.owner},
            "spec": {
                "cameraSelector": {"matchLabels": {"camfleet.io/recorded": recorded}},
                "retentionDays": 30,
                "segmentSeconds": 10,
                "storage": {"storageClassName": storage_class, "headroomPercent": 20},
            },
        }

    def camera(self, name: str, recorded: str = "true") -> list[dict[str, Any]]:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-onvif", "namespace": self.owner},
            "type": "Opaque",
            "stringData": {"username": DEVICE_USERNAME, "password": DEVICE_PASSWORD},
        }
        camera = {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": name, "namespace": self.owner, "labels": {"camfleet.io/recorded": recorded}},
            "spec": {
                "endpoint": f"{self.devices}/cam/{name}/onvif/device_service",
                "credentialsSecretRef": {"name": f"{name}-onvif"},
                "site": "Harbour Road",
                "location": {"category": "intersection", "description": f"{name}, facing the crossing"},
                "purpose": "Traffic monitoring at the junction",
                "shareClass": "Conditional",
                "legalBasis": "city classification decision CLS-2030-01",
                "signage": {"confirmed": True},
            },
        }
        return [secret, camera]
