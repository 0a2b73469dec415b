"""The objects that run one camera's part of a FootageExport: a volume for the copy and a Job that fills it. Pure.

Names are derived from the export's, so a restarted operator finds what it made. The Job belongs to the
FootageExport (controller ownerReference): the operator reads the Job's result (termination message) into the
export's status, so the Job is kept (no ttlSecondsAfterFinished) until the export itself goes. The volume holds
evidence handed to a case; it gets no ownerReference, so deleting the request does not silently destroy the copy.

Placement: the retention volume is ReadWriteOnce, which means one NODE, not one pod: it is attached where the
recorder pod runs, and a pod on any other node would hang in ContainerCreating (multi-attach error), because the
scheduler does not account for where a ReadWriteOnce volume is already attached. A required podAffinity to the
camera's recorder pod (same hostname) puts the export pod beside it, where the kubelet can mount the same volume
a second time, read-only. When the camera no longer has a recorder (decommissioned, its volume kept by the
retention hold of R3), nothing holds the volume and the affinity would never be satisfied, so it is left out
and the scheduler follows the volume's own node affinity.

Extraction by level (R13, `sourceNamespace` set): the retention volume can be mounted only in its own namespace,
so the Job and a staging export volume are made in the camera owner's namespace, named after the requester's
namespace and export so they never collide with the owner's own exports. An ownerReference cannot cross
namespaces: they carry the export's namespace in a label instead, and the operator reports their result into the
requester's export. Once the Job has succeeded, the export lands in the requester's namespace: the operator hands
the volume over (`export.handover`: the PersistentVolume is set to Retain, claimed in the requester's namespace
under the name an export of its own would have, `handed_over_claim_name`, bound there by the PV binder), then
deletes the staging claim and the Job. The handed-over claim has no ownerReference either: evidence outlives the
request. Extractions carry a finalizer: deleting one before its copy succeeded deletes the owner-side Job and
staging claim (a partial copy, not footage; the retention volume is only ever mounted read-only and never
touched), and deleting one whose copy succeeded first finishes the handover, so the copy is never lost.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from camfleet.api import API_VERSION
from camfleet.api.camera import PrivacyMask
from camfleet.api.footage_export import FootageExport
from camfleet.export.errors import PERMANENT_EXIT_CODES
from camfleet.export.selection import TimeRange, merge_ranges
from camfleet.privacy_masks import polygons_of
from camfleet.recording.groups import GROUP_COMPONENT, GROUP_LABEL
from camfleet.recording.sizing import as_gib_quantity
from camfleet.recording.workloads import (
    CAMERA_LABEL,
    COMPONENT_LABEL,
    MANAGED_BY,
    RECORDINGS_PATH,
    label_value,
    restricted_container_security,
    restricted_pod_security,
    volume_claim,
)

COMPONENT = "footage-export"
EXPORT_LABEL = "camfleet.io/export"
EXPORT_NAMESPACE_LABEL = "camfleet.io/export-namespace"
"""On the Job and volume of an extraction by level: the namespace of the FootageExport they serve."""
SOURCE_NAMESPACE_LABEL = "camfleet.io/source-namespace"
"""On a handed-over export volume: the camera owner's namespace the copy was made in."""
RECORDER_COMPONENT = "recorder"
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"
EXPORT_PATH = "/export"
CONTAINER = "export"
TERMINATION_LOG = "/dev/termination-log"
MASKED_SIZE_FACTOR = 1.5
"""A masked copy is re-encoded at near-lossless quality, which can outgrow the original, and one original segment is
staged beside it while it is masked."""
MASKING_SECONDS_PER_SECOND = 4
"""Deadline allowance for re-encoding, in seconds per second of footage, with one CPU requested: 640x360 to 1080p at
libx264 `veryfast` took 0.7 to 5 s per second on a 2-core machine shared with heavy other work (load 19-33;
`bench/masked_export.py`), far less on an idle core."""
_NAME_LIMIT = 63  # the Job's name becomes a label value (batch.kubernetes.io/job-name) on its pods


