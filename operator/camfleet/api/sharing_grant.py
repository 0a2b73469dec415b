"""SharingGrant: a department's request to use cameras that another department owns.

A grant lives in the grantee's namespace and names the owner's namespace in `spec.cameras`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from camfleet.api.base import CamfleetModel, CustomResource, StatusModel
from camfleet.api.camera import ShareClass
from camfleet.api.common import CameraSelection, Period
from camfleet.api.conditions import ObjectStatus
from camfleet.api.rules import CelRule, ListSet, RuleRequired
from camfleet.api.types import DnsLabel, Integer, ObjectName, Rfc3339Time, ShortText, Text

EMERGENCY_MAX_DURATION = timedelta(hours=72)
"""R12: emergency access is limited in time; camfleet caps it at 72 hours."""


class Permission(StrEnum):
    """What a grant lets the grantee do with the cameras."""

    LIVE_VIEW = "LiveView"
    PLAYBACK = "Playback"
    PTZ_CONTROL = "PTZControl"
    EXPORT = "Export"


class SharingGrantCondition(StrEnum):
    """Condition types a SharingGrant reports.

    Approved is Unknown with reason Pending while approvals are outstanding (the due date is in
    `status.approvalDueTime`), AwaitingAuthorization while an emergency grant waits for the emergency authority,
    or ApprovalsVoided when the grant's content changed after approvals were given
    (they bind to the grant's uid and content and no longer count), True once approved and False when denied.
    """

    APPROVED = "Approved"
    ACTIVE = "Active"
    EXPIRED = "Expired"
    REVOKED = "Revoked"
    """True while access the grant had (it was Active) stays withdrawn before its end without a denial or
    expiry, e.g. because its approvals were deleted (reason ApprovalsWithdrawn) or voided by a change of the grant's
    content (reason ApprovalsVoided); a `Revoked` history entry records the moment."""
    NARROWED = "Narrowed"
    """True (reason PermissionsNarrowed) when the grantee's level lets it receive fewer permissions than the grant
    asks (R13): the message names what was dropped and why; tokens carry only what is left."""
    RECLASSIFIED = "Reclassified"
    """True (reason CameraReclassified) while cameras the grant covered are withheld because the classification
    authority changed their share class or security level (R10, R13); the cameras are in
    `status.reclassifiedCameras`."""
    CAMERAS_FOUND = "CamerasFound"
    """Whether the cameras the grant names (or its selector) exist: a typo otherwise leaves an Active grant
    covering nothing."""
    READY = "Ready"
    """True when settled (Active, NotStarted, Expired, or waiting for people: AwaitingApproval, AwaitingAuthorization),
    so kstatus reads Current; False only with Stalled (Denied, cameras not found). Access itself is `Active`."""
    RECONCILING = "Reconciling"
    """kstatus: True while the operator's own work for this generation is under way; the reason says which."""
    STALLED = "Stalled"
    """kstatus: True, with a CamelCase reason and a message, when it cannot proceed until someone changes
    something (Flux then reports Failed, Argo CD Degraded)."""


def _r11(what: str) -> RuleRequired:
    return RuleRequired(f"the application must state {what} (application rule R11)")


class Application(CamfleetModel):
    """The application that conditional data requires (R11, ZY-2024 art. 18). The grant's purpose is
    `spec.purpose`."""

    applicant_department: Annotated[ShortText, _r11("the applicant department")]
    """Department applying for the data."""
    contact: Annotated[ShortText, _r11("a contact person and how to reach them")]
    """Contact person and telephone or e-mail."""
    reason: Annotated[Text, _r11("the reason for the request")]
    """Why the data is needed."""
    data_type: Annotated[ShortText, _r11("the data type")]
    """Type of data, e.g. live video, recordings, snapshots."""
    data_content: Annotated[Text, _r11("the data content")]
    """What the data shows: places, time span, events."""
    scope_of_use: Annotated[Text, _r11("the scope of use")]
    """Who will use the data, and where."""
    security_measures: Annotated[Text, _r11("the security measures")]
    """How the data will be protected: storage, access control, destruction after use."""


class Emergency(CamfleetModel):
    """Marks a grant as emergency access (R12): it needs an incident and ends at most 72 hours after it starts."""

    incident_reference: Annotated[
        ShortText, RuleRequired("an emergency grant must name its incident (emergency rule R12)")
    ]
    """Reference of the incident, e.g. the emergency command's case number."""
    description: Text | None = None
    """What happened."""


def _only_live_view_of_unconditional_data(spec: SharingGrantSpec) -> bool:
    return spec.share_class == ShareClass.UNCONDITIONAL and all(p == Permission.LIVE_VIEW for p in spec.permissions)


class SharingGrantSpec(CamfleetModel):
    """Which cameras, what the grantee may do with them, when, and why."""

    cameras: CameraSelection
    """The owner's namespace and the cameras in it, by name or by selector."""
    share_class: ShareClass = ShareClass.CONDITIONAL
    """The most protected share class this grant asks for; it tells whether the application is needed.
    Unconditional: only cameras classed Unconditional; with LiveView as the only permission no application
    is needed. Conditional: also Conditional cameras; needs `application` (R11) unless emergency.
    NotShared: also NotShared cameras; only for emergency grants (R10). Selected cameras of a more
    protected class than this are left out of the effective camera list."""
    permissions: Annotated[
        list[Permission],
        Field(max_length=4),
        ListSet(),
        RuleRequired(
            "a sharing grant must state its permissions: LiveView, Playback, PTZControl or Export (sharing rule R18)"
        ),
    ]
    """What the grantee may do: LiveView, Playback, PTZControl, Export."""
    period: Annotated[Period, RuleRequired("a sharing grant must state its period: start and end (sharing rule R18)")]
    """When access starts and ends; access ends at `end` with no human action."""
    purpose: Annotated[Text, RuleRequired("a sharing grant must state its purpose (sharing rule R11)")]
    """What the data will be used for."""
    emergency: Emergency | None = None
    """Set for emergency access (R12): needs an incident reference and ends at most 72 hours after it starts."""
    application: Application | None = None
    """Application fields (R11). Required unless the grant is an emergency, or asks only for LiveView of
    Unconditional data."""
    transcode_profile: DnsLabel | None = None
    """Transcode profile (of the owner's recording policy) the grantee receives instead of the original
    stream, e.g. a masked lower-bitrate stream."""

    cel_rules = (
        CelRule(
            rule="!has(self.permissions) || size(self.permissions) > 0",
            message="a sharing grant must state its permissions: LiveView, Playback, PTZControl or Export"
            " (sharing rule R18)",
            check=lambda spec: len(spec.permissions) > 0,
            field_path=".permissions",
        ),
        CelRule(
            rule="self.shareClass != 'NotShared' || has(self.emergency)",
            message="cameras classed NotShared are shared only through an emergency grant (share class rule R10)",
            check=lambda spec: spec.share_class != ShareClass.NOT_SHARED or spec.emergency is not None,
            field_path=".shareClass",
        ),
        CelRule(
            rule="!has(self.emergency) || !has(self.period) || self.period.end - self.period.start <= duration('72h')",
            message="an emergency grant must end at most 72 hours after it starts (emergency rule R12)",
            check=lambda spec: spec.emergency is None or spec.period.end - spec.period.start <= EMERGENCY_MAX_DURATION,
            field_path=".period.end",
        ),
        CelRule(
            rule="has(self.emergency) || has(self.application)"
            " || (self.shareClass == 'Unconditional' && has(self.permissions)"
            " && self.permissions.all(p, p == 'LiveView'))",
            message="a request for conditional data, or for more than live view, must carry the application:"
            " applicant department and contact, reason, data type and content, scope of use and security measures"
            " (application rule R11)",
            check=lambda spec: (
                spec.emergency is not None
                or spec.application is not None
                or _only_live_view_of_unconditional_data(spec)
            ),
            reason="FieldValueRequired",
            field_path=".application",
        ),
        CelRule(
            rule="has(self.emergency) == has(oldSelf.emergency)",
            message="a grant cannot become or stop being an emergency grant: request a new grant (emergency rule R12)",
            field_path=".emergency",
        ),
        CelRule(
            rule="!has(oldSelf.emergency) || (self.cameras == oldSelf.cameras"
            " && self.permissions == oldSelf.permissions && self.period == oldSelf.period"
            " && self.shareClass == oldSelf.shareClass"
            " && self.emergency == oldSelf.emergency)",
            message="an emergency grant's cameras, permissions, period and incident are fixed by its authorization;"
            " a renewal or a change is a new grant with a new authorization (emergency rule R12)",
        ),
    )


class EffectiveCamera(StatusModel):
    """A camera the grant currently covers."""

    namespace: DnsLabel
    """Owner's namespace."""
    name: ObjectName
    """Camera name."""
    permissions: Annotated[list[Permission], Field(max_length=4)] = Field(default_factory=list)
    """Permissions that hold on this camera once share class and security level are applied."""


class Decision(StrEnum):
    """A decision recorded in a grant's history."""

    REQUESTED = "Requested"
    APPROVED = "Approved"
    DENIED = "Denied"
    ACTIVATED = "Activated"
    EXPIRED = "Expired"
    REVOKED = "Revoked"
    SUPERSEDED = "Superseded"
    """A person replaced their decision with a newer one (`approval`: the older one, kept as a record)."""
    APPROVAL_REMOVED = "ApprovalRemoved"
    """A GrantApproval of this grant was deleted (`approval`: its name); the audit trail names who deleted it."""


class HistoryEntry(StatusModel):
    """One decision about the grant, for the audit trail (R16)."""

    time: Rfc3339Time
    """When the decision was taken."""
    decision: Decision
    """What was decided."""
    actor: str | None = None
    """Who decided: the approver's user name, or the operator for automatic steps such as expiry."""
    approval: ObjectName | None = None
    """The GrantApproval that carried the decision, if any."""
    message: str | None = None
    """Details."""


class SharingGrantStatus(ObjectStatus):
    """Observed state of a grant: Approved (Unknown while pending), Active, Expired, Revoked, CamerasFound and Ready
    conditions, the cameras it covers, and its decision history."""

    condition_types = SharingGrantCondition

    approval_due_time: Rfc3339Time | None = None
    """When a pending grant must be answered: 3 working days after the request (R11)."""
    approvals_required: Integer | None = Field(default=None, ge=0)
    """Approvals from distinct people the grant needs (R15)."""
    approved_by: Annotated[list[str], Field(max_length=16)] = Field(default_factory=list)
    """Distinct people who approved it so far."""
    effective_cameras: Annotated[list[EffectiveCamera], Field(max_length=1024)] = Field(default_factory=list)
    """Cameras the grant covers right now, with the permissions that hold on each."""
    history: Annotated[list[HistoryEntry], Field(max_length=64)] = Field(default_factory=list)
    """Decisions about the grant, oldest first (the full trail is in the audit log)."""
    reclassified_cameras: Annotated[list[ObjectName], Field(max_length=1024)] = Field(default_factory=list)
    """Cameras the grant covered that are withheld since the classification authority reclassified them."""


class SharingGrant(CustomResource):
    """Access of one department (the namespace of the grant) to cameras of another: permissions, period, purpose,
    and for conditional data the application of R11. Emergency grants expire at most 72 hours after they start."""

    kind: Literal["SharingGrant"] = "SharingGrant"
    """Kind of the object: SharingGrant."""
    spec: SharingGrantSpec
    """The request."""
    status: SharingGrantStatus | None = None
    """Observed state, written by the operator."""
