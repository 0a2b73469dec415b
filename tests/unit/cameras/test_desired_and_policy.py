from __future__ import annotations

from typing import Any

import pytest

from camfleet.api.camera import CameraSpec
from camfleet.cameras.desired import desired_device_settings
from camfleet.cameras.endpoint_policy import endpoint_refusal, parse_networks
from camfleet.condition_merge import DesiredCondition
from camfleet.controllers.camera import event_worthy, needs_pass
from camfleet.kube.status import status_patch

BASE: dict[str, Any] = {
    "endpoint": "http://127.0.0.1:1/onvif/device_service",
    "credentialsSecretRef": {"name": "a"},
    "site": "Site",
    "location": {"category": "street", "description": "corner"},
    "purpose": "traffic",
    "legalBasis": "city classification decision CLS-2030-01",
}


def test_spec_maps_to_device_settings() -> None:
    spec = CameraSpec.model_validate(
        {
            **BASE,
            "device": {
                "time": {"ntpServers": ["ntp.example"], "timezone": "CST-8"},
                "videoEncoder": {"bitrateKbps": 2048, "resolution": {"width": 1280, "height": 720}},
                "privacyMasks": [
                    {
                        "name": "window",
                        "polygon": [{"left": 0, "top": 0}, {"left": 1, "top": 0}, {"left": 0.5, "top": 1}],
                    }
                ],
                "ptzHome": {"pan": 0.5, "tilt": -0.25},
            },
        }
    )
    desired = desired_device_settings(spec)
    assert desired.ntp_servers == ("ntp.example",)
    assert desired.timezone == "CST-8"
    assert desired.encoder is not None
    assert (desired.encoder.width, desired.encoder.bitrate_kbps) == (1280, 2048)
    # Top-left origin in the spec, ONVIF's centre origin with y up on the device.
    assert desired.privacy_masks is not None
    assert desired.privacy_masks[0].polygon == ((-1.0, 1.0), (1.0, 1.0), (0.0, -1.0))
    assert desired.ptz_home is not None
    assert (desired.ptz_home.pan, desired.ptz_home.tilt, desired.ptz_home.zoom) == (0.5, -0.25, 0.0)


def test_no_masks_in_the_spec_leaves_device_masks_alone() -> None:
    assert desired_device_settings(CameraSpec.model_validate(BASE)).privacy_masks is None


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("http://127.0.0.1:8080/onvif/device_service", True),
        ("http://10.20.1.11/onvif/device_service", False),
        ("http://camera-7.city.example/onvif/device_service", False),
        ("http://[::1]:80/onvif/device_service", False),
    ],
)
def test_device_networks_restrict_endpoints(endpoint: str, allowed: bool) -> None:
    refusal = endpoint_refusal(endpoint, parse_networks(["127.0.0.0/8"]))
    assert (refusal is None) == allowed


def test_no_device_networks_means_anywhere() -> None:
    assert endpoint_refusal("http://10.20.1.11/onvif/device_service", ()) is None


def body(generation: int, observed: int | None) -> dict[str, Any]:
    status = {"observedGeneration": observed} if observed is not None else {}
    return {"metadata": {"generation": generation}, "status": status}


def test_only_new_cameras_and_unhandled_specs_need_a_pass() -> None:
    assert needs_pass(None, body(1, None))
    assert needs_pass(body(1, 1), body(2, 1))
    assert not needs_pass(body(1, 1), body(1, 1))  # our own status write coming back


def test_events_announce_transitions_not_healthy_appearances() -> None:
    assert event_worthy(None, DesiredCondition("Reachable", "True", "Reachable")) is None
    assert event_worthy(None, DesiredCondition("Ready", "True", "Ready")) == "Normal"
    assert event_worthy("True", DesiredCondition("Reachable", "False", "Unreachable")) == "Warning"
    assert event_worthy("False", DesiredCondition("Reachable", "True", "Reachable")) == "Normal"
    assert event_worthy(None, DesiredCondition("Filed", "Unknown", "NotAccepted")) is None
    assert event_worthy(None, DesiredCondition("Filed", "False", "FilingOverdue")) == "Warning"
    assert event_worthy(None, DesiredCondition("Recording", "False", "NoRecordingPolicy")) is None
    assert event_worthy("True", DesiredCondition("Recording", "False", "RecorderNotReady")) == "Warning"


def test_status_patch_sends_only_what_changed_and_nulls_what_went() -> None:
    assert status_patch({"a": 1}, {"a": 1}) is None
    assert status_patch({"a": 1, "lastError": {"m": "x"}}, {"a": 2}) == {"a": 2, "lastError": None}


def test_status_capability_features_are_the_clients_features() -> None:
    from camfleet.api.camera import CapabilityFeature
    from camfleet.onvif import Feature

    assert {f.value for f in CapabilityFeature} == {f.value for f in Feature}