@dataclass(frozen=True)
class ExportJobSettings:
    """Operator-wide settings for export Jobs."""

    image: str = "ghcr.io/camfleet/camfleet-recorder:0.1.0"  # the recorder image carries the camfleet CLI
    image_pull_policy: str = "IfNotPresent"
    storage_class: str | None = None  # when the FootageExport names none; None: the cluster default
    headroom_percent: int = 20  # filesystem metadata, and ext4 keeps 5% for root, which the pod is not
    backoff_limit: int = 2  # only I/O failures are retried; tampering and conflicts fail the Job at once
    # Verification reads the whole retention volume (30+ days of footage) before copying a byte.
    active_deadline_seconds: int = 6 * 3600


def _bounded(name: str) -> str:
    if len(name) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: _NAME_LIMIT - 11].rstrip('-.')}-{digest}"


def is_extraction(export: FootageExport) -> bool:
    """An extraction by level: the cameras belong to another department than the export's (R13)."""
    source = export.spec.source_namespace
    return source is not None and source != export.metadata.namespace


def export_job_namespace(export: FootageExport) -> str:
    """Where the copy Jobs and volumes run: where the cameras' retention volumes are."""
    return str(export.spec.source_namespace or export.metadata.namespace)


def _own_name(export: FootageExport, camera: str, prefix: str = "") -> str:
    name = f"{prefix}{export.metadata.name}"
    if len(export.spec.cameras) > 1:
        name = f"{name}-{camera}"
    return _bounded(f"{name}-export")


def export_object_name(export: FootageExport, camera: str) -> str:
    """`<export>-export` for the Job and its volume. An export of several cameras gets one pair per camera,
    `<export>-<camera>-export`: each camera's retention volume may be attached on a different node. An extraction
    by level, made in the owner's namespace, is prefixed with the requester's namespace."""
    prefix = f"{export.metadata.namespace}-" if is_extraction(export) else ""
    return _own_name(export, camera, prefix)


def handed_over_claim_name(export: FootageExport, camera: str) -> str:
    """The claim an extraction's copy is handed over to, in the requester's namespace: named as the export volume
    of an export of the requester's own cameras would be (export names are unique in a namespace)."""
    return _own_name(export, camera)


def export_labels(export: FootageExport, camera: str) -> dict[str, str]:
    """camfleet's labels on every object of this export's camera (Job, volumes); an extraction's also name the
    requester's and the owner's namespaces."""
    return _labels(export, camera)


def export_directory(camera: str) -> str:
    """Where in the export volume this camera's copy goes; a folder of its own, so the copy owns all of it."""
    return f"{EXPORT_PATH}/{camera}"


def requested_seconds(export: FootageExport) -> float:
    """The requested time, overlaps counted once."""
    ranges = merge_ranges(TimeRange(p.start.timestamp(), p.end.timestamp()) for p in export.spec.ranges)
    return sum(r.end - r.start for r in ranges)


def expected_export_bytes(export: FootageExport, bitrate_kbps: int) -> int:
    """Estimated size of one camera's copy when the segment sizes are not known (the operator does not mount the
    retention volume): the requested time, overlaps counted once, at the camera's bitrate."""
    return math.ceil(requested_seconds(export) * bitrate_kbps * 1000 / 8)


def active_deadline(export: FootageExport, settings: ExportJobSettings, masking: bool) -> int:
    """How long the Job may run: verification and copy, plus, when it re-encodes, MASKING_SECONDS_PER_SECOND of
    encoding time per second of footage (a 24-hour range is 8 days of footage to re-encode at most)."""
    if not masking:
        return settings.active_deadline_seconds
    return settings.active_deadline_seconds + math.ceil(requested_seconds(export) * MASKING_SECONDS_PER_SECOND)


