"""The user journeys, in order, on one small city (e2e/fleet.py), once per operator mode (e2e/conftest.py):

1. cameras become Ready and get their recording workloads (a retention volume and a recorder each);
2. a conditional grant becomes Active once two people of the owner department approved it, as themselves;
3. an emergency grant, authorized by the emergency authority, expires with its access: the door refuses the
   token after the end, with no human action;
4. an export of the recording runs after two approvals and its manifest is verified (`camfleet export-verify`);
5. decommissioning a camera removes its recorder and keeps its recordings (volume, retention annotations).

Every person acts through impersonation with the groups the city's identity provider would give them (never
system:masters). Where pods are fake (the local control plane), the recorder and the export Job's pods run on
this machine exactly as the operator specified them (e2e/host_pods.py): real ffmpeg on the simulator's RTSP
stream, real files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.helpers import (
    CLASSIFICATION_GROUP,
    DEPARTMENT_GROUP,
    as_user,
    authorize_emergency,
    condition,
    configure_authorities,
    create_as,
    get_json,
    wait_for,
)

from camfleet.devcluster.operator_process import OperatorProcess
from e2e.cluster_access import Door, grant_token
from e2e.conftest import ARTIFACTS, IN_CLUSTER, Cluster
from e2e.fleet import (
    EXPORT,
    IN_CLUSTER_SIM,
    JOURNEY_CAMERAS,
    LOCAL_SIM,
    POLICY,
    STORAGE_CLASS,
    UNBOUND_CAMERA,
    City,
)
from e2e.host_pods import HostPods, stop
from e2e.in_cluster import deploy_simulator, verify_export_in_cluster

CAMERA, OTHER = JOURNEY_CAMERAS
FAKE_PODS = not IN_CLUSTER  # the local control plane, or a cluster named by KUBECONFIG without kubelets of ours
APPLICATION = {
    "applicantDepartment": "City Planning Bureau",
    "contact": "Wang Lei, +86 532 8000 1234",
    "reason": "Pedestrian flows at the junction exceed crossing capacity",
    "dataType": "Live video",
    "dataContent": "The junction, weekdays 07:00-09:00, one week",
    "scopeOfUse": "Planning staff only",
    "securityMeasures": "Bureau workstations only, no copies",
}


@pytest.fixture(scope="module")
def city(cluster: Cluster, mode: str, operator: OperatorProcess | None, user_roles: None) -> Iterator[City]:
    if mode == "in-cluster":
        deploy_simulator(cluster)
    town = City.fresh(mode, IN_CLUSTER_SIM if mode == "in-cluster" else LOCAL_SIM)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(town.storage()))
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(town.manifests()))
    configure_authorities(cluster, town.grantee)
    yield town
    # Decommissioned first: the rules keep a recording camera otherwise (R19).
    for camera in (*JOURNEY_CAMERAS, UNBOUND_CAMERA):
        cluster.kubectl("patch", "camera", camera, "-n", town.owner, "--type=merge",
                        "-p", '{"spec": {"decommission": true}}', check=False)  # fmt: skip
    cluster.kubectl("delete", "cameras,sharinggrants,footageexports", "--all", "-n", town.owner, "--timeout=60s",
                    check=False)  # fmt: skip
    cluster.kubectl("delete", "sharinggrants", "--all", "-n", town.grantee, "--timeout=60s", check=False)


@pytest.fixture(scope="module")
def host_pods(cluster: Cluster, mode: str, city: City) -> HostPods:
    return HostPods(cluster, ARTIFACTS / f"e2e-pods-{mode}")


@pytest.fixture(scope="module")
def recorder(cluster: Cluster, city: City, host_pods: HostPods) -> Iterator[subprocess.Popen[bytes] | None]:
    """The junction's recorder pod, running: on this machine where the cluster's pods are fake."""
    deployment = wait_for(
        lambda: get_json(cluster, "deployment", f"{CAMERA}-recorder", "-n", city.owner),
        timeout=120, what="the junction's recorder Deployment",
    )  # fmt: skip
    if not FAKE_PODS:
        yield None
        return
    process = host_pods.start(deployment["spec"]["template"]["spec"], city.owner, f"{CAMERA}-recorder")
    yield process
    stop(process)


def wait_condition(cluster: Cluster, kind: str, name: str, namespace: str, type_: str, status: str = "True",
                   timeout: float = 90) -> dict[str, Any]:  # fmt: skip
    def reached() -> dict[str, Any] | None:
        found = condition(get_json(cluster, kind, name, "-n", namespace), type_)
        return found if found and found["status"] == status else None

    return wait_for(reached, timeout=timeout, what=f"{kind} {namespace}/{name} {type_}={status}")


# 1 ---------------------------------------------------------------------------------------------------------------


def test_cameras_become_ready_with_recording_workloads(
    cluster: Cluster, city: City, recorder: subprocess.Popen[bytes] | None
) -> None:
    """(The junction's recorder starts recording here, for the export journey.)"""
    for camera in JOURNEY_CAMERAS:
        wait_condition(cluster, "camera", camera, city.owner, "Ready", timeout=120)
        claim = wait_for(
            lambda c=camera: (pvc := get_json(cluster, "pvc", f"{c}-recordings", "-n", city.owner))
            and pvc.get("status", {}).get("phase") == "Bound" and pvc,
            timeout=60, what=f"{camera}'s retention volume bound",
        )  # fmt: skip
        assert claim["spec"]["storageClassName"] == STORAGE_CLASS
        assert claim["metadata"]["labels"]["camfleet.io/retention-volume"] == "true"
        recorder = wait_for(
            lambda c=camera: get_json(cluster, "deployment", f"{c}-recorder", "-n", city.owner),
            timeout=60, what=f"{camera}'s recorder",
        )  # fmt: skip
        volumes = recorder["spec"]["template"]["spec"]["volumes"]
        assert {"claimName": f"{camera}-recordings"} in [v.get("persistentVolumeClaim") for v in volumes]
        status = get_json(cluster, "camera", camera, "-n", city.owner)["status"]
        assert status["recordingPolicy"] == POLICY
    table = cluster.kubectl("get", "camfleet", "-n", city.owner).stdout
    assert all(camera in table for camera in JOURNEY_CAMERAS), table


def test_a_recorder_waiting_for_an_unbound_volume_says_which(cluster: Cluster, city: City) -> None:
    """A policy whose storage class nothing provisions: the camera is not Ready, and the Recording condition
    names the claim that waits, instead of only "starting"."""
    recording = wait_for(
        lambda: (found := condition(get_json(cluster, "camera", UNBOUND_CAMERA, "-n", city.owner), "Recording"))
        and "waiting for its volume" in found["message"] and found,
        timeout=90, what="the Recording condition naming the unbound volume",
    )  # fmt: skip
    assert recording["reason"] == "RecorderNotReady"
    assert f"PersistentVolumeClaim {UNBOUND_CAMERA}-recordings is Pending" in recording["message"]
    assert "e2e-unprovisioned must provision one" in recording["message"]


# 2 ---------------------------------------------------------------------------------------------------------------


def conditional_grant(city: City, name: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": name, "namespace": city.grantee},
        "spec": {
            "cameras": {"namespace": city.owner, "names": [CAMERA]},
            "shareClass": "Conditional",
            "permissions": ["LiveView"],
            "period": {
                "start": (now - timedelta(minutes=1)).isoformat(timespec="seconds"),
                "end": (now + timedelta(days=7)).isoformat(timespec="seconds"),
            },
            "purpose": "Plan a pedestrian crossing at the junction",
            "application": APPLICATION,
        },
    }


def approval(owner: str, target: dict[str, str], name: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": name, "namespace": owner},
        "spec": {"target": target, "verdict": "Approve", "documentReference": f"QD-E2E-{name}",
                 "reason": "Within the purpose the department filed"},
    }  # fmt: skip


def test_conditional_grant_approved_by_two_people_becomes_active(cluster: Cluster, city: City, door: Door) -> None:
    grant = "crossing-study"
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(conditional_grant(city, grant)))
    target = {"kind": "SharingGrant", "namespace": city.grantee, "name": grant}
    approved = wait_condition(cluster, "sharinggrant", grant, city.grantee, "Approved", status="Unknown")
    assert approved["reason"], approved

    done = as_user(cluster, "alice@roads.example", city.owner, approval(city.owner, target, "alice"))
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: (get_json(cluster, "sharinggrant", grant, "-n", city.grantee).get("status") or {}).get("approvedBy"),
        what="alice's approval counted",
    )
    assert grant_token(cluster, city.grantee, grant) is None, "one approval does not open a conditional grant"

    done = as_user(cluster, "bob@roads.example", city.owner, approval(city.owner, target, "bob"))
    assert done.returncode == 0, done.stderr
    wait_condition(cluster, "sharinggrant", grant, city.grantee, "Active")
    status = get_json(cluster, "sharinggrant", grant, "-n", city.grantee)["status"]
    assert sorted(status["approvedBy"]) == ["alice@roads.example", "bob@roads.example"]
    for person in ("alice", "bob"):  # the approver is who the API server authenticated, not a typed field
        recorded = get_json(cluster, "grantapproval", person, "-n", city.owner)
        assert recorded["status"]["approver"]["username"] == f"{person}@roads.example"

    token = wait_for(lambda: grant_token(cluster, city.grantee, grant), what="the grant's token")
    assert wait_for(lambda: door.lets_read(token, f"{city.owner}/{CAMERA}"), what="the door opening for the token")
    assert not door.lets_read(token, f"{city.owner}/{OTHER}"), "the token opens only the granted camera"


