"""The simulator fleet that stands behind examples/: one device per example Camera, with its Secret's password.

Derived from the manifests themselves, so the examples stay the single place that names cameras
and credentials.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DEMO_SIM_PORT = 17080
DEMO_RTSP_PORT = 17554


def load_manifests(folder: Path) -> list[dict[str, Any]]:
    return [doc for path in sorted(folder.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _secret_values(secret: dict[str, Any]) -> dict[str, str]:
    values = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


def simulator_fleet(manifests: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A `camfleet sim --fleet` document for every Camera whose endpoint is a simulator path (/cam/<id>/...)."""
    manifests = list(manifests)
    secrets = {
        (m["metadata"].get("namespace"), m["metadata"]["name"]): _secret_values(m)
        for m in manifests
        if m.get("kind") == "Secret"
    }
    cameras = []
    for camera in (m for m in manifests if m.get("kind") == "Camera"):
        parts = urlsplit(camera["spec"]["endpoint"]).path.split("/")
        if len(parts) < 3 or parts[1] != "cam":
            continue
        ref = camera["spec"]["credentialsSecretRef"]
        values = secrets.get((camera["metadata"].get("namespace"), ref["name"]), {})
        cameras.append(
            {
                "id": parts[2],
                "username": values.get(ref.get("usernameKey", "username"), "admin"),
                "password": values.get(ref.get("passwordKey", "password"), ""),
            }
        )
    return {"cameras": cameras}


LOCAL_STORAGE_CLASS = "encrypted-ssd"


def local_storage(manifests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a real cluster's storage would provide for examples/: a default, encrypted class and one volume per
    camera. kwok nodes have no provisioner, so the volumes are provisioned statically, each bound in advance to
    the claim the operator will create for its camera."""
    storage_class = encrypted_storage_class(LOCAL_STORAGE_CLASS, default=True)
    volumes = [
        static_volume(m["metadata"]["namespace"], f"{m['metadata']['name']}-recordings", LOCAL_STORAGE_CLASS)
        for m in manifests
        if m.get("kind") == "Camera"
    ]
    return [storage_class, *volumes]


def encrypted_storage_class(name: str, default: bool = False) -> dict[str, Any]:
    """A storage class marked encrypted at rest (R17) whose volumes are provisioned statically (`static_volume`)
    and may grow."""
    annotations = {"camfleet.io/encrypted": "true"}
    if default:
        annotations["storageclass.kubernetes.io/is-default-class"] = "true"
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": "camfleet.dev/static",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "Immediate",
    }


def static_volume(namespace: str, claim: str, storage_class: str, capacity: str = "100Ti") -> dict[str, Any]:
    """A PersistentVolume bound in advance to the claim `namespace/claim`: static provisioning, for clusters
    (kwok) that have no provisioner. The real PV controller binds it when the operator creates the claim."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"static-{namespace}-{claim}"},
        "spec": {
            "capacity": {"storage": capacity},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": f"/var/lib/camfleet-static/{namespace}/{claim}"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