def _labels(export: FootageExport, camera: str) -> dict[str, str]:
    labels = {
        **MANAGED_BY,
        COMPONENT_LABEL: COMPONENT,
        EXPORT_LABEL: label_value(str(export.metadata.name)),
        CAMERA_LABEL: label_value(camera),
    }
    if is_extraction(export):
        labels[EXPORT_NAMESPACE_LABEL] = str(export.metadata.namespace)
        labels[SOURCE_NAMESPACE_LABEL] = export_job_namespace(export)
    return labels


def _owned_by(export: FootageExport) -> list[dict[str, Any]]:
    if not export.metadata.uid:
        raise ValueError("the FootageExport has no uid yet; build its Job from the object the API server returned")
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "FootageExport",
            "name": export.metadata.name,
            "uid": export.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def export_volume_claim(
    export: FootageExport, camera: str, expected_bytes: int, settings: ExportJobSettings
) -> dict[str, Any]:
    factor = MASKED_SIZE_FACTOR if export.spec.mask_privacy else 1.0
    size = math.ceil(expected_bytes * factor * (1 + settings.headroom_percent / 100))
    storage_class = export.spec.storage_class_name or settings.storage_class
    name, namespace = export_object_name(export, camera), export_job_namespace(export)
    return volume_claim(name, namespace, _labels(export, camera), as_gib_quantity(size), storage_class)


def camera_privacy_masks(camera_body: Mapping[str, Any] | None) -> list[PrivacyMask] | None:
    """The camera's privacy masks as its spec declares them; None when the camera is not known."""
    if not camera_body:
        return None
    masks = camera_body.get("spec", {}).get("device", {}).get("privacyMasks") or []
    return [PrivacyMask.model_validate(mask) for mask in masks]


def _literal(text: str) -> str:
    """Kubernetes expands $(VAR) in args; `$$` is its escape for a literal `$` in user-written text."""
    return text.replace("$", "$$")


def _args(export: FootageExport, camera: str, masks: Sequence[PrivacyMask] | None) -> list[str]:
    args = [
        "--source", RECORDINGS_PATH,
        "--destination", export_directory(camera),
        "--name", str(export.metadata.name),
        "--camera", camera,
        "--case-reference", _literal(export.spec.case_reference),
        "--termination-log", TERMINATION_LOG,
    ]  # fmt: skip
    for period in export.spec.ranges:
        args += ["--range", f"{period.start.isoformat()}/{period.end.isoformat()}"]
    for approver in export.status.approved_by if export.status else []:
        args += ["--approved-by", _literal(approver)]
    if export.spec.mask_privacy:
        if masks is None:
            raise ValueError(f"a masked export needs camera {camera!r}'s privacy masks")
        args.append("--mask-privacy")  # even with no masks: the manifest then says there were none to blank
        for polygon in polygons_of(masks):
            args += ["--privacy-mask", polygon.to_arg()]
    return args


def _affinity(camera: str, node_name_hint: str | None, recorder_running: bool, group: str | None) -> dict[str, Any]:
    affinity: dict[str, Any] = {}
    if recorder_running:
        # The pod that writes the volume (ReadWriteOnce): the camera's own recorder, or its recorder group.
        recorder = {**MANAGED_BY, COMPONENT_LABEL: RECORDER_COMPONENT, CAMERA_LABEL: label_value(camera)}
        if group is not None:
            recorder = {**MANAGED_BY, COMPONENT_LABEL: GROUP_COMPONENT, GROUP_LABEL: group}
        affinity["podAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": recorder}, "topologyKey": HOSTNAME_TOPOLOGY}
            ]
        }
    if node_name_hint:
        # Only a preference: the podAffinity (or the volume's node affinity) is what must hold.
        term = {"matchExpressions": [{"key": HOSTNAME_TOPOLOGY, "operator": "In", "values": [node_name_hint]}]}
        affinity["nodeAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": term}]
        }
    return affinity


