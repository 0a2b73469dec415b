from __future__ import annotations

from pathlib import Path

from camfleet.devcluster.example_fleet import load_manifests, simulator_fleet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_example_camera_has_a_simulated_device_with_its_secret_password() -> None:
    manifests = load_manifests(EXAMPLES)
    fleet = simulator_fleet(manifests)["cameras"]
    cameras = [m for m in manifests if m["kind"] == "Camera"]
    assert len(fleet) == len(cameras)
    assert all(device["password"] for device in fleet)
    by_id = {device["id"]: device for device in fleet}
    for camera in cameras:
        assert camera["metadata"]["name"] in by_id, "example endpoints are /cam/<camera name>/..."


def test_base64_data_and_string_data_both_count() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n"},
        "data": {"username": "dXNlcg=="},
        "stringData": {"password": "pw"},
    }
    camera = {
        "kind": "Camera",
        "metadata": {"name": "c", "namespace": "n"},
        "spec": {"endpoint": "http://127.0.0.1:1/cam/c/onvif/device_service", "credentialsSecretRef": {"name": "s"}},
    }
    assert simulator_fleet([secret, camera]) == {"cameras": [{"id": "c", "username": "user", "password": "pw"}]}
