"""Recorder groups (issue 20): who records where, for life, and when a group's volume may go."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from camfleet.api.recording_policy import RecordingPolicy
from camfleet.recording import groups, workloads
from camfleet.recording.groups import Group, Member, MemberCamera, MemberMode
from camfleet.recording.holds import LEGAL_HOLD, destruction_due, may_delete
from camfleet.recording.sizing import required_bytes

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = workloads.RecorderSettings(image="example/recorder:1")


def policy(**spec: Any) -> RecordingPolicy:
    return RecordingPolicy.model_validate(
        {
            "metadata": {"name": "city", "namespace": "transport", "uid": "p-1"},
            "spec": {"cameraSelector": {}, "camerasPerRecorder": 3, **spec},
        }
    )


def step(observed: tuple[Group, ...], recorded: dict[str, str], departed: set[str] | None = None, **kw: Any) -> Any:
    if departed is None:
        departed = set()
    args = {"now": NOW, "retention_days": 30, "size": 3, "hold": False, **kw}
    return groups.desired_groups("city", observed, recorded, departed, **args)


def names(found: tuple[Group, ...]) -> list[list[str]]:
    return [[m.camera for m in g.members] for g in found]


def test_the_field_defaults_to_one_camera_per_recorder_and_is_bounded() -> None:
    plain = RecordingPolicy.model_validate({"metadata": {"name": "p"}, "spec": {"cameraSelector": {}}})
    assert plain.spec.cameras_per_recorder == 1
    for wrong in (0, 501):
        with pytest.raises(ValidationError):
            policy(camerasPerRecorder=wrong)


def test_four_cameras_in_groups_of_three_make_two_groups_filled_in_order() -> None:
    found = step((), {"a": "1", "b": "2", "c": "3", "d": "4"})
    assert [g.name for g in found] == ["city-rg-0", "city-rg-1"]
    assert names(found) == [["a", "b", "c"], ["d"]]


def test_a_camera_keeps_its_group_for_life_even_when_the_size_changes() -> None:
    first = step((), {"a": "1", "b": "2", "c": "3", "d": "4"})
    # Shrinking the size to 1 moves nobody; a new camera fills the lowest group with room under the new size.
    again = step(first, {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}, size=1)
    assert names(again) == [["a", "b", "c"], ["d"], ["e"]]
    # Growing it fills group 0 first.
    grown = step(first, {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}, size=5)
    assert names(grown) == [["a", "b", "c", "e"], ["d"]]


def test_a_camera_that_left_is_retained_until_its_retention_and_its_slot_is_not_reused() -> None:
    first = step((), {"a": "1", "b": "2", "c": "3"})
    left = step(first, {"a": "1", "c": "3"}, {"b"})
    b = left[0].member("b")
    assert b == Member("b", "2", MemberMode.RETAIN, NOW + timedelta(days=30))
    # A new camera does not take the slot of a retained one's directory: it fills by recording members.
    joined = step(left, {"a": "1", "c": "3", "d": "4"})
    assert names(joined) == [["a", "b", "c", "d"]]
    # Still inside retention: kept; past it: dropped; under a legal hold: kept whatever its age.
    assert step(left, {"a": "1", "c": "3"}, now=NOW + timedelta(days=29))[0].member("b") is not None
    assert step(left, {"a": "1", "c": "3"}, now=NOW + timedelta(days=30, seconds=1))[0].member("b") is None
    held = step(left, {"a": "1", "c": "3"}, now=NOW + timedelta(days=400), hold=True)
    assert held[0].member("b") is not None


def test_a_camera_not_judged_yet_stays_where_it_is_and_a_returning_camera_records_in_its_own_group() -> None:
    first = step((), {"a": "1", "b": "2", "c": "3", "d": "4"})
    # A restarted operator that has judged only `d` so far moves and retains nobody.
    assert step(first, {"d": "4"}) == first
    left = step(first, {"a": "1", "b": "2", "c": "3"}, {"d"})
    back = step(left, {"a": "1", "b": "2", "c": "3", "d": "9"})
    assert back[1].members == (Member("d", "9"),)


def test_membership_survives_the_annotation_round_trip() -> None:
    members = (Member("a", "1"), Member("b", "2", MemberMode.RETAIN, NOW))
    body = {
        "metadata": {
            "name": "city-rg-4",
            "labels": {groups.GROUP_LABEL: "city-rg-4"},
            "annotations": {groups.MEMBERS_ANNOTATION: groups.members_annotation(members)},
        }
    }
    assert groups.observed_group(body) == Group(4, "city-rg-4", members)
    with pytest.raises(ValueError, match="no retainUntil"):
        groups.parse_members('[{"camera": "b", "mode": "retain"}]')


def test_long_policy_names_give_short_deterministic_group_names() -> None:
    long = "a-very-long-recording-policy-name-for-the-whole-north-district"
    name = groups.group_name(long, 12)
    assert name == groups.group_name(long, 12) != groups.group_name(long + "x", 12)
    assert len(name) <= groups.MAXIMUM_GROUP_NAME
    assert name.endswith("-rg-12")
    assert groups.group_name("city", 0) == "city-rg-0"


def member_camera(host: str) -> MemberCamera:
    return MemberCamera(f"rtsp://{host}/main", host, f"{host}-onvif", "username", "password")


def test_group_deployment_has_one_writer_owned_by_the_policy_and_mounts_its_members_secret() -> None:
    group = Group(0, "city-rg-0", (Member("a", "1"), Member("b", "2", MemberMode.RETAIN, NOW), Member("c", "3")))
    deployment = groups.group_recorder(policy(legalHold={"enabled": True, "reference": "Case 1"}), group, SETTINGS)
    meta = deployment["metadata"]
    assert meta["name"] == "city-rg-0"
    assert meta["ownerReferences"][0]["kind"] == "RecordingPolicy"
    assert meta["ownerReferences"][0]["uid"] == "p-1"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["replicas"] == 1
    assert groups.parse_members(meta["annotations"][groups.MEMBERS_ANNOTATION]) == group.members
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["recordings"]["persistentVolumeClaim"]["claimName"] == "city-rg-0-recordings"
    assert volumes["members"]["secret"]["secretName"] == "city-rg-0-members"
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["members"] == {"name": "members", "mountPath": groups.GROUP_CONFIG_PATH, "readOnly": True}
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}
    assert env == {
        "CAMFLEET_GROUP_CONFIG_DIR": groups.GROUP_CONFIG_PATH,
        "CAMFLEET_DATA_DIR": workloads.RECORDINGS_PATH,
        "CAMFLEET_SEGMENT_SECONDS": "300",
        "CAMFLEET_METRICS_PORT": str(workloads.METRICS_PORT),
    }


def test_the_pod_template_is_the_same_whoever_the_members_are() -> None:
    """A camera joining, leaving or being dropped must not restart the pod that records the others."""
    one = Group(0, "city-rg-0", (Member("a", "1"),))
    three = Group(0, "city-rg-0", (Member("a", "1"), Member("b", "2", MemberMode.RETAIN, NOW), Member("c", "3")))
    first, second = (groups.group_recorder(policy(), g, SETTINGS) for g in (one, three))
    assert first["spec"] == second["spec"]
    assert first["metadata"]["annotations"] != second["metadata"]["annotations"]  # where the members are said


PASSWORDS = {"a": "pw-a:Secret/1", "c": "pw-c:Secret/3"}


def members_secret(**spec: Any) -> dict[str, Any]:
    group = Group(0, "city-rg-0", (Member("a", "1"), Member("b", "2", MemberMode.RETAIN, NOW), Member("c", "3"),
                                   Member("d", "4")))  # fmt: skip
    cams = {"a": member_camera("10.0.0.1"), "c": member_camera("10.0.0.3")}  # d's camera is gone
    credentials = {name: groups.MemberCredentials("viewer", password) for name, password in PASSWORDS.items()}
    return groups.group_members_secret(policy(**spec), group, cams, credentials, 40)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def test_the_members_secret_names_what_the_pod_records_and_carries_each_recording_members_credentials() -> None:
    secret = members_secret(legalHold={"enabled": True, "reference": "Case 1"})
    meta = secret["metadata"]
    assert (secret["kind"], meta["name"], meta["namespace"]) == ("Secret", "city-rg-0-members", "transport")
    assert meta["ownerReferences"][0]["kind"] == "RecordingPolicy"
    assert meta["labels"][groups.GROUP_LABEL] == "city-rg-0"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "camfleet"
    data = decoded(secret)
    assert sorted(data) == ["a.password", "a.username", "c.password", "c.username", "members.json"]
    assert (data["a.username"], data["a.password"], data["c.password"]) == ("viewer", PASSWORDS["a"], PASSWORDS["c"])
    members = json.loads(data["members.json"])
    assert members[0] == {
        "camera": "a", "mode": "record", "streamUrl": "rtsp://10.0.0.1/main", "host": "10.0.0.1",
        "retentionDays": 40, "legalHold": True,
    }  # fmt: skip
    assert members[1] == {
        "camera": "b", "mode": "retain", "streamUrl": "", "host": "", "retentionDays": 40, "legalHold": True,
        "retainUntil": "2030-05-01T12:00:00Z",
    }  # fmt: skip
    assert (members[3]["camera"], members[3]["mode"]) == ("d", "retain")  # its camera is gone: nothing to record
    assert all(password not in data["members.json"] for password in PASSWORDS.values())


def test_no_password_reaches_the_deployment() -> None:
    group = Group(0, "city-rg-0", (Member("a", "1"), Member("c", "3")))
    deployment = json.dumps(groups.group_recorder(policy(), group, SETTINGS))
    assert "password" not in deployment.lower()
    assert all(password not in deployment for password in PASSWORDS.values())
    assert "pw-a" not in repr(groups.MemberCredentials("viewer", PASSWORDS["a"]))


def test_group_volume_is_labelled_for_the_retention_guards_and_sized_for_the_group() -> None:
    volume = groups.group_volume(policy(), "city-rg-1", "encrypted", "12Gi", 30)
    labels = volume["metadata"]["labels"]
    assert volume["metadata"]["name"] == "city-rg-1-recordings"
    assert labels[workloads.RETENTION_VOLUME_LABEL] == "true"
    assert labels["app.kubernetes.io/managed-by"] == "camfleet"
    assert labels[workloads.COMPONENT_LABEL] == "retention-volume"
    assert labels[workloads.POLICY_LABEL] == "city"
    assert labels[groups.GROUP_LABEL] == "city-rg-1"
    assert groups.group_volume_bytes(3, [2000, 4000], 30, 20) == 3 * required_bytes(4000, 30, 20)
    held = groups.group_volume(policy(legalHold={"enabled": True, "reference": "Case 1"}), "g", None, "1Gi", 30)
    assert held["metadata"]["annotations"][LEGAL_HOLD] == "Case 1"


def test_a_group_volume_is_released_only_when_nobody_records_and_expires_with_the_last_member() -> None:
    recording = Group(0, "g", (Member("a", "1"), Member("b", "2", MemberMode.RETAIN, NOW + timedelta(days=10))))
    assert groups.group_release(recording, NOW, 30) is None
    last = NOW + timedelta(days=25)
    idle = Group(0, "g", (Member("a", "1", MemberMode.RETAIN, last), recording.members[1]))
    release = groups.group_release(idle, NOW, 30)
    assert release is not None
    annotations = {k: v for k, v in release.items() if v is not None}
    assert destruction_due(annotations) == last
    assert not may_delete(annotations, last - timedelta(seconds=1))
    assert may_delete(annotations, last)
    assert not may_delete({**annotations, LEGAL_HOLD: "Case 1"}, last + timedelta(days=900))