def _resources(masking: bool) -> dict[str, Any]:
    if masking:  # ffmpeg decodes and re-encodes every segment (one at a time, libx264)
        return {"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    return {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def _container(
    export: FootageExport, camera: str, settings: ExportJobSettings, masks: Sequence[PrivacyMask] | None,
    grouped: bool,
) -> dict[str, Any]:  # fmt: skip
    recordings: dict[str, Any] = {"name": "recordings", "mountPath": RECORDINGS_PATH, "readOnly": True}
    if grouped:  # a group volume holds one directory per camera, each with a single camera's layout
        recordings["subPath"] = camera
    return {
        "name": CONTAINER,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["camfleet", "export"],
        "args": _args(export, camera, masks),
        "volumeMounts": [
            recordings,
            {"name": "export", "mountPath": EXPORT_PATH},
        ],
        # The summary line is written to the termination message; if the process dies before writing it,
        # the tail of its log (which names what broke) takes its place.
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": _resources(export.spec.mask_privacy and bool(masks)),
        "securityContext": {**restricted_container_security(), "privileged": False},
    }


def export_job(
    export: FootageExport,
    camera: str,
    retention_claim: str,
    settings: ExportJobSettings,
    node_name_hint: str | None = None,
    recorder_running: bool = True,
    masks: Sequence[PrivacyMask] | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """`masks`: the camera's privacy masks, required when the export has maskPrivacy: true. `group`: the camera's
    recorder group when it is recorded by one (`retention_claim` is then the group's volume, mounted at the camera's
    directory)."""
    if camera not in export.spec.cameras:
        raise ValueError(f"camera {camera!r} is not one the FootageExport asks for")
    name = export_object_name(export, camera)
    labels = _labels(export, camera)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",  # retries are the Job's (backoffLimit), each in a fresh pod
        "automountServiceAccountToken": False,
        # fsGroup makes the fresh export volume writable for the non-root user. The retention volume's root already
        # belongs to this group (the recorder runs with it); without OnRootMismatch the kubelet may walk the whole
        # 30-day volume to re-own every file before the pod starts.
        "securityContext": {**restricted_pod_security(), "fsGroupChangePolicy": "OnRootMismatch"},
        "containers": [_container(export, camera, settings, masks, group is not None)],
        "volumes": [
            {"name": "recordings", "persistentVolumeClaim": {"claimName": retention_claim, "readOnly": True}},
            {"name": "export", "persistentVolumeClaim": {"claimName": name}},
        ],
    }
    affinity = _affinity(camera, node_name_hint, recorder_running, group)
    if affinity:
        pod_spec["affinity"] = affinity
    metadata: dict[str, Any] = {"name": name, "namespace": export_job_namespace(export), "labels": labels}
    if not is_extraction(export):
        metadata["ownerReferences"] = _owned_by(export)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": settings.backoff_limit,
            "activeDeadlineSeconds": active_deadline(export, settings, export.spec.mask_privacy and bool(masks)),
            "podFailurePolicy": {
                "rules": [
                    # Tampered source, a destination holding other evidence, bad arguments: the same every time.
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER,
                            "operator": "In",
                            "values": list(PERMANENT_EXIT_CODES),
                        },
                    },
                    # A drained node or preempted pod is not the export's failure; do not spend a retry on it.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def export_objects(
    export: FootageExport,
    camera: str,
    retention_claim: str,
    expected_bytes: int,
    settings: ExportJobSettings,
    node_name_hint: str | None = None,
    recorder_running: bool = True,
    masks: Sequence[PrivacyMask] | None = None,
    group: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(export PersistentVolumeClaim, Job) for one camera of a FootageExport; create the claim first."""
    claim = export_volume_claim(export, camera, expected_bytes, settings)
    job = export_job(export, camera, retention_claim, settings, node_name_hint, recorder_running, masks, group)
    return claim, job
