"""Manifests the integration tests apply: Cameras backed by simulated devices, and their Secrets."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from camfleet.devcluster.sim_process import SimProcess
from camfleet.sim import DEFAULT_SEED, DEFAULT_USERNAME, derive_password

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_camera_spec() -> dict[str, Any]:
    """The spec of the first Camera in examples/, so tests exercise what users apply."""
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Camera":
                return copy.deepcopy(doc["spec"])
    raise AssertionError("examples/ has no Camera")


def sim_password(camera_id: str) -> str:
    return derive_password(DEFAULT_SEED, camera_id)


def credentials_secret(namespace: str, name: str, password: str, username: str = DEFAULT_USERNAME) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": {"username": username, "password": password},
    }


def camera_with_secret(
    namespace: str, name: str, sim: SimProcess, camera_id: str, **spec_overrides: Any
) -> list[dict[str, Any]]:
    """A Camera pointing at one simulated device, plus its credentials Secret."""
    spec = example_camera_spec()
    spec["endpoint"] = sim.device_url(camera_id)
    spec["credentialsSecretRef"] = {"name": f"{name}-onvif"}
    spec.update(spec_overrides)
    if spec.get("shareClass", "Conditional") != "Unconditional":
        spec.setdefault("legalBasis", "city classification decision CLS-2030-01")  # R10
    camera = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return [credentials_secret(namespace, f"{name}-onvif", sim_password(camera_id)), camera]


def as_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects)


# The application fields conditional data requires (R10), as a grantee department fills them in.
GRANT_APPLICATION = {
    "applicantDepartment": "Traffic Planning Division",
    "contact": "Wang Lei, +86 532 8000 1234",
    "reason": "Pedestrian flows exceed crossing capacity",
    "dataType": "Live video",
    "dataContent": "Pedestrian flows, weekends",
    "scopeOfUse": "Planning staff only",
    "securityMeasures": "Bureau workstations only, no copies",
}


def unreachable_camera(namespace: str, name: str, share_class: str | None) -> dict[str, Any]:
    """A Camera on loopback port 9, where nothing listens: no device is contacted; access needs no device.
    `share_class` None: the default classification (Conditional), which anyone who may create cameras may use."""
    camera: dict[str, Any] = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": namespace, "labels": {"zone": "centre"}},
        "spec": {
            "endpoint": f"http://127.0.0.1:9/cam/{name}/onvif/device_service",
            "credentialsSecretRef": {"name": f"{name}-onvif"},
            "site": "Centre",
            "location": {"category": "publicSquare", "description": "central plaza"},
            "purpose": "crowd safety",
            "legalBasis": "city classification decision CLS-2030-01",
            "shareClass": share_class,
        },
    }
    if share_class is None:
        del camera["spec"]["shareClass"]
    return camera
