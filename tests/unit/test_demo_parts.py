"""The demo's closing table and its volume provisioner, on the objects a cluster returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from camfleet.devcluster.demo_table import camera_rows, render
from camfleet.devcluster.static_provisioner import pending_claims, volumes_for
from camfleet.sim.fleet import load_fleet_file


def camera(namespace: str, name: str, ready: str, endpoint: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"endpoint": endpoint},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def test_the_table_fits_the_width_and_says_the_recorder_pod_is_faked() -> None:
    cameras = [
        camera("public-security", "no3-middle-school-gate-" + "x" * 90, "True", "http://127.0.0.1:17080/cam/a/x"),
        camera("transport", "bay-bridge-km12", "False", "http://10.0.0.7/onvif/device_service"),
    ]
    claims = {("public-security", cameras[0]["metadata"]["name"]): "Bound"}
    recorders = {("public-security", cameras[0]["metadata"]["name"]): 1, ("transport", "bay-bridge-km12"): 0}
    rows = camera_rows(cameras, claims, recorders)
    assert rows[0][2:] == ("True", "sim", "Bound", "pod faked")
    assert rows[1][2:] == ("False", "real", "none", "not ready")
    text = render(rows, 120)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "no footage is written" in text


def claim(namespace: str, name: str, storage_class: str, phase: str, volume: str = "") -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"storageClassName": storage_class, "volumeName": volume},
        "status": {"phase": phase},
    }


def test_the_provisioner_makes_a_volume_for_each_pending_claim_of_its_class_only() -> None:
    claims = [
        claim("transport", "gate-recordings", "encrypted-ssd", "Pending"),
        claim("transport", "bound-recordings", "encrypted-ssd", "Bound", "pv-1"),
        claim("transport", "other-recordings", "standard", "Pending"),
    ]
    pending = pending_claims(claims, "encrypted-ssd")
    assert [c["metadata"]["name"] for c in pending] == ["gate-recordings"]
    (volume,) = volumes_for(pending, "encrypted-ssd")
    assert volume["spec"]["claimRef"] == {"namespace": "transport", "name": "gate-recordings"}
    assert volume["spec"]["storageClassName"] == "encrypted-ssd"


def test_the_documented_own_fleet_file_is_what_the_simulator_reads() -> None:
    """docs/own-cameras.md tells users to start `camfleet sim --fleet docs/examples/sim-fleet.yaml`."""
    fleet = load_fleet_file(Path(__file__).resolve().parents[2] / "docs" / "examples" / "sim-fleet.yaml")
    assert {"harbour-gate-north", "harbour-gate-south"} <= set(fleet)
    assert fleet["harbour-gate-north"].password == "my-demo-only-9c4e"
