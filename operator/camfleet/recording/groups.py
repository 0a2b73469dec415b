"""Recorder groups: several cameras of one RecordingPolicy recorded by one pod into one volume (issue 20).

A policy with `camerasPerRecorder` above 1 records its cameras with group recorders `<policy>-rg-<n>`: one
Deployment (owned by the policy) and one retention volume `<group>-recordings` (owned by nobody, as a camera's)
per group. Each camera records under `<volume>/<camera>/` with exactly the single-camera layout, so a camera's
directory verifies and exports like a whole single-camera volume.

A camera keeps its group for life (its recordings are never split by rebalancing). The membership is kept on the
group Deployment (annotation `camfleet.io/group-members`), which a restarted operator reads back; these pure
functions decide the next membership from it, the objects that carry it, and when a group's volume is released.

What the group's pod records is in a Secret `<group>-members` (members.json and each recording member's stream
credentials) mounted into the pod: a membership change rewrites that Secret and the annotation, never the pod
template, so the pod is not restarted and the other members record on (the pod re-reads the mount, see
recorder_pod/group.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from camfleet.api.camera import Camera
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.recording import workloads
from camfleet.recording.holds import LEGAL_HOLD, RETENTION_DAYS, parse_time, release_annotations, timestamp
from camfleet.recording.sizing import required_bytes

GROUP_LABEL = "camfleet.io/recorder-group"
MEMBERS_ANNOTATION = "camfleet.io/group-members"
GROUP_COMPONENT = "recorder-group"
MEMBERS_COMPONENT = "recorder-group-members"
GROUP_INFIX = "-rg-"
# Pods of a Deployment add two suffixes (about 17 characters) to its name; 63 is the limit of a pod's hostname
# label, so a group name longer than this is shortened with a hash (still deterministic).
MAXIMUM_GROUP_NAME = 46


class MemberMode(StrEnum):
    RECORD = "record"
    RETAIN = "retain"
    """The camera left the group: nothing records it, its directory is kept until its retention has passed."""


@dataclass(frozen=True)
class Member:
    camera: str
    uid: str
    mode: MemberMode = MemberMode.RECORD
    retain_until: datetime | None = None

    def to_json(self) -> dict[str, str]:
        data = {"camera": self.camera, "uid": self.uid, "mode": str(self.mode)}
        if self.retain_until is not None:
            data["retainUntil"] = timestamp(self.retain_until)
        return data


@dataclass(frozen=True)
class Group:
    index: int
    name: str
    members: tuple[Member, ...] = field(default=())

    @property
    def recording(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.mode is MemberMode.RECORD)

    def member(self, camera: str) -> Member | None:
        return next((m for m in self.members if m.camera == camera), None)


def group_name(policy: str, index: int) -> str:
    """`<policy>-rg-<n>`, shortened with a hash of the policy's name when too long for a pod's name."""
    name = f"{policy}{GROUP_INFIX}{index}"
    if len(name) <= MAXIMUM_GROUP_NAME:
        return name
    digest = hashlib.sha256(policy.encode()).hexdigest()[:8]
    head = policy[: MAXIMUM_GROUP_NAME - len(f"-{digest}{GROUP_INFIX}{index}")].rstrip("-")
    return f"{head}-{digest}{GROUP_INFIX}{index}"


def volume_name(group: str) -> str:
    return f"{group}{workloads.VOLUME_SUFFIX}"


def members_annotation(members: Iterable[Member]) -> str:
    return json.dumps([m.to_json() for m in members], separators=(",", ":"))


def parse_members(text: str | None) -> tuple[Member, ...]:
    """The members an annotation names; raises ValueError when it is not camfleet's list (a group whose members
    are unknown must not be changed: a camera put elsewhere would split its recordings)."""
    if not text:
        return ()
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("group members annotation is not a list")
    members = []
    for item in data:
        mode = MemberMode(item["mode"])
        until = parse_time(item.get("retainUntil"))
        if mode is MemberMode.RETAIN and until is None:
            raise ValueError(f"retained member {item.get('camera')} has no retainUntil")
        members.append(Member(str(item["camera"]), str(item.get("uid", "")), mode, until))
    return tuple(members)


def observed_group(body: Mapping[str, Any]) -> Group | None:
    """A group Deployment as the cluster shows it (None: not a group recorder's name)."""
    meta = body["metadata"]
    name = (meta.get("labels") or {}).get(GROUP_LABEL) or meta["name"]
    _, infix, number = str(name).rpartition(GROUP_INFIX)
    if not infix or not number.isdigit():
        return None
    return Group(int(number), str(name), parse_members((meta.get("annotations") or {}).get(MEMBERS_ANNOTATION)))


def _next_member(member: Member, recorded: Mapping[str, str], departed: Collection[str], until: datetime) -> Member:
    if member.camera in recorded:
        return Member(member.camera, recorded[member.camera])  # (re)joins its own group: recordings never split
    if member.camera in departed and member.mode is MemberMode.RECORD:
        return replace(member, mode=MemberMode.RETAIN, retain_until=until)
    return member


def _expired(member: Member, now: datetime, hold: bool) -> bool:
    return (
        member.mode is MemberMode.RETAIN and not hold and member.retain_until is not None and now >= member.retain_until
    )


def desired_groups(
    policy: str,
    observed: Sequence[Group],
    recorded: Mapping[str, str],
    departed: Collection[str],
    now: datetime,
    retention_days: int,
    size: int,
    hold: bool,
) -> tuple[Group, ...]:
    """The policy's groups after one step: `recorded` (camera -> uid) are the cameras the policy records now,
    `departed` the cameras known to have left it (unselected or deleted). A camera in neither is kept as it is
    (a restarted operator has not judged every camera yet: not knowing is no reason to move anybody).

    Members keep their group; a departed member is retained until now + retention; a retained member past that and
    under no legal hold is dropped; a new camera fills the lowest-numbered group with fewer than `size` recording
    members (a new group when none has room)."""
    until = now + timedelta(days=retention_days)
    groups: dict[int, Group] = {}
    placed: set[str] = set()
    for group in sorted(observed, key=lambda g: g.index):
        members = [_next_member(m, recorded, departed, until) for m in group.members]
        kept = tuple(m for m in members if not _expired(m, now, hold))
        groups[group.index] = Group(group.index, group.name, kept)
        placed.update(m.camera for m in group.members)
    for camera in sorted(set(recorded) - placed):
        index = next((i for i in sorted(groups) if len(groups[i].recording) < size), None)
        if index is None:
            index = next(i for i in range(len(groups) + 1) if i not in groups)
            groups[index] = Group(index, group_name(policy, index))
        groups[index] = replace(groups[index], members=(*groups[index].members, Member(camera, recorded[camera])))
    return tuple(groups[i] for i in sorted(groups))


def group_of(groups: Iterable[Group], camera: str) -> Group | None:
    return next((g for g in groups if g.member(camera) is not None), None)


# -- the objects ---------------------------------------------------------------------------------------------------


def group_labels(policy: RecordingPolicy, group: str, component: str) -> dict[str, str]:
    return {
        **workloads.MANAGED_BY,
        workloads.COMPONENT_LABEL: component,
        workloads.POLICY_LABEL: workloads.label_value(str(policy.metadata.name)),
        GROUP_LABEL: group,
    }


def _owned_by(policy: RecordingPolicy) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": policy.api_version,
            "kind": "RecordingPolicy",
            "name": policy.metadata.name,
            "uid": policy.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@dataclass(frozen=True)
class MemberCamera:
    """What the group recorder needs of a recording member's camera (None for a camera that is gone)."""

    stream_uri: str
    host: str
    secret: str
    username_key: str
    password_key: str

    @classmethod
    def of(cls, camera: Camera) -> MemberCamera:
        streams = camera.status.stream_uris if camera.status else []
        ref = camera.spec.credentials_secret_ref
        return cls(
            streams[0].uri if streams else "", workloads.camera_host(camera), ref.name, ref.username_key,
            ref.password_key,
        )  # fmt: skip


@dataclass(frozen=True)
class MemberCredentials:
    """A recording member's stream credentials, copied from its camera's own Secret into the group's Secret."""

    username: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log line through repr()
        return f"MemberCredentials(username={self.username!r}, password=***)"


MEMBERS_SECRET_SUFFIX = "-members"
MEMBERS_FILE = "members.json"
GROUP_CONFIG_DIR_ENV = "CAMFLEET_GROUP_CONFIG_DIR"
GROUP_CONFIG_PATH = "/etc/camfleet/group"
USERNAME_SUFFIX = ".username"
PASSWORD_SUFFIX = ".password"


def members_secret_name(group: str) -> str:
    """`<group>-members`: group names are at most MAXIMUM_GROUP_NAME (46) characters, so this stays a short name."""
    return f"{group}{MEMBERS_SECRET_SUFFIX}"


def _member_entry(member: Member, camera: MemberCamera | None, retention_days: int, hold: bool) -> dict[str, Any]:
    recording = member.mode is MemberMode.RECORD and camera is not None
    entry: dict[str, Any] = {
        "camera": member.camera,
        "mode": str(MemberMode.RECORD if recording else MemberMode.RETAIN),
        "streamUrl": camera.stream_uri if recording and camera else "",
        "host": camera.host if recording and camera else "",
        "retentionDays": retention_days,
        "legalHold": hold,
    }
    if member.retain_until is not None:
        entry["retainUntil"] = timestamp(member.retain_until)
    return entry


def members_document(
    group: Group, cameras: Mapping[str, MemberCamera], retention_days: int, hold: bool
) -> list[dict[str, Any]]:
    """`members.json` of the group's Secret: what the group pod records (no credentials: they are keys of their
    own). A recording member whose camera is gone is kept as `retain` (its directory stays, nothing records)."""
    return [_member_entry(m, cameras.get(m.camera), retention_days, hold) for m in group.members]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def group_members_secret(
    policy: RecordingPolicy,
    group: Group,
    cameras: Mapping[str, MemberCamera],
    credentials: Mapping[str, MemberCredentials],
    retention_days: int,
) -> dict[str, Any]:
    """The group's members Secret, mounted read-only into the group pod (`GROUP_CONFIG_PATH`): `members.json` and,
    per recording member, `<camera>.username` / `<camera>.password` copied from the camera's own Secret (camera
    names are DNS labels, so these are valid keys). A membership change rewrites this Secret, never the pod
    template: the kubelet refreshes the mounted files within its sync period and the pod picks them up live."""
    document = members_document(group, cameras, retention_days, policy.spec.legal_hold.enabled)
    data = {MEMBERS_FILE: _b64(json.dumps(document, separators=(",", ":")))}
    for entry in document:
        found = credentials.get(entry["camera"])
        if entry["mode"] == MemberMode.RECORD and found is not None:
            data[entry["camera"] + USERNAME_SUFFIX] = _b64(found.username)
            data[entry["camera"] + PASSWORD_SUFFIX] = _b64(found.password)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": members_secret_name(group.name),
            "namespace": policy.metadata.namespace,
            "labels": group_labels(policy, group.name, MEMBERS_COMPONENT),
            "ownerReferences": _owned_by(policy),
        },
        "type": "Opaque",
        "data": data,
    }


