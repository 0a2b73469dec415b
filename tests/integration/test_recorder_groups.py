"""Issue 20, point 1 on the real control plane: a policy of 3 cameras per recorder records 4 cameras in 2 groups.

The real operator makes the group Deployments, members Secrets and volumes on the real API server (kwok runs the
pods, and kwok's pods run nothing). A camera joining an existing group changes its members Secret and annotation,
never the pod template: the group's ReplicaSet and pod stay (the Deployment's generation grows, as for any change of
a Deployment's annotations), and the members already recording keep their conditions. The group recorder of the
first group then runs here as a real process — `camfleet recorder` with the Deployment's environment and the members
Secret written into a directory as the kubelet mounts it — recording real ffmpeg from the simulator's RTSP server
into a directory standing for the group's volume. One member's stream is unreachable: the others record on. A camera
taken out of the policy keeps its directory and volume (retained until its retention; the running recorder stops
only its ffmpeg once the Secret says so), and nobody may delete the group's volume.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.recording.groups import GROUP_CONFIG_DIR_ENV, GROUP_LABEL, MEMBERS_ANNOTATION, MEMBERS_FILE
from camfleet.recording.sizing import as_gib_quantity, required_bytes
from tests.helpers import condition, events_for, get_json, wait_for
from tests.integration.test_recording import (  # noqa: F401 - the module's fixture
    apply,
    policy,
    recorded_camera,
    static_volume,
    storage_classes,
)
from tests.recorder import conftest as recorder_fixtures
from tests.recorder.conftest import GroupRecorderProcess, child_pids, free_port, run_verify, write_secret_mount
from tests.recorder.conftest import recorded_segments as segments_of
from tests.recorder.conftest import wait_for as wait_until

rtsp_port = recorder_fixtures.rtsp_port  # the simulator's real RTSP server, as the recorder tests run it
CAMERAS = ("harbour", "market", "plaza", "tunnel")
POLICY = "city"


def members(cluster: LocalCluster, namespace: str, group: str) -> list[dict[str, Any]]:
    deployment = get_json(cluster, "deployment", group, "-n", namespace)
    annotation = (deployment.get("metadata", {}).get("annotations") or {}).get(MEMBERS_ANNOTATION)
    return list(json.loads(annotation)) if annotation else []


def members_secret(cluster: LocalCluster, namespace: str, group: str) -> dict[str, str]:
    """The files of the group's members Secret, as the kubelet mounts them into the group's pod."""
    secret = get_json(cluster, "secret", f"{group}-members", "-n", namespace)
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def mount_members(files: dict[str, str], directory: Path, port_of: dict[str, int]) -> list[dict[str, Any]]:
    """Mount the Secret's files as the kubelet would (atomic swap), each member's stream served by a local port
    instead of the simulated camera's (`port_of`); the members it names."""
    members = json.loads(files[MEMBERS_FILE])
    for member in members:
        if member["streamUrl"]:
            member["streamUrl"] = on_port(member["streamUrl"], port_of[member["camera"]])
    write_secret_mount(directory, {**files, MEMBERS_FILE: json.dumps(members)})
    return list(members)


def group_pods(cluster: LocalCluster, namespace: str, group: str) -> tuple[list[str], list[str]]:
    """(ReplicaSets, pod uids) of a group's Deployment: a changed pod template makes a new ReplicaSet and pod."""
    selector = f"{GROUP_LABEL}={group}"
    found = [get_json(cluster, kind, "-n", namespace, "-l", selector)["items"] for kind in ("replicaset", "pod")]
    return sorted(r["metadata"]["name"] for r in found[0]), sorted(p["metadata"]["uid"] for p in found[1])


