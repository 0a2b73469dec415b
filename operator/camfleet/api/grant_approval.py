"""GrantApproval: one person's approval or denial of a SharingGrant or a FootageExport.

It lives in the camera owner's namespace. Who approved is taken from the API request that created
it (admission userInfo, written to status by the operator), never from a field a user can type.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from camfleet.api.base import CamfleetModel, CustomResource, StatusModel
from camfleet.api.conditions import ObjectStatus
from camfleet.api.rules import Cel, CelRule, immutable
from camfleet.api.types import DnsLabel, ObjectName, Rfc3339Time, ShortText, Text


class ApprovalTargetKind(StrEnum):
    """Kinds that need approvals."""

    SHARING_GRANT = "SharingGrant"
    FOOTAGE_EXPORT = "FootageExport"


class Verdict(StrEnum):
    """An approver's answer."""

    APPROVE = "Approve"
    DENY = "Deny"


class ApprovalTarget(CamfleetModel):
    """The object being approved."""

    kind: ApprovalTargetKind = ApprovalTargetKind.SHARING_GRANT
    """SharingGrant or FootageExport."""
    namespace: DnsLabel | None = None
    """Namespace of the target. Required for a SharingGrant (it lives in the grantee's namespace). For a
    FootageExport, left out: the export in this approval's namespace; set to the requester's namespace when the
    camera owner approves an extraction of its cameras by level (R13), which counts only from the owner's namespace
    (the export controller ignores approvals of an export given anywhere else)."""
    name: ObjectName
    """Name of the target."""

    cel_rules = (
        CelRule(
            rule="self.kind != 'SharingGrant' || has(self.namespace)",
            message="an approval of a sharing grant must name the grantee's namespace",
            check=lambda target: target.kind != ApprovalTargetKind.SHARING_GRANT or target.namespace is not None,
            reason="FieldValueRequired",
            field_path=".namespace",
        ),
    )


class GrantApprovalSpec(CamfleetModel):
    """The decision. Immutable: to change one's mind, create a new approval (the newest one counts)."""

    target: ApprovalTarget
    """The grant or export decided on."""
    verdict: Verdict
    """Approve or Deny."""
    reason: Text | None = None
    """Why; required for a denial, which the applicant is told."""
    document_reference: ShortText | None = None
    """Reference of the approval document (R15)."""

    cel_rules = (
        CelRule(
            rule="self.verdict != 'Deny' || has(self.reason)",
            message="a denial must give its reason, which the applicant is told (application rule R11)",
            check=lambda spec: spec.verdict != Verdict.DENY or spec.reason is not None,
            reason="FieldValueRequired",
            field_path=".reason",
        ),
    )


class Approver(StatusModel):
    """The authenticated identity that created the approval, from the API request."""

    username: str
    """User name."""
    uid: str | None = None
    """User ID."""
    groups: Annotated[list[str], Field(max_length=64)] = Field(default_factory=list)
    """Groups of the user."""


class GrantApprovalCondition(StrEnum):
    """Condition types a GrantApproval reports: Ready is True once the approver's identity is recorded, False
    (IdentityNotRecorded) for an approval that will never count."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    """kstatus: True while the operator's own work for this generation is under way; the reason says which."""
    STALLED = "Stalled"
    """kstatus: True, with a CamelCase reason and a message, when it cannot proceed until someone changes
    something (Flux then reports Failed, Argo CD Degraded)."""


class GrantApprovalStatus(ObjectStatus):
    """Observed state: who approved, when, and whether the decision counted."""

    condition_types = GrantApprovalCondition

    approver: Approver | None = None
    """Identity that created this approval (from admission userInfo)."""
    recorded_time: Rfc3339Time | None = None
    """When the decision was written to the audit trail (R16)."""


class GrantApproval(CustomResource):
    """An approval or denial of one SharingGrant or FootageExport, by the person who creates it. Two approvals
    must come from two different people (R15)."""

    kind: Literal["GrantApproval"] = "GrantApproval"
    """Kind of the object: GrantApproval."""
    spec: Annotated[
        GrantApprovalSpec,
        Cel(immutable("an approval is a record and cannot be edited; create a new GrantApproval (audit rule R16)")),
    ]
    """The decision."""
    status: GrantApprovalStatus | None = None
    """Observed state, written by the operator."""