def group_recorder(policy: RecordingPolicy, group: Group, settings: workloads.RecorderSettings) -> dict[str, Any]:
    """The group's Deployment (Recreate, one replica: one writer on the volume). Its pod template depends on the
    policy and the group's name only, never on the members: they are in the mounted members Secret and in the
    members annotation of the Deployment's metadata (neither restarts the pod), so a camera joining or leaving
    never interrupts the others' recording."""
    labels = group_labels(policy, group.name, GROUP_COMPONENT)
    env: list[dict[str, Any]] = [
        {"name": GROUP_CONFIG_DIR_ENV, "value": GROUP_CONFIG_PATH},
        {"name": "CAMFLEET_DATA_DIR", "value": workloads.RECORDINGS_PATH},
        {"name": "CAMFLEET_SEGMENT_SECONDS", "value": str(policy.spec.segment_seconds)},
        {"name": "CAMFLEET_METRICS_PORT", "value": str(workloads.METRICS_PORT)},
    ]
    # One ffmpeg per recording member: the single recorder's request and limit per camera, for a full group (the
    # group's size, not its current members: a join must not change the template).
    size = policy.spec.cameras_per_recorder
    container = {
        "name": "recorder",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["camfleet", "recorder"],
        "env": env,
        "ports": [{"name": "metrics", "containerPort": workloads.METRICS_PORT, "protocol": "TCP"}],
        "volumeMounts": [
            {"name": "recordings", "mountPath": workloads.RECORDINGS_PATH},
            {"name": "members", "mountPath": GROUP_CONFIG_PATH, "readOnly": True},
        ],
        "resources": {
            "requests": {"cpu": f"{100 * size}m", "memory": f"{128 * size}Mi"},
            "limits": {"memory": f"{256 * size}Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "metrics"}, "periodSeconds": 20},
        "securityContext": workloads.restricted_container_security(),
    }
    pod_spec = {
        "containers": [container],
        "securityContext": workloads.restricted_pod_security(),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "volumes": [
            {"name": "recordings", "persistentVolumeClaim": {"claimName": volume_name(group.name)}},
            # 0440 and the pod's group: readable by the non-root recorder, by nobody else in the pod.
            {"name": "members", "secret": {"secretName": members_secret_name(group.name), "defaultMode": 0o440}},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": group.name,
            "namespace": policy.metadata.namespace,
            "labels": labels,
            "annotations": {MEMBERS_ANNOTATION: members_annotation(group.members)},
            "ownerReferences": _owned_by(policy),
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {GROUP_LABEL: group.name, workloads.COMPONENT_LABEL: GROUP_COMPONENT}},
            # Recreate: a ReadWriteOnce volume has one writer (see workloads.recorder).
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def group_volume_bytes(size: int, bitrates_kbps: Iterable[int], retention_days: int, headroom_percent: int) -> int:
    """Room for `size` cameras at the highest bitrate among the members: every camera the group may hold records
    its own retention's worth (a retained member's directory shrinks as it is pruned, a new member's grows)."""
    bitrate = max(bitrates_kbps, default=0)
    return size * required_bytes(bitrate, retention_days, headroom_percent)


def group_volume(
    policy: RecordingPolicy, group: str, storage_class: str | None, request: str, retention_days: int,
    kept_hold: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The group's retention volume: labelled like a camera's (so the retention guards cover it), plus its group."""
    labels = {**group_labels(policy, group, "retention-volume"), workloads.RETENTION_VOLUME_LABEL: "true"}
    volume = workloads.volume_claim(volume_name(group), policy.metadata.namespace, labels, request, storage_class)
    annotations = {RETENTION_DAYS: str(retention_days)}
    if policy.spec.legal_hold.enabled:
        annotations[LEGAL_HOLD] = policy.spec.legal_hold.reference or "enabled"
    elif kept_hold:
        annotations[LEGAL_HOLD] = kept_hold
    volume["metadata"]["annotations"] = annotations
    return volume


def group_release(group: Group, now: datetime, retention_days: int) -> dict[str, str | None] | None:
    """The release annotations of a group's volume once no member records into it (None: still in use).

    Released at the latest departure, so the janitor's destruction time is the latest member's retain-until: the
    volume is destroyed only when every camera that recorded into it is past retention (and, as for every retention
    volume, never under a legal hold: the janitor and the guard read the volume's hold)."""
    if group.recording:
        return None
    departures = [m.retain_until - timedelta(days=retention_days) for m in group.members if m.retain_until]
    released_at = min(max(departures, default=now), now)
    return release_annotations(released_at, retention_days)