def pod_environment(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {variable["name"]: variable.get("value", "") for variable in container["env"]}


def recording_conditions(cluster: LocalCluster, namespace: str, name: str) -> dict[str, tuple[str, str]]:
    """(status, lastTransitionTime) of a camera's Recording and Ready conditions."""
    camera = get_json(cluster, "camera", name, "-n", namespace)
    found = {kind: condition(camera, kind) for kind in ("Recording", "Ready")}
    return {kind: (c["status"], c["lastTransitionTime"]) for kind, c in found.items() if c}


def on_port(url: str, port: int) -> str:
    """The stream the operator named for a member, served by a local port instead (the path names the camera)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"127.0.0.1:{port}", parts.path, parts.query, ""))


class GroupRecorder(GroupRecorderProcess):
    """`camfleet recorder` run as the group Deployment's container would run it, on a local directory."""

    def chain(self, camera: str) -> tuple[int, dict[str, Any]]:
        status, body = self.get(f"/chain/{camera}")
        return status, json.loads(body) if status == 200 else {}


def recorder_ffmpeg(recorder: GroupRecorderProcess, camera: str) -> int | None:
    """The pid of the ffmpeg the group recorder runs for `camera` (its output path names the camera's directory)."""
    for pid in child_pids(recorder.process.pid):
        with contextlib.suppress(OSError):
            if f"{recorder.root / camera}/segments/".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


@pytest.fixture
def group_recorders() -> Iterator[list[GroupRecorder]]:
    started: list[GroupRecorder] = []
    yield started
    for recorder in started:
        recorder.stop()


def complete(directory: Path) -> list[dict[str, Any]]:
    return [line for line in segments_of(directory) if not line.get("recovered")]


def test_four_cameras_three_per_recorder_record_in_two_groups_each_in_its_own_directory(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    storage_classes: None,  # noqa: F811
    rtsp_port: int,
    group_recorders: list[GroupRecorder],
    tmp_path: Path,
) -> None:
    for group in ("city-rg-0", "city-rg-1"):
        static_volume(cluster, namespace, group)
    apply(cluster, [policy(namespace, POLICY, camerasPerRecorder=3)])
    early = CAMERAS[:2]
    for name in early:
        apply(cluster, recorded_camera(namespace, name, sim, next(sim_camera_ids)))

    def recording_in_group(name: str) -> dict[str, Any] | None:
        found = condition(get_json(cluster, "camera", name, "-n", namespace), "Recording")
        return found if found and found["status"] == "True" else None

    # Two cameras record in the first group (kwok reports its pod Running and ready).
    for name in early:
        wait_for(lambda n=name: recording_in_group(n), timeout=90, what=f"{name} Recording")
    wait_for(lambda: all(recording_conditions(cluster, namespace, n).get("Ready", ("",))[0] == "True" for n in early),
             timeout=90, what="the first two cameras Ready")  # fmt: skip
    conditions_before = {name: recording_conditions(cluster, namespace, name) for name in early}
    pods = wait_for(lambda: (found := group_pods(cluster, namespace, "city-rg-0")) and len(found[1]) == 1 and found,
                    what="the first group's pod")  # fmt: skip
    assert len(pods[0]) == 1
    assert sorted(json.loads(members_secret(cluster, namespace, "city-rg-0")[MEMBERS_FILE])[i]["camera"]
                  for i in range(2)) == sorted(early)  # fmt: skip

    # Two more join: the third into the first group (its members Secret and annotation change, its pod template
    # does not: no new ReplicaSet, no restart), the fourth into a second group, whose new pod is held unscheduled
    # for 8 s (every node cordoned), as a busy cluster takes its time to start one.
    nodes = cluster.kubectl("get", "nodes", "-o", "name").stdout.split()
    cluster.kubectl("cordon", *nodes)
    try:
        for name in CAMERAS[2:]:
            apply(cluster, recorded_camera(namespace, name, sim, next(sim_camera_ids)))
        wait_for(lambda: (found := group_pods(cluster, namespace, "city-rg-1")) and found[1], timeout=60,
                 what="the second group's pod, unscheduled")  # fmt: skip
        time.sleep(8)
    finally:
        cluster.kubectl("uncordon", *nodes)

    # Two groups: the first with 3 recording members, the second with the fourth camera; every camera in one.
    first = wait_for(lambda: len(members(cluster, namespace, "city-rg-0")) == 3 and members(cluster, namespace,
                     "city-rg-0"), timeout=90, what="group 0 full")  # fmt: skip
    second = wait_for(lambda: members(cluster, namespace, "city-rg-1"), timeout=60, what="group 1")
    assert sorted(m["camera"] for m in first + second) == sorted(CAMERAS)
    assert {m["mode"] for m in first + second} == {"record"}
    deployment = get_json(cluster, "deployment", "city-rg-0", "-n", namespace)
    assert group_pods(cluster, namespace, "city-rg-0") == pods, "a join must not change the group's pod template"
    files = members_secret(cluster, namespace, "city-rg-0")
    assert [m["camera"] for m in json.loads(files[MEMBERS_FILE])] == [m["camera"] for m in first]
    assert {f"{m['camera']}.password" for m in first} <= set(files)
    for name in CAMERAS[2:]:
        wait_for(lambda n=name: recording_in_group(n), timeout=90, what=f"{name} Recording")
    after = {name: recording_conditions(cluster, namespace, name) for name in early}
    assert after == conditions_before, (
        "the cameras already recording kept their conditions (no flip) when others joined"
    )
    # The third camera joined a group whose pod was ready: its device pass's stream was judged before its first
    # status write, so that write already said Recording and Ready (one Event), never WaitingForStream beside the
    # stream it carried and then Ready moments later (a Warning and a second write each time a camera is added).
    joined = [(e["type"], e["reason"], e["message"]) for e in events_for(cluster, namespace, CAMERAS[2])]
    assert [e for e in joined if e[0] == "Warning"] == [], joined
    assert [e[1] for e in joined].count("Ready") == 1, joined
    # The fourth camera's status waited for its group's pod to start (up to RECORDER_START_PATIENCE_SECONDS) instead
    # of saying "recorder ... is starting" with a Warning and then Recording with a second write. (A new claim still
    # being bound after RECORDING_VERDICT_PATIENCE_SECONDS is reported, "waiting for its volume", as before.)
    opened = [(e["type"], e["reason"], e["message"]) for e in events_for(cluster, namespace, CAMERAS[3])]
    assert [e for e in opened if e[0] == "Warning" and "is starting" in e[2]] == [], opened
    assert [e[1] for e in opened].count("Ready") == 1, opened
    assert not get_json(cluster, "deployment", "city-rg-2", "-n", namespace)
    for name in CAMERAS:
        assert not get_json(cluster, "deployment", f"{name}-recorder", "-n", namespace), "no per-camera recorder"
        assert not get_json(cluster, "pvc", f"{name}-recordings", "-n", namespace), "no per-camera volume"
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert deployment["metadata"]["ownerReferences"][0]["kind"] == "RecordingPolicy"
    secret = get_json(cluster, "secret", "city-rg-0-members", "-n", namespace)
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "RecordingPolicy"
    assert secret["metadata"]["labels"]["camfleet.io/recorder-group"] == "city-rg-0"
    assert "password" not in json.dumps(deployment).lower(), "credentials only in the members Secret"
    volume = wait_for(lambda: get_json(cluster, "pvc", "city-rg-0-recordings", "-n", namespace), what="group volume")
    assert "ownerReferences" not in volume["metadata"], "garbage collection must never take recordings"
    assert volume["spec"]["resources"]["requests"]["storage"] == as_gib_quantity(3 * required_bytes(4096, 30, 20))
    assert volume["metadata"]["labels"]["camfleet.io/recorder-group"] == "city-rg-0"

    # Each camera says where it records.
    for name in CAMERAS:
        message = wait_for(lambda n=name: recording_in_group(n), timeout=90, what=f"{name} Recording")["message"]
        assert "recorder group city-rg-" in message
        assert f"directory {name}/" in message

    # The first group's recorder, as its pod would run it: two members stream, the third's stream is unreachable.
    names = [m["camera"] for m in first]
    good, failing = [names[0], names[2]], names[1]
    environ = pod_environment(deployment)
    mount = tmp_path / "city-rg-0-members"
    environ[GROUP_CONFIG_DIR_ENV] = str(mount)
    dead_port = free_port()
    port_of = {name: rtsp_port if name in good else dead_port for name in names}
    mounted = mount_members(files, mount, port_of)
    assert {m["host"] for m in mounted} == {"127.0.0.1"}
    root = tmp_path / "city-rg-0-recordings"
    recorder = GroupRecorder(root, environ, tmp_path / "group.log")
    group_recorders.append(recorder)
    wait_until(lambda: all(len(complete(root / name)) >= 2 for name in good), 90, "segments of both good cameras")
    for name in good:
        verified = run_verify(root / name)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        status, chain = recorder.chain(name)
        assert status == 200
        assert chain["recording"] is True
        assert chain["seq"] >= 2
    status, chain = recorder.chain(failing)
    assert status == 200
    assert chain["recording"] is False
    assert complete(root / failing) == []
    assert recorder.get("/chain/not-a-member")[0] == 404
    assert recorder.get("/healthz")[0] == 200, "one camera failing keeps the pod Ready"

    # A camera taken out of the policy: retained in its group until its retention, its directory and volume kept.
    left, stays = good
    before = len(complete(root / left))
    taken_out = datetime.now(UTC)
    cluster.kubectl("label", "camera", left, "-n", namespace, "recorded-")
    retained = wait_for(
        lambda: next((m for m in members(cluster, namespace, "city-rg-0") if m["camera"] == left and
                      m["mode"] == "retain"), None),
        timeout=60, what=f"{left} retained",
    )  # fmt: skip
    until = datetime.fromisoformat(retained["retainUntil"].replace("Z", "+00:00"))
    assert taken_out + timedelta(days=30) - timedelta(minutes=1) <= until <= taken_out + timedelta(days=30, minutes=5)
    assert "RecordingsRetained" in [e["reason"] for e in events_for(cluster, namespace, left)]
    assert len([m for m in members(cluster, namespace, "city-rg-0") if m["mode"] == "record"]) == 2
    volume = get_json(cluster, "pvc", "city-rg-0-recordings", "-n", namespace)
    assert "camfleet.io/retain-until" not in (volume["metadata"].get("annotations") or {}), "others record there"

    # The pod is not restarted: the kubelet refreshes the mounted Secret, and the running recorder stops the
    # retained camera's ffmpeg only; its footage stays, the camera that stays records on with the same ffmpeg.
    assert group_pods(cluster, namespace, "city-rg-0") == pods
    files = members_secret(cluster, namespace, "city-rg-0")
    entry = next(m for m in json.loads(files[MEMBERS_FILE]) if m["camera"] == left)
    assert (entry["mode"], entry["streamUrl"]) == ("retain", "")
    assert f"{left}.password" not in files
    stays_pid = recorder_ffmpeg(recorder, stays)
    mount_members(files, mount, port_of)
    wait_until(lambda: recorder.chain(left)[1].get("recording") is False and recorder_ffmpeg(recorder, left) is None,
               60, f"{left}'s ffmpeg stopped")  # fmt: skip
    kept = sorted(line["name"] for line in complete(root / left))
    stays_before = len(complete(root / stays))
    wait_until(lambda: len(complete(root / stays)) >= stays_before + 2, 60, f"{stays} recording on")
    assert recorder_ffmpeg(recorder, stays) == stays_pid, "the camera that stays kept its ffmpeg"
    assert sorted(line["name"] for line in complete(root / left)) == kept, "nothing of the retained camera pruned"
    assert len(kept) >= before
    assert run_verify(root / left).returncode == 0

    # Nobody deletes the group's volume inside its retention: the retention guard matches it by its labels.
    refused = wait_for(
        lambda: (r := cluster.kubectl("delete", "pvc", "city-rg-0-recordings", "-n", namespace, "--wait=false",
                                      check=False)).returncode != 0 and r,
        what="deleting the group volume refused",
    )  # fmt: skip
    assert "R3" in refused.stderr
    assert get_json(cluster, "pvc", "city-rg-0-recordings", "-n", namespace)

    # When the last recording camera leaves a group, its volume is released, kept until that camera's retention has
    # passed (the janitor destroys it only then, and never under a legal hold); the pod stays to keep its directory.
    (alone,) = [m["camera"] for m in second]
    taken_out = datetime.now(UTC)
    cluster.kubectl("label", "camera", alone, "-n", namespace, "recorded-")
    released = wait_for(
        lambda: (get_json(cluster, "pvc", "city-rg-1-recordings", "-n", namespace)["metadata"].get("annotations")
                 or {}).get("camfleet.io/retain-until"),
        timeout=60, what="group 1's volume released",
    )  # fmt: skip
    until = datetime.fromisoformat(released.replace("Z", "+00:00"))
    assert taken_out + timedelta(days=30) - timedelta(minutes=1) <= until <= taken_out + timedelta(days=30, minutes=5)
    assert [m["mode"] for m in members(cluster, namespace, "city-rg-1")] == ["retain"]
    refused = cluster.kubectl("delete", "pvc", "city-rg-1-recordings", "-n", namespace, "--wait=false", check=False)
    assert refused.returncode != 0
    assert "inside its retention" in refused.stderr


def test_a_restarted_operator_reads_membership_back_and_a_new_size_moves_nobody(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    storage_classes: None,  # noqa: F811
) -> None:
    apply(cluster, [policy(namespace, "pairs", camerasPerRecorder=2)])
    for name in ("alpha", "bravo"):
        apply(cluster, recorded_camera(namespace, name, sim, next(sim_camera_ids)))
    pair = wait_for(lambda: len(members(cluster, namespace, "pairs-rg-0")) == 2 and members(cluster, namespace,
                    "pairs-rg-0"), timeout=60, what="the first pair")  # fmt: skip
    generation = get_json(cluster, "deployment", "pairs-rg-0", "-n", namespace)["metadata"]["generation"]
    # No volume for this group's claim here: its cameras say what their group's pod waits for.
    waiting = wait_for(
        lambda: (found := condition(get_json(cluster, "camera", "alpha", "-n", namespace), "Recording"))
        and found["reason"] == "RecorderNotReady" and found,
        what="alpha waiting for its group's volume",
    )  # fmt: skip
    assert "pairs-rg-0-recordings of recorder group pairs-rg-0 is Pending" in waiting["message"]

    # The restarted operator reads the groups back from their Deployments: the pair is unchanged (not even
    # rewritten) and a newcomer opens the next group. (Cameras cannot be created while it is down: their
    # admission webhook is the operator.)
    operator.stop()
    operator.start()
    apply(cluster, recorded_camera(namespace, "charlie", sim, next(sim_camera_ids)))
    third = wait_for(lambda: members(cluster, namespace, "pairs-rg-1"), timeout=60, what="the second group")
    assert [m["camera"] for m in third] == ["charlie"]
    assert members(cluster, namespace, "pairs-rg-0") == pair
    assert get_json(cluster, "deployment", "pairs-rg-0", "-n", namespace)["metadata"]["generation"] == generation

    # A larger size fills the lowest group with room; nobody already recording moves.
    cluster.kubectl("patch", "recordingpolicy", "pairs", "-n", namespace, "--type=merge", "-p",
                    json.dumps({"spec": {"camerasPerRecorder": 3}}))  # fmt: skip
    apply(cluster, recorded_camera(namespace, "delta", sim, next(sim_camera_ids)))
    grown = wait_for(lambda: len(members(cluster, namespace, "pairs-rg-0")) == 3 and members(cluster, namespace,
                     "pairs-rg-0"), timeout=60, what="delta in the first group")  # fmt: skip
    assert grown[:2] == pair
    assert grown[2]["camera"] == "delta"
    assert [m["camera"] for m in members(cluster, namespace, "pairs-rg-1")] == ["charlie"]

    # A hand edit of a group recorder (its members directory variable) is put back as declared.
    cluster.kubectl("set", "env", "deployment/pairs-rg-0", "-n", namespace, f"{GROUP_CONFIG_DIR_ENV}=/tmp")

    def members_variable() -> str:
        return pod_environment(get_json(cluster, "deployment", "pairs-rg-0", "-n", namespace))[GROUP_CONFIG_DIR_ENV]

    assert wait_for(lambda: members_variable() == "/etc/camfleet/group", timeout=60, what="the hand edit put back")
    reverted = "Deployment pairs-rg-0 was edited by hand and put back"
    assert wait_for(lambda: reverted in operator.log_path.read_text(errors="replace"), what="the revert logged")


def test_a_camera_moving_between_its_own_recorder_and_a_group_keeps_both_recordings(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    storage_classes: None,  # noqa: F811
) -> None:
    apply(cluster, [
        policy(namespace, "own", cameraSelector={"matchLabels": {"tier": "own"}}),
        policy(namespace, "shared", cameraSelector={"matchLabels": {"tier": "shared"}}, camerasPerRecorder=2),
    ])  # fmt: skip
    objects = recorded_camera(namespace, "echo", sim, next(sim_camera_ids))
    objects[1]["metadata"]["labels"] = {"tier": "own"}
    apply(cluster, objects)
    wait_for(lambda: get_json(cluster, "deployment", "echo-recorder", "-n", namespace), what="its own recorder")

    # Into a group: its own recorder stops, its own volume is released (kept for its retention), it joins a group.
    cluster.kubectl("label", "camera", "echo", "-n", namespace, "tier=shared", "--overwrite")
    joined = wait_for(lambda: members(cluster, namespace, "shared-rg-0"), timeout=60, what="echo in the group")
    assert [(m["camera"], m["mode"]) for m in joined] == [("echo", "record")]
    wait_for(lambda: not get_json(cluster, "deployment", "echo-recorder", "-n", namespace), what="own recorder gone")
    own = get_json(cluster, "pvc", "echo-recordings", "-n", namespace)
    assert "camfleet.io/retain-until" in own["metadata"]["annotations"]

    # And back: retained in the group until its retention, recorded on its own volume again (in use: not released).
    cluster.kubectl("label", "camera", "echo", "-n", namespace, "tier=own", "--overwrite")
    wait_for(
        lambda: [m["mode"] for m in members(cluster, namespace, "shared-rg-0")] == ["retain"], what="echo retained"
    )
    wait_for(lambda: get_json(cluster, "deployment", "echo-recorder", "-n", namespace), what="its own recorder again")
    wait_for(
        lambda: (
            "camfleet.io/retain-until"
            not in get_json(cluster, "pvc", "echo-recordings", "-n", namespace)["metadata"]["annotations"]
        ),
        what="its own volume in use again",
    )
    group_volume = get_json(cluster, "pvc", "shared-rg-0-recordings", "-n", namespace)
    assert "camfleet.io/retain-until" in group_volume["metadata"]["annotations"], "released: nobody records there"
