from __future__ import annotations

import json
from typing import Any

from camfleet.api.camera import Camera
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.recording import workloads

CAMERA: dict[str, Any] = {
    "metadata": {"name": "gate", "namespace": "transport", "uid": "u-1"},
    "spec": {
        "endpoint": "http://127.0.0.1:1/cam/gate/onvif/device_service",
        "credentialsSecretRef": {"name": "gate-onvif"},
        "site": "Site",
        "location": {"category": "street", "description": "corner"},
        "purpose": "traffic",
        "legalBasis": "city classification decision CLS-2030-01",
        "device": {
            "privacyMasks": [
                {
                    "name": "w",
                    "polygon": [{"left": 0.1, "top": 0.2}, {"left": 0.3, "top": 0.2}, {"left": 0.3, "top": 0.5}],
                }
            ]
        },
    },
}
POLICY = RecordingPolicy.model_validate(
    {
        "metadata": {"name": "p", "namespace": "transport"},
        "spec": {
            "cameraSelector": {},
            "legalHold": {"enabled": True, "reference": "Case 9"},
            "transcodeProfiles": [{"name": "low", "bitrateKbps": 256, "resolution": {"width": 640, "height": 360}}],
        },
    }
)
SETTINGS = workloads.RecorderSettings(image="example/recorder:1", gateway_rtsp_url="rtsp://gw:8554")


def camera() -> Camera:
    return Camera.model_validate(CAMERA)


def test_recorder_is_one_writer_owned_by_the_camera_with_secrets_by_reference() -> None:
    recorder = workloads.recorder(camera(), POLICY, "rtsp://127.0.0.1:1/cam/gate/main", 90, SETTINGS)
    assert recorder["metadata"]["name"] == "gate-recorder"
    assert recorder["spec"]["strategy"] == {"type": "Recreate"}
    assert recorder["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    container = recorder["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["CAMFLEET_STREAM_PASSWORD"] == {
        "name": "CAMFLEET_STREAM_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "gate-onvif", "key": "password"}},
    }
    assert env["CAMFLEET_LEGAL_HOLD"]["value"] == "true"
    assert env["CAMFLEET_RETENTION_DAYS"]["value"] == "90"
    assert "args" not in container
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_volume_has_no_owner_so_garbage_collection_cannot_take_recordings() -> None:
    volume = workloads.retention_volume(camera(), POLICY, "encrypted", "100Gi")
    assert "ownerReferences" not in volume["metadata"]
    assert volume["metadata"]["labels"][workloads.RETENTION_VOLUME_LABEL] == "true"
    assert volume["spec"]["resources"]["requests"]["storage"] == "100Gi"


def test_transcoder_masks_privacy_areas_and_keeps_credentials_out_of_the_spec() -> None:
    profile = POLICY.spec.transcode_profiles[0]
    transcoder = workloads.transcoder(camera(), POLICY, profile, "rtsp://127.0.0.1:17554/cam/gate/main", SETTINGS)
    container = transcoder["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    # The exact polygon travels to the transcoder, which rasterizes it at the output size (not a bounding box).
    assert args[args.index("--mask") + 1] == "w:0.1,0.2;0.3,0.2;0.3,0.5"
    assert args[args.index("--width") + 1 : args.index("--width") + 4] == ["640", "--height", "360"]
    # The redacting supervisor runs ffmpeg; no argument names or substitutes a credential.
    assert container["command"] == ["camfleet", "transcode"]
    assert not any("$(" in arg or "PASSWORD" in arg for arg in args)
    assert args[args.index("--output") + 1] == "rtsp://gw:8554/transport/gate/low"
    assert args[args.index("--bitrate-kbps") + 1] == "256"
    env = {item["name"]: item for item in container["env"]}
    assert env["CAMFLEET_STREAM_URL"]["value"] == "rtsp://127.0.0.1:17554/cam/gate/main"
    assert env["CAMFLEET_CAMERA_HOST"]["value"] == workloads.camera_host(camera())
    assert "secretKeyRef" in env["CAMFLEET_STREAM_PASSWORD"]["valueFrom"]
    # It publishes with its camera's own gateway password, read from the camera's publisher Secret.
    assert env["CAMFLEET_PUBLISH_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "gate-publisher", "key": "password"}
    }


def test_transcoder_of_an_unmasked_profile_gets_no_masks() -> None:
    policy = POLICY.model_copy(deep=True)
    policy.spec.transcode_profiles[0].mask_privacy = False
    profile = policy.spec.transcode_profiles[0]
    transcoder = workloads.transcoder(camera(), policy, profile, "rtsp://127.0.0.1:17554/cam/gate/main", SETTINGS)
    assert "--mask" not in transcoder["spec"]["template"]["spec"]["containers"][0]["args"]


def test_publisher_secret_belongs_to_the_camera_and_holds_only_the_password() -> None:
    secret = workloads.publisher_secret(camera(), "derived-password")
    assert secret["metadata"]["name"] == "gate-publisher"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert secret["metadata"]["labels"][workloads.CAMERA_LABEL] == "gate"
    assert secret["data"] == {"password": "ZGVyaXZlZC1wYXNzd29yZA=="}


def test_names_are_deterministic_and_labels_fit() -> None:
    long_name = "x" * 80
    assert len(workloads.label_value(long_name)) <= 63
    assert workloads.label_value(long_name) == workloads.label_value(long_name)
    assert workloads.label_value("short") == "short"
    rendered = json.dumps(workloads.recorder(camera(), POLICY, "rtsp://h/p", 30, SETTINGS), sort_keys=True)
    assert rendered == json.dumps(workloads.recorder(camera(), POLICY, "rtsp://h/p", 30, SETTINGS), sort_keys=True)
