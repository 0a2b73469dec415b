"""The objects of the fleet benchmark: simulated cameras with Secrets, one recording policy, static volumes.

Cameras copy the first Camera of examples/ (filed, signage confirmed, so no compliance warnings), point at the
simulator and carry the label the policy selects. kwok has no storage provisioner, so every camera's retention
volume is a PersistentVolume made in advance and bound to the claim the operator will create (as the demo does).
The baseline's volume and recorder are rendered by the operator's own code, so both sides write the same bytes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from camfleet.api.camera import Camera
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.devcluster import example_fleet
from camfleet.recording import workloads
from camfleet.recording.sizing import as_gib_quantity, required_bytes
from camfleet.sim import DEFAULT_SEED, DEFAULT_USERNAME, derive_password

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STORAGE_CLASS = "bench-encrypted"
RECORDED_LABEL = {"camfleet.io/recorded": "true"}
POLICY_NAME = "record-everything"
DISTRICT_LABEL = "camfleet.io/district"
RETENTION_DAYS = 30


def _example_camera_spec() -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Camera":
                return copy.deepcopy(doc["spec"])
    raise LookupError("examples/ has no Camera")


EXAMPLE_SPEC = _example_camera_spec()


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def storage_class() -> dict[str, Any]:
    return example_fleet.encrypted_storage_class(STORAGE_CLASS)


def static_volume(namespace: str, camera: str) -> dict[str, Any]:
    return example_fleet.static_volume(namespace, workloads.volume_name(camera), STORAGE_CLASS)


def unclaimed_volume(namespace: str, index: int) -> dict[str, Any]:
    """A static PersistentVolume any claim of the bench's storage class may bind: for recorder groups, whose
    claims are named by the operator after the group (one per `camerasPerRecorder` cameras)."""
    volume = example_fleet.static_volume(namespace, f"group-volume-{index}", STORAGE_CLASS)
    del volume["spec"]["claimRef"]
    return volume


def district_of(index: int, cameras: int, districts: int) -> int:
    """Camera `index` of `cameras` in contiguous blocks over `districts` (one RecordingPolicy each)."""
    return index * districts // cameras


def recording_policy(namespace: str, cameras_per_recorder: int = 1, district: int | None = None) -> dict[str, Any]:
    """The policy recording every camera (or, with `district`, that district's: a city with a policy per district,
    which sharded replicas spread when the policies record in groups); `spec.camerasPerRecorder` only when above 1,
    so that an API server whose CRD has no such field yet still takes the policy of one camera per pod."""
    selector = dict(RECORDED_LABEL) if district is None else {DISTRICT_LABEL: str(district)}
    spec: dict[str, Any] = {
        "cameraSelector": {"matchLabels": selector},
        "retentionDays": RETENTION_DAYS,
        "segmentSeconds": 300,
        "storage": {"storageClassName": STORAGE_CLASS, "headroomPercent": 20},
    }
    if cameras_per_recorder > 1:
        spec["camerasPerRecorder"] = cameras_per_recorder
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "RecordingPolicy",
        "metadata": {"name": POLICY_NAME if district is None else f"district-{district}", "namespace": namespace},
        "spec": spec,
    }


def credentials(namespace: str, camera: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{camera}-onvif", "namespace": namespace},
        "type": "Opaque",
        "stringData": {"username": DEFAULT_USERNAME, "password": derive_password(DEFAULT_SEED, camera)},
    }


def camera(namespace: str, camera_id: str, endpoint: str, district: int = 0) -> dict[str, Any]:
    """Camera `camera_id` (its name is the simulator's device id) in `district`."""
    spec = copy.deepcopy(EXAMPLE_SPEC)
    spec["endpoint"] = endpoint
    spec["credentialsSecretRef"] = {"name": f"{camera_id}-onvif"}
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "Camera",
        "metadata": {
            "name": camera_id,
            "namespace": namespace,
            "labels": {**RECORDED_LABEL, DISTRICT_LABEL: str(district)},
        },
        "spec": spec,
    }


def baseline_children(camera_manifest: dict[str, Any], group: str | None = None) -> list[dict[str, Any]]:
    """The retention volume claim and recorder Deployment the operator would make for this camera (with `group`:
    for the recorder group of that name, made from its first camera: the same objects under the group's name; a
    group's recorder lists more cameras, a few hundred bytes more per camera, which the baseline leaves out).

    Two differences, both so that the baseline costs only its own writes: no ownerReference (the camera has no
    uid yet, and the garbage collector would delete what points at a missing owner), and 0 replicas (no pods).
    """
    camera_model = Camera.model_validate(camera_manifest)
    policy = RecordingPolicy.model_validate(recording_policy(str(camera_model.metadata.namespace)))
    bitrate = camera_model.spec.device.video_encoder.bitrate_kbps
    request = as_gib_quantity(required_bytes(bitrate, RETENTION_DAYS, policy.spec.storage.headroom_percent))
    volume = workloads.retention_volume(camera_model, policy, STORAGE_CLASS, request)
    stream = f"rtsp://127.0.0.1:8554/{camera_model.metadata.name}"
    recorder = workloads.recorder(camera_model, policy, stream, RETENTION_DAYS, workloads.RecorderSettings())
    recorder["metadata"].pop("ownerReferences", None)
    recorder["spec"]["replicas"] = 0
    if group is not None:
        volume["metadata"]["name"] = f"{group}-recordings"
        recorder["metadata"]["name"] = f"{group}-recorder"
    return [volume, recorder]


def baseline_objects(cameras: list[dict[str, Any]], cameras_per_recorder: int) -> list[dict[str, Any]]:
    """What a plain client creates for the same fleet with the same grouping: every Camera, and one claim and one
    recorder Deployment per `cameras_per_recorder` cameras (per camera when 1)."""
    if cameras_per_recorder <= 1:
        return [obj for camera in cameras for obj in (camera, *baseline_children(camera))]
    objects = list(cameras)
    for start in range(0, len(cameras), cameras_per_recorder):
        objects += baseline_children(cameras[start], group=f"group-{start // cameras_per_recorder}")
    return objects
