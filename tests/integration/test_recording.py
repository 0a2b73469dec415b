"""Issue 5 on the real control plane: policies become retention volumes and recorders; recordings outlive cameras.

kwok has no storage provisioner, so each test pre-provisions a PersistentVolume whose claimRef names the
claim the operator will create (static provisioning); the real PV controller binds them, the real
scheduler places the recorder, kwok reports it Running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.devcluster import example_fleet
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.recording.sizing import as_gib_quantity, required_bytes
from tests.helpers import condition, events_for, get_json, wait_for, wait_ready
from tests.integration.manifests import as_yaml, camera_with_secret

ENCRYPTED = "camfleet-test-encrypted"
FIXED_SIZE = "camfleet-test-fixed-size"
PLAIN = "camfleet-test-plain"


@pytest.fixture(scope="module")
def storage_classes(cluster: LocalCluster) -> Iterator[None]:
    classes = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name, "annotations": annotations},
            "provisioner": "camfleet.test/static",
            "allowVolumeExpansion": expandable,
            "volumeBindingMode": "Immediate",
        }
        for name, annotations, expandable in [
            (ENCRYPTED, {"camfleet.io/encrypted": "true"}, True),
            (FIXED_SIZE, {"camfleet.io/encrypted": "true"}, False),
            (PLAIN, {}, True),
        ]
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(classes))
    yield
    cluster.kubectl("delete", "storageclass", ENCRYPTED, FIXED_SIZE, PLAIN, "--ignore-not-found")


def policy(namespace: str, name: str, storage_class: str = ENCRYPTED, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "RecordingPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cameraSelector": {"matchLabels": {"recorded": "yes"}},
            "retentionDays": 30,
            "segmentSeconds": 60,
            "storage": {"storageClassName": storage_class, "headroomPercent": 20},
            **spec,
        },
    }


def recorded_camera(namespace: str, name: str, sim: SimProcess, camera_id: str) -> list[dict[str, Any]]:
    objects = camera_with_secret(namespace, name, sim, camera_id)
    objects[1]["metadata"]["labels"] = {"recorded": "yes"}
    return objects


def static_volume(cluster: LocalCluster, namespace: str, camera: str, storage_class: str = ENCRYPTED) -> None:
    volume = example_fleet.static_volume(namespace, f"{camera}-recordings", storage_class)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(volume))


def apply(cluster: LocalCluster, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "-f", "-", input=as_yaml(objects))


def volume(cluster: LocalCluster, namespace: str, camera: str) -> dict[str, Any]:
    return get_json(cluster, "pvc", f"{camera}-recordings", "-n", namespace)


def recording(cluster: LocalCluster, namespace: str, camera: str) -> dict[str, Any] | None:
    return condition(get_json(cluster, "camera", camera, "-n", namespace), "Recording")


def test_policy_makes_volume_recorder_and_transcoder_and_the_camera_records(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    storage_classes: None,
) -> None:
    static_volume(cluster, namespace, "gate")
    profile = {"name": "low", "resolution": {"width": 640, "height": 360}, "fps": 10, "bitrateKbps": 512}
    apply(cluster, [policy(namespace, "thirty-days", transcodeProfiles=[profile])])
    apply(cluster, recorded_camera(namespace, "gate", sim, sim_camera))

    claim = wait_for(lambda: volume(cluster, namespace, "gate"), what="the retention volume")
    expected = as_gib_quantity(required_bytes(4096, 30, 20))
    assert claim["spec"]["resources"]["requests"]["storage"] == expected
    assert claim["spec"]["storageClassName"] == ENCRYPTED
    assert "ownerReferences" not in claim["metadata"], "garbage collection must never take recordings"

    recorder = wait_for(lambda: get_json(cluster, "deployment", "gate-recorder", "-n", namespace), what="recorder")
    assert recorder["spec"]["strategy"]["type"] == "Recreate"
    assert recorder["metadata"]["ownerReferences"][0]["kind"] == "Camera"
    pod = recorder["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["CAMFLEET_STREAM_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "gate-onvif", "key": "password"}
    assert env["CAMFLEET_STREAM_URL"]["value"].startswith("rtsp://")
    assert env["CAMFLEET_RETENTION_DAYS"]["value"] == "30"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "gate-recordings"
    secret_value = cluster.kubectl("get", "secret", "gate-onvif", "-n", namespace, "-o", "jsonpath={.data.password}")
    assert secret_value.stdout
    assert secret_value.stdout not in json.dumps(recorder)

    transcoder = wait_for(
        lambda: get_json(cluster, "deployment", "gate-transcode-low", "-n", namespace), what="the transcoder"
    )
    assert "bitrateKbps" not in json.dumps(transcoder)
    # The transcoder runs `camfleet transcode` (recorder/transcode.py), which takes the bitrate in kbps and hands
    # ffmpeg `-b:v 512k` itself; the profile's bitrate must still reach it, as the flag's value.
    transcoder_container = transcoder["spec"]["template"]["spec"]["containers"][0]
    assert transcoder_container["command"] == ["camfleet", "transcode"]
    args = transcoder_container["args"]
    assert args[args.index("--bitrate-kbps") + 1] == "512"

    def running_recorder() -> list[str]:
        pods = get_json(cluster, "pods", "-n", namespace, "-l", "app.kubernetes.io/component=recorder")["items"]
        return [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]

    assert wait_for(running_recorder, timeout=60, what="a Running recorder pod")
    camera = wait_ready(cluster, namespace, "gate")
    assert condition(camera, "Recording")["status"] == "True"  # type: ignore[index]
    assert camera["status"]["recordingPolicy"] == "thirty-days"
    # Policy status follows its cameras shortly after (it is batched), so wait for it rather than sample it.
    status = wait_for(
        lambda: (
            (p := get_json(cluster, "recordingpolicy", "thirty-days", "-n", namespace).get("status", {}))
            and (condition({"status": p}, "Ready") or {}).get("status") == "True"
            and p
        ),
        what="policy Ready",
    )
    assert status["selectedCameras"] == 1
    assert status["retentionVolumes"] == 1
    assert status["effectiveRetentionDays"] == 30


def test_retention_increase_grows_the_volume_and_a_fixed_class_says_too_small(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    storage_classes: None,
) -> None:
    fixed_policy = policy(namespace, "fixed", FIXED_SIZE)
    fixed_policy["spec"]["cameraSelector"] = {"matchLabels": {"size": "fixed"}}
    apply(cluster, [policy(namespace, "growing"), fixed_policy])
    grow, fixed = next(sim_camera_ids), next(sim_camera_ids)
    static_volume(cluster, namespace, "grow")  # only bound claims can grow
    static_volume(cluster, namespace, "fixed", FIXED_SIZE)
    apply(cluster, recorded_camera(namespace, "grow", sim, grow))
    fixed_camera = recorded_camera(namespace, "fixed", sim, fixed)
    fixed_camera[1]["metadata"]["labels"] = {"size": "fixed"}
    apply(cluster, fixed_camera)
    for name in ("grow", "fixed"):
        wait_for(
            lambda name=name: volume(cluster, namespace, name).get("status", {}).get("phase") == "Bound",  # type: ignore[misc]
            what=f"the volume of camera {name} bound",
        )

    patch = json.dumps({"spec": {"retentionDays": 60}})
    for name in ("growing", "fixed"):
        cluster.kubectl("patch", "recordingpolicy", name, "-n", namespace, "--type=merge", "-p", patch)
    doubled = as_gib_quantity(required_bytes(4096, 60, 20))
    wait_for(
        lambda: volume(cluster, namespace, "grow")["spec"]["resources"]["requests"]["storage"] == doubled,
        what=f"the volume grown to {doubled}",
    )
    too_small = wait_for(
        lambda: (r := recording(cluster, namespace, "fixed")) and r["reason"] == "VolumeTooSmall" and r,
        what="VolumeTooSmall",
    )
    assert doubled in too_small["message"]
    original = as_gib_quantity(required_bytes(4096, 30, 20))
    assert volume(cluster, namespace, "fixed")["spec"]["resources"]["requests"]["storage"] == original


def test_deleting_a_recording_camera_needs_decommission_and_keeps_the_recordings(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    storage_classes: None,
) -> None:
    apply(cluster, [policy(namespace, "keep")])
    apply(cluster, recorded_camera(namespace, "old", sim, sim_camera))
    wait_for(lambda: get_json(cluster, "deployment", "old-recorder", "-n", namespace), what="recorder")

    cluster.kubectl("delete", "camera", "old", "-n", namespace, "--wait=false")
    wait_for(
        lambda: "DecommissionRequired" in [e["reason"] for e in events_for(cluster, namespace, "old")],
        what="a DecommissionRequired Event",
    )
    assert get_json(cluster, "camera", "old", "-n", namespace), (
        "a recording camera must not vanish without decommission"
    )

    released_at = datetime.now(UTC)
    patch = json.dumps({"spec": {"decommission": True}})
    cluster.kubectl("patch", "camera", "old", "-n", namespace, "--type=merge", "-p", patch)
    wait_for(lambda: not get_json(cluster, "camera", "old", "-n", namespace), timeout=30, what="the camera gone")
    wait_for(lambda: not get_json(cluster, "deployment", "old-recorder", "-n", namespace), what="the recorder stopped")

    claim = volume(cluster, namespace, "old")
    assert claim, "the recordings must stay after the camera is gone"
    until = datetime.fromisoformat(claim["metadata"]["annotations"]["camfleet.io/retain-until"].replace("Z", "+00:00"))
    assert (
        released_at + timedelta(days=30) - timedelta(minutes=1) <= until <= released_at + timedelta(days=30, minutes=5)
    )
    reasons = [e["reason"] for e in events_for(cluster, namespace, "old")]
    assert "Decommissioned" in reasons


def test_janitor_destroys_expired_recordings_but_never_under_legal_hold(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    storage_classes: None,
) -> None:
    held = policy(namespace, "held", legalHold={"enabled": True, "reference": "Court order 2026-117"})
    held["spec"]["cameraSelector"] = {"matchLabels": {"case": "117"}}
    apply(cluster, [policy(namespace, "plain"), held])
    plain_camera = recorded_camera(namespace, "expiring", sim, next(sim_camera_ids))
    held_camera = recorded_camera(namespace, "evidence", sim, next(sim_camera_ids))
    held_camera[1]["metadata"]["labels"] = {"case": "117"}
    apply(cluster, plain_camera + held_camera)
    for name in ("expiring", "evidence"):
        wait_for(lambda name=name: volume(cluster, namespace, name), what=f"volume of {name}")  # type: ignore[misc]
    assert volume(cluster, namespace, "evidence")["metadata"]["annotations"]["camfleet.io/legal-hold"]

    # Unselect both cameras: their volumes are released with a retain-until time 30 days ahead.
    for name in ("expiring", "evidence"):
        cluster.kubectl("label", "camera", name, "-n", namespace, "recorded-", "case-")
    for name in ("expiring", "evidence"):
        wait_for(
            lambda name=name: "camfleet.io/retain-until" in volume(cluster, namespace, name)["metadata"]["annotations"],  # type: ignore[misc]
            what=f"{name} released",
        )
    # Pretending 30 days passed by writing an earlier retain-until is exactly what the retention guard refuses
    # (issue 15, attack 1), to anyone, the cluster admin too: the destruction itself is tested on a fake clock
    # (test_clocked_controllers.py) and on a volume released 31 days ago (test_integrity.py).
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("expiring", "evidence"):
        refused = cluster.kubectl(
            "annotate", "pvc", f"{name}-recordings", "-n", namespace, f"camfleet.io/retain-until={past}", "--overwrite",
            check=False,
        )  # fmt: skip
        assert refused.returncode != 0, "pretending time passed is refused"
        assert "R3" in refused.stderr
    time.sleep(3)
    assert volume(cluster, namespace, "expiring"), "recordings inside their retention must stay (R3)"
    assert volume(cluster, namespace, "evidence"), "a legal hold must keep recordings indefinitely"


def test_encryption_required_refuses_a_plain_storage_class(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    storage_classes: None,
) -> None:
    apply(cluster, [policy(namespace, "secret-footage", PLAIN)])
    apply(cluster, recorded_camera(namespace, "lobby", sim, sim_camera))
    refused = wait_for(
        lambda: (r := recording(cluster, namespace, "lobby")) and r["reason"] == "StorageNotEncrypted" and r,
        what="StorageNotEncrypted",
    )
    assert "R17" in refused["message"]
    assert volume(cluster, namespace, "lobby") == {}
    ready = condition(get_json(cluster, "camera", "lobby", "-n", namespace), "Ready")
    assert ready is not None
    assert ready["reason"] == "StorageNotEncrypted"


def test_a_camera_selected_by_two_policies_says_so_and_does_not_flap(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    storage_classes: None,
) -> None:
    apply(cluster, [policy(namespace, "alpha"), policy(namespace, "beta", priority=10)])
    apply(cluster, recorded_camera(namespace, "shared", sim, sim_camera))
    state = wait_for(lambda: recording(cluster, namespace, "shared"), what="a Recording condition")
    wait_for(
        lambda: get_json(cluster, "camera", "shared", "-n", namespace)["status"].get("recordingPolicy") == "beta",
        what="the higher-priority policy to win",
    )
    state = recording(cluster, namespace, "shared")
    assert state is not None
    assert "also selected by alpha" in state["message"]
    first = get_json(cluster, "camera", "shared", "-n", namespace)["metadata"]["resourceVersion"]
    time.sleep(8)
    assert get_json(cluster, "camera", "shared", "-n", namespace)["metadata"]["resourceVersion"] == first


def test_a_leftover_of_a_deleted_camera_of_that_name_holds_recording_only_until_it_is_gone(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    storage_classes: None,
) -> None:
    """A camera deleted and applied again at once (`kubectl delete -f` then `apply -f`, a GitOps prune and sync)
    can meet what its predecessor left: the garbage collector removes the old camera's publisher Secret a moment
    later, with no event the recording controller watches. The new camera says NameConflict meanwhile, and
    records once the name is free, without anyone touching it again. (The leftover here carries camfleet's labels
    and no owner, so that the garbage collector cannot take it before the operator has met it; the test removes
    it as the garbage collector would.)"""
    static_volume(cluster, namespace, "again")
    leftover = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "again-publisher",
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "camfleet",
                "app.kubernetes.io/component": "publisher-credentials",
                "camfleet.io/camera": "again",
            },
        },
        "stringData": {"password": "left-by-the-camera-before"},
    }
    apply(cluster, [leftover])
    profile = {"name": "low", "resolution": {"width": 640, "height": 360}, "fps": 10, "bitrateKbps": 512}
    apply(cluster, [policy(namespace, "again-policy", transcodeProfiles=[profile])])
    apply(cluster, recorded_camera(namespace, "again", sim, sim_camera))

    conflict = wait_for(
        lambda: (found := recording(cluster, namespace, "again")) and found["reason"] == "NameConflict" and found,
        timeout=60, what="Recording NameConflict",
    )  # fmt: skip
    assert "Secret" in conflict["message"]
    assert "again-publisher" in conflict["message"]
    assert "NameConflict" in [e["reason"] for e in events_for(cluster, namespace, "again")]

    cluster.kubectl("delete", "secret", "again-publisher", "-n", namespace)
    camera = wait_ready(cluster, namespace, "again", timeout=60)
    assert condition(camera, "Recording")["status"] == "True"  # type: ignore[index]
    secret = get_json(cluster, "secret", "again-publisher", "-n", namespace)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == camera["metadata"]["uid"]
