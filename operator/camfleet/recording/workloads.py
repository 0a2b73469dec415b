"""The objects that record a camera: its retention volume, its recorder, its transcoders.

Names are derived from the camera's, so a restarted operator finds what it made instead of making it
again. The recorder and transcoders belong to the Camera (ownerReferences: deleting the camera stops
them); the volume belongs to nobody, because garbage collection must never delete recordings inside
their retention (R3): the operator releases it with a retain-until time instead.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from camfleet.api import API_VERSION
from camfleet.api.camera import Camera
from camfleet.api.recording_policy import RecordingPolicy, TranscodeProfile
from camfleet.privacy_masks import polygons_of

MANAGED_BY = {"app.kubernetes.io/managed-by": "camfleet"}
CAMERA_LABEL = "camfleet.io/camera"
POLICY_LABEL = "camfleet.io/recording-policy"
COMPONENT_LABEL = "app.kubernetes.io/component"
CHAIN_CHECKPOINT_COMPONENT = "chain-checkpoint"
"""The component label of a camera's chain checkpoint ConfigMap (written by the checkpointer, guarded at admission)."""
RETENTION_VOLUME_LABEL = "camfleet.io/retention-volume"
RECORDINGS_PATH = "/recordings"
METRICS_PORT = 9100
NON_ROOT_UID = 65532


@dataclass(frozen=True)
class RecorderSettings:
    """Operator-wide settings for the workloads it creates."""

    image: str = "ghcr.io/camfleet/camfleet-recorder:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    gateway_rtsp_url: str = "rtsp://camfleet-gateway:8554"


def label_value(name: str) -> str:
    """Label values are at most 63 characters; longer names keep a readable head and a hash."""
    if len(name) <= 63:
        return name
    return f"{name[:52]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


VOLUME_SUFFIX = "-recordings"


def volume_name(camera_name: str) -> str:
    return f"{camera_name}{VOLUME_SUFFIX}"


def recorder_name(camera_name: str) -> str:
    return f"{camera_name}-recorder"


def transcoder_name(camera_name: str, profile: str) -> str:
    return f"{camera_name}-transcode-{profile}"


def _labels(camera: Camera, component: str, policy: RecordingPolicy | None = None) -> dict[str, str]:
    labels = {**MANAGED_BY, COMPONENT_LABEL: component, CAMERA_LABEL: label_value(str(camera.metadata.name))}
    if policy is not None:
        labels[POLICY_LABEL] = label_value(str(policy.metadata.name))
    return labels


def _owned_by(camera: Camera) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "Camera",
            "name": camera.metadata.name,
            "uid": camera.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def volume_claim(
    name: str, namespace: str | None, labels: dict[str, str], request: str, storage_class: str | None
) -> dict[str, Any]:
    """The one shape of a volume camfleet asks for (retention volumes, export volumes): one writer, a filesystem."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": request}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def retention_volume(
    camera: Camera, policy: RecordingPolicy, storage_class: str | None, request: str
) -> dict[str, Any]:
    labels = {**_labels(camera, "retention-volume", policy), RETENTION_VOLUME_LABEL: "true"}
    return volume_claim(
        volume_name(str(camera.metadata.name)), camera.metadata.namespace, labels, request, storage_class
    )


def camera_host(camera: Camera) -> str:
    """The host of the camera's ONVIF endpoint: the only host its stream credentials may be sent to."""
    return urlsplit(camera.spec.endpoint).hostname or ""


def _credentials_env(camera: Camera) -> list[dict[str, Any]]:
    """Credentials reach the pod by reference to the camera's own Secret: never copied, never in args. The
    process sends them only to the camera's own host (CAMFLEET_CAMERA_HOST), whatever stream URI the device named."""
    ref = camera.spec.credentials_secret_ref
    return [
        {"name": "CAMFLEET_CAMERA_HOST", "value": camera_host(camera)},
        {
            "name": "CAMFLEET_STREAM_USERNAME",
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.username_key}},
        },
        {
            "name": "CAMFLEET_STREAM_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.password_key}},
        },
    ]


