"""The decisions of provisioning one camera's recording, as pure functions: is the storage class fit (R17),
what does the retention volume look like, what to tell about its size. The recording controller reads the
inputs, calls these, and writes what they decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightkube.resources.core_v1 import PersistentVolumeClaim

from camfleet.api.camera import Camera
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.kube.storage import ENCRYPTION_MARKS
from camfleet.recording import workloads
from camfleet.recording.holds import LEGAL_HOLD, RETENTION_DAYS, released_until
from camfleet.recording.sizing import VolumeAction, VolumeDecision

RETENTION_DAYS_ANNOTATION = RETENTION_DAYS
Problem = tuple[str, str]
"""A reason and a message for the camera's Recording condition."""


def storage_problem(policy: RecordingPolicy, class_name: str | None, encrypted: bool) -> Problem | None:
    """Why the policy's storage class cannot hold the recordings (`class_name` None: the class does not exist)."""
    if class_name is None:
        wanted = policy.spec.storage.storage_class_name or "the cluster default"
        return ("StorageClassNotFound", f"storage class {wanted} does not exist")
    if policy.spec.require_encryption and not encrypted:
        return (
            "StorageNotEncrypted",
            f"policy {policy.metadata.name} requires encryption, and storage class {class_name} is not marked "
            f"encrypted ({ENCRYPTION_MARKS}) (rule R17)",
        )
    return None


@dataclass(frozen=True)
class ObservedVolume:
    """What provisioning reads of an existing retention volume."""

    request: str | None = None
    bound: bool = False
    released: bool = False
    hold: str | None = None
    policy: str | None = None
    """The policy the volume was last provisioned for (its label)."""

    def kept_hold(self, policy: RecordingPolicy) -> str | None:
        """A legal hold camfleet must carry over: one set while another policy recorded the camera (or set by the
        legal-hold authority by hand) is not this policy's to lift (R3); only the policy that set it lifts it."""
        if self.hold and self.policy != workloads.label_value(str(policy.metadata.name)):
            return self.hold
        return None

    @classmethod
    def of(cls, volume: PersistentVolumeClaim | None) -> ObservedVolume:
        if volume is None:
            return cls()
        spec, status = volume.spec, volume.status
        requests = spec.resources.requests if spec and spec.resources else None
        annotations = (volume.metadata.annotations if volume.metadata else None) or {}
        labels = (volume.metadata.labels if volume.metadata else None) or {}
        return cls(
            request=(requests or {}).get("storage"),
            bound=status is not None and status.phase == "Bound",
            released=released_until(annotations) is not None,
            hold=annotations.get(LEGAL_HOLD),
            policy=labels.get(workloads.POLICY_LABEL),
        )


def volume_manifest(
    camera: Camera,
    policy: RecordingPolicy,
    class_name: str,
    decision: VolumeDecision,
    retention_days: int,
    kept_hold: str | None = None,
) -> dict[str, Any]:
    """The retention volume as decided, with its retention and any legal hold as annotations (the policy's, or
    one carried over from before, see `ObservedVolume.kept_hold`)."""
    volume = workloads.retention_volume(camera, policy, class_name, decision.request)
    volume["metadata"]["annotations"] = {RETENTION_DAYS_ANNOTATION: str(retention_days)}
    if policy.spec.legal_hold.enabled:
        volume["metadata"]["annotations"][LEGAL_HOLD] = policy.spec.legal_hold.reference or "enabled"
    elif kept_hold:
        volume["metadata"]["annotations"][LEGAL_HOLD] = kept_hold
    return volume


def volume_event(decision: VolumeDecision, current_request: str | None) -> Problem | None:
    """The Normal Event a volume decision deserves (reason, message), if any."""
    if decision.action is VolumeAction.CREATE:
        return ("VolumeProvisioned", f"retention volume {decision.request}")
    if decision.action is VolumeAction.GROW:
        return ("VolumeGrown", f"retention volume grown from {current_request} to {decision.request}")
    return None


def volume_problem(decision: VolumeDecision, current_request: str | None, class_name: str) -> Problem | None:
    if decision.action is not VolumeAction.TOO_SMALL:
        return None
    return (
        "VolumeTooSmall",
        f"retention needs {decision.required}, the volume has {current_request}, and storage class "
        f"{class_name} does not allow expansion",
    )
