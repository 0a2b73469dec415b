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
    camera = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return [credentials_secret(namespace, f"{name}-onvif", sim_password(camera_id)), camera]


def as_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects)