# 3 ---------------------------------------------------------------------------------------------------------------


def test_emergency_grant_expires_with_its_access(cluster: Cluster, city: City, door: Door) -> None:
    grant, now = "storm-watch", datetime.now(UTC)
    end = now + timedelta(seconds=15)
    emergency = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": grant, "namespace": city.grantee},
        "spec": {
            "cameras": {"namespace": city.owner, "names": [OTHER]},
            "shareClass": "Conditional",
            "permissions": ["LiveView"],
            "period": {"start": (now - timedelta(seconds=5)).isoformat(), "end": end.isoformat()},
            "purpose": "Watch the harbour road during the storm surge",
            "emergency": {"incidentReference": "QD-EMC-E2E-01", "description": "storm surge on the harbour road"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(emergency))
    waiting = wait_condition(cluster, "sharinggrant", grant, city.grantee, "Approved", status="Unknown")
    assert waiting["reason"] == "AwaitingAuthorization", waiting
    done = authorize_emergency(cluster, city.owner, city.grantee, grant)
    assert done.returncode == 0, done.stderr
    token = wait_for(lambda: grant_token(cluster, city.grantee, grant), what="the emergency token")
    camera = f"{city.owner}/{OTHER}"
    assert wait_for(lambda: door.lets_read(token, camera), what="the door opening for the emergency token")

    wait_for(lambda: datetime.now(UTC) > end and not door.lets_read(token, camera), timeout=40,
             interval=0.2, what="the door refusing the token after the grant's end")  # fmt: skip
    refused_after = (datetime.now(UTC) - end).total_seconds()
    print(f"\nthe door refused the emergency token {refused_after:.2f}s after the grant's end")
    assert refused_after < 5, f"refused only {refused_after:.1f}s after the end"
    wait_for(lambda: grant_token(cluster, city.grantee, grant) is None, timeout=15, what="the token Secret removed")
    wait_condition(cluster, "sharinggrant", grant, city.grantee, "Expired", timeout=30)
    assert not door.lets_read(token, camera), "an expired token stays refused"


# 4 ---------------------------------------------------------------------------------------------------------------


def segments_recorded(folder: Path) -> int:
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        return 0
    lines = [json.loads(line) for line in manifest.read_text().splitlines() if line.endswith("}")]
    return sum(1 for line in lines if line.get("kind") == "segment")


def test_export_runs_after_two_approvals_and_its_manifest_verifies(
    cluster: Cluster, city: City, recorder: subprocess.Popen[bytes] | None, host_pods: HostPods
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=5)
    if recorder is not None:  # recording on this machine: wait for two closed segments
        recordings = host_pods.claim_dir(city.owner, f"{CAMERA}-recordings")
        wait_for(lambda: segments_recorded(recordings) >= 2 or recorder.poll() is not None, timeout=60,
                 what="two recorded segments")  # fmt: skip
        assert recorder.poll() is None, f"the recorder exited; see {host_pods.root}/{CAMERA}-recorder.log"
    else:
        time.sleep(30)  # the recorder pod records in the cluster
    export = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "FootageExport",
        "metadata": {"name": EXPORT, "namespace": city.owner},
        "spec": {
            "cameras": [CAMERA],
            "ranges": [
                {"start": started.isoformat(timespec="seconds"), "end": datetime.now(UTC).isoformat(timespec="seconds")}
            ],
            "purpose": "Evidence for a collision at the junction",
            "caseReference": "QD-JJ-E2E-0412",
            "maskPrivacy": False,
            "storageClassName": STORAGE_CLASS,
        },
    }
    done = as_user(cluster, "carol@roads.example", city.owner, export)
    assert done.returncode == 0, done.stderr
    target = {"kind": "FootageExport", "name": EXPORT}
    # The footage leaves unmasked, so one approver must be of the classification authority (R17): bob is.
    done = as_user(cluster, "alice@roads.example", city.owner, approval(city.owner, target, "x-alice"))
    assert done.returncode == 0, done.stderr
    groups = [f"{DEPARTMENT_GROUP}{city.owner}", CLASSIFICATION_GROUP]
    done = create_as(cluster, "bob@roads.example", groups, approval(city.owner, target, "x-bob"))
    assert done.returncode == 0, done.stderr
    job = wait_for(
        lambda: (items := get_json(cluster, "jobs", "-n", city.owner, "-l", f"camfleet.io/export={EXPORT}")
                 .get("items")) and items[0],
        timeout=60, what="the export Job",
    )  # fmt: skip
    pod_spec = job["spec"]["template"]["spec"]
    export_claim = next(v["persistentVolumeClaim"]["claimName"] for v in pod_spec["volumes"] if v["name"] == "export")
    if not FAKE_PODS:
        verify_export_in_cluster(cluster, city.owner, job, CAMERA)
        return
    summary = json.loads(host_pods.run(pod_spec, city.owner, job["metadata"]["name"]).strip().splitlines()[-1])
    assert summary["ok"], summary
    assert summary["files"] >= 1, summary
    exported = host_pods.claim_dir(city.owner, export_claim) / CAMERA
    verified = subprocess.run(
        [sys.executable, "-m", "camfleet.cli", "export-verify", str(exported)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, f"export-verify refused the export:\n{verified.stdout}\n{verified.stderr}"
    approvers = [arg for i, arg in enumerate(pod_spec["containers"][0]["args"]) if i and
                 pod_spec["containers"][0]["args"][i - 1] == "--approved-by"]  # fmt: skip
    assert sorted(approvers) == ["alice@roads.example", "bob@roads.example"], approvers


# 5 ---------------------------------------------------------------------------------------------------------------


def test_decommissioning_a_camera_keeps_its_recordings(
    cluster: Cluster, city: City, recorder: subprocess.Popen[bytes] | None, host_pods: HostPods
) -> None:
    cluster.kubectl("patch", "camera", CAMERA, "-n", city.owner, "--type=merge",
                    "-p", '{"spec": {"decommission": true}}')  # fmt: skip
    cluster.kubectl("delete", "camera", CAMERA, "-n", city.owner, "--timeout=90s")
    wait_for(lambda: not get_json(cluster, "deployment", f"{CAMERA}-recorder", "-n", city.owner),
             timeout=60, what="the recorder removed")  # fmt: skip
    if recorder is not None:
        stop(recorder)  # the kubelet stops the deleted Deployment's pod
    claim = get_json(cluster, "pvc", f"{CAMERA}-recordings", "-n", city.owner)
    assert claim, "the retention volume outlives the camera (R3)"
    annotations = claim["metadata"]["annotations"]
    retain_until = datetime.fromisoformat(annotations["camfleet.io/retain-until"].replace("Z", "+00:00"))
    assert retain_until > datetime.now(UTC) + timedelta(days=29), annotations
    assert claim["metadata"]["labels"]["camfleet.io/retention-volume"] == "true"
    refused = cluster.kubectl("delete", "pvc", f"{CAMERA}-recordings", "-n", city.owner, "--wait=false", check=False)
    assert refused.returncode != 0, "a volume inside its retention cannot be deleted"
    if recorder is not None:
        assert segments_recorded(host_pods.claim_dir(city.owner, f"{CAMERA}-recordings")) >= 2