def restricted_container_security() -> dict[str, Any]:
    """The container security of every pod camfleet runs (Pod Security Standards, restricted)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_security() -> dict[str, Any]:
    """The pod security of every pod camfleet runs: non-root, its volumes owned by the non-root group."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_UID,
        "runAsGroup": NON_ROOT_UID,
        "fsGroup": NON_ROOT_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _deployment(
    name: str, camera: Camera, labels: dict[str, str], pod_spec: dict[str, Any], recreate: bool
) -> dict[str, Any]:
    selector = {key: labels[key] for key in (CAMERA_LABEL, COMPONENT_LABEL)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": camera.metadata.namespace,
            "labels": labels,
            "ownerReferences": _owned_by(camera),
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            # Recreate: a ReadWriteOnce volume has one writer; a rolling update would start a second
            # recorder on the same segments before the first stopped.
            "strategy": {"type": "Recreate"} if recreate else {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def recorder(
    camera: Camera, policy: RecordingPolicy, stream_uri: str, retention_days: int, settings: RecorderSettings
) -> dict[str, Any]:
    """One recorder per camera (a Deployment with Recreate rather than a StatefulSet: the volume must outlive
    the workload on its own schedule, and a StatefulSet's claim templates can neither grow nor be released)."""
    labels = _labels(camera, "recorder", policy)
    hold = policy.spec.legal_hold.enabled
    container = {
        "name": "recorder",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["camfleet", "recorder"],
        "env": [
            {"name": "CAMFLEET_STREAM_URL", "value": stream_uri},
            *_credentials_env(camera),
            {"name": "CAMFLEET_DATA_DIR", "value": RECORDINGS_PATH},
            {"name": "CAMFLEET_SEGMENT_SECONDS", "value": str(policy.spec.segment_seconds)},
            {"name": "CAMFLEET_RETENTION_DAYS", "value": str(retention_days)},
            {"name": "CAMFLEET_LEGAL_HOLD", "value": "true" if hold else "false"},
            {"name": "CAMFLEET_METRICS_PORT", "value": str(METRICS_PORT)},
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": "recordings", "mountPath": RECORDINGS_PATH}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "metrics"}, "periodSeconds": 20},
        "securityContext": restricted_container_security(),
    }
    pod_spec = {
        "containers": [container],
        "securityContext": restricted_pod_security(),
        "automountServiceAccountToken": False,
        # ffmpeg gets 15 s to close its current segment; the rest is margin.
        "terminationGracePeriodSeconds": 30,
        "volumes": [
            {"name": "recordings", "persistentVolumeClaim": {"claimName": volume_name(str(camera.metadata.name))}}
        ],
    }
    return _deployment(recorder_name(str(camera.metadata.name)), camera, labels, pod_spec, recreate=True)


PUBLISH_PASSWORD_KEY = "password"
SCRATCH_PATH = "/tmp"


def publisher_secret_name(camera_name: str) -> str:
    return f"{camera_name}-publisher"


def publisher_secret(camera: Camera, password: str) -> dict[str, Any]:
    """The password the camera's transcoders publish to the media gateway with (gateway/publishers.py derives it;
    the gateway recomputes it, so this Secret is its only copy). It belongs to the camera like the transcoders."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": publisher_secret_name(str(camera.metadata.name)),
            "namespace": camera.metadata.namespace,
            "labels": _labels(camera, "publisher-credentials"),
            "ownerReferences": _owned_by(camera),
        },
        "type": "Opaque",
        "data": {PUBLISH_PASSWORD_KEY: base64.b64encode(password.encode()).decode()},
    }


def transcoder(
    camera: Camera, policy: RecordingPolicy, profile: TranscodeProfile, stream_uri: str, settings: RecorderSettings
) -> dict[str, Any]:
    labels = {**_labels(camera, "transcoder", policy), "camfleet.io/transcode-profile": profile.name}
    namespace, name = camera.metadata.namespace, camera.metadata.name
    output = f"{settings.gateway_rtsp_url.rstrip('/')}/{namespace}/{name}/{profile.name}"
    # `camfleet transcode` (recorder_pod/transcode.py) builds the authenticated URLs from the environment inside
    # the process: the camera's password reaches ffmpeg through a pipe, the publisher password through a loopback
    # relay; neither is in any argument list or log line. The masks travel as polygons the process rasterizes at
    # the output size (privacy_masks.py): exact polygons, not their bounding boxes.
    args = [
        "--output", output,
        "--width", str(profile.resolution.width), "--height", str(profile.resolution.height),
        "--fps", str(profile.fps),
        "--bitrate-kbps", str(profile.bitrate_kbps), "--gop", str(profile.gop),
    ]  # fmt: skip
    if profile.mask_privacy:
        for polygon in polygons_of(camera.spec.device.privacy_masks):
            args += ["--mask", polygon.to_arg()]
    publisher = publisher_secret_name(str(name))
    container = {
        "name": "transcoder",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["camfleet", "transcode"],
        "args": args,
        "env": [
            {"name": "CAMFLEET_STREAM_URL", "value": stream_uri},
            *_credentials_env(camera),
            {
                "name": "CAMFLEET_PUBLISH_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": publisher, "key": PUBLISH_PASSWORD_KEY}},
            },
            {"name": "TMPDIR", "value": SCRATCH_PATH},
        ],
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH_PATH}],
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_container_security(),
    }
    pod_spec = {
        "containers": [container],
        "securityContext": restricted_pod_security(),
        "automountServiceAccountToken": False,
        # The mask picture is written here (the root filesystem is read-only); a few KiB.
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "16Mi"}}],
    }
    return _deployment(transcoder_name(str(name), profile.name), camera, labels, pod_spec, recreate=False)
