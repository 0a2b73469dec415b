"""RecordingPolicy: how a department records its cameras and how long it keeps the recordings."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from camfleet.api.base import CamfleetModel, CustomResource
from camfleet.api.common import LabelSelector, VideoProfile
from camfleet.api.conditions import ObjectStatus
from camfleet.api.rules import Cel, CelRule, ListMap
from camfleet.api.types import DnsLabel, Flag, Integer, ObjectName, ShortText

MINIMUM_RETENTION_DAYS = 30
"""R2 (QD-2010 art. 19(7)): recordings are kept at least 30 days."""

MAXIMUM_CAMERAS_PER_RECORDER = 500
"""A group recorder runs one ffmpeg per camera; more than this in one pod is more than one node should carry."""

RETENTION_FLOOR = CelRule(
    rule=f"self >= {MINIMUM_RETENTION_DAYS}",
    message=f"recordings must be kept at least {MINIMUM_RETENTION_DAYS} days (retention rule R2)",
    check=lambda days: days >= MINIMUM_RETENTION_DAYS,
)


class StorageSettings(CamfleetModel):
    """Where recordings are kept and how the retention volume is sized."""

    storage_class_name: ObjectName | None = None
    """StorageClass of the retention volumes; the cluster default when left out. With `requireEncryption`,
    the class must be marked encrypted."""
    headroom_percent: Integer = Field(default=20, ge=0, le=500)
    """Extra space on top of bitrate x retention, in percent. Volume size = bitrate x retention x
    (1 + headroom/100)."""


class TranscodeProfile(VideoProfile):
    """A lower-bitrate or masked stream produced for sharing."""

    name: DnsLabel
    """Name of the profile, unique within the policy; grants refer to it."""
    mask_privacy: Flag = True
    """Blank the camera's privacy masks in this stream (R17)."""


class LegalHold(CamfleetModel):
    """Keeps every recording of the selected cameras, whatever their age (R3)."""

    enabled: Flag = False
    """While true, no recording is deleted, not even after its retention has passed."""
    reference: ShortText | None = None
    """The order or case that requires the hold; required while the hold is enabled."""

    cel_rules = (
        CelRule(
            rule="!has(self.enabled) || !self.enabled || has(self.reference)",
            message="a legal hold must cite the order or case that requires it (retention rule R3)",
            check=lambda hold: not hold.enabled or hold.reference is not None,
            reason="FieldValueRequired",
            field_path=".reference",
        ),
    )


class RecordingPolicySpec(CamfleetModel):
    """Which cameras to record, for how long, and how."""

    camera_selector: LabelSelector
    """Cameras in this namespace the policy records; `{}` selects all of them. A camera that names a policy in
    `recordingPolicyRef` is recorded by that policy only."""
    priority: Integer = Field(default=0, ge=0, le=1000)
    """When several policies select a camera, the highest priority wins; ties go to the name first in
    alphabetical order."""
    retention_days: Annotated[Integer, Field(le=3650), Cel(RETENTION_FLOOR)] = 30
    """Days a recording is kept before it is destroyed (R4); at least 30 (R2)."""
    segment_seconds: Integer = Field(default=300, ge=10, le=3600)
    """Length of one recording segment in seconds; segments are the unit of deletion and of the hash chain."""
    storage: StorageSettings = Field(default={}, validate_default=True)
    """Retention volume settings."""
    require_encryption: Flag = True
    """Refuse storage classes not marked encrypted (R17)."""
    transcode_profiles: Annotated[list[TranscodeProfile], Field(max_length=4), ListMap("name")] = Field(
        default_factory=list
    )
    """Extra streams produced for sharing."""
    legal_hold: LegalHold = Field(default={}, validate_default=True)
    """Legal hold on the recordings (R3)."""
    cameras_per_recorder: Integer = Field(default=1, ge=1, le=MAXIMUM_CAMERAS_PER_RECORDER)
    """How many cameras one recorder pod records. 1 (the default): one recorder and one retention volume per
    camera, the smallest failure domain and sizing unit. Above 1 the cameras are recorded by group recorders
    `<policy>-rg-<n>`, each camera in its own directory of the group's volume with its own ffmpeg, hash chain and
    retention: far fewer pods and volumes for a large fleet, but a group shares one pod and one volume (a node
    failure or a full volume touches all its cameras) and the volume is sized for the whole group. A camera keeps
    its group for life: changing this moves no camera, it applies to how groups are filled."""


class RecordingPolicyCondition(StrEnum):
    """Condition types a RecordingPolicy reports: Ready when every camera it records is recording."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    """kstatus: True while the operator's own work for this generation is under way; the reason says which."""
    STALLED = "Stalled"
    """kstatus: True, with a CamelCase reason and a message, when it cannot proceed until someone changes
    something (Flux then reports Failed, Argo CD Degraded)."""


class RecordingPolicyStatus(ObjectStatus):
    """Observed state of a policy: conditions and what it currently records."""

    condition_types = RecordingPolicyCondition

    selected_cameras: Integer | None = Field(default=None, ge=0)
    """Number of cameras this policy records."""
    retention_volumes: Integer | None = Field(default=None, ge=0)
    """Retention volumes provisioned for those cameras."""
    effective_retention_days: Integer | None = Field(default=None, ge=0)
    """Retention actually applied: `retentionDays` raised to the cluster-wide floor when that is higher."""


class RecordingPolicy(CustomResource):
    """A department's recording policy: cameras selected by label, retention, segments, storage and transcoding."""

    kind: Literal["RecordingPolicy"] = "RecordingPolicy"
    """Kind of the object: RecordingPolicy."""
    spec: RecordingPolicySpec
    """Desired recording behaviour."""
    status: RecordingPolicyStatus | None = None
    """Observed state, written by the operator."""
