"""FootageExport: extraction of recordings for evidence (R15).

It lives in the camera owner's namespace, needs approvals from two distinct people (GrantApproval
objects with target kind FootageExport), produces a copy with a SHA-256 manifest, and is written to
the audit trail.

Extraction by level (R13): a department holding level 1 or 2 through an AccessTier (inside its window) may
request, in its own namespace, an export of another department's cameras by naming that department in
`sourceNamespace` and citing the authorizing document in `documentReference`. The two approvals (R15) are then
the owner's: GrantApprovals in the owner's namespace naming the export (target namespace: the requester's).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from camfleet.api.base import CamfleetModel, CustomResource, StatusModel
from camfleet.api.common import Period
from camfleet.api.conditions import ObjectStatus
from camfleet.api.rules import Cel, CelRule, ListSet, RuleRequired, immutable
from camfleet.api.types import DnsLabel, Flag, Integer, ObjectName, Rfc3339Time, ShortText, Text

MAX_RANGE = timedelta(hours=24)
"""Longest time range one export entry may cover; longer spans are split into several ranges."""

BOUNDED_RANGE = CelRule(
    rule="self.end - self.start <= duration('24h')",
    message="an export time range may cover at most 24 hours; split longer spans (evidence rule R15)",
    check=lambda period: period.end - period.start <= MAX_RANGE,
    field_path=".end",
)

_R15 = "(evidence rule R15)"

DOCUMENT_FOR_EXTRACTION = CelRule(
    rule="!has(self.sourceNamespace) || has(self.documentReference)",
    message="an export of another department's cameras (sourceNamespace) must cite the document authorizing the"
    " extraction in documentReference (extraction by level, rules R13 and R15)",
    check=lambda spec: spec.source_namespace is None or spec.document_reference is not None,
    field_path=".documentReference",
)


class FootageExportSpec(CamfleetModel):
    """What to extract, why, and how."""

    cameras: Annotated[list[ObjectName], Field(min_length=1, max_length=16), ListSet()]
    """Cameras whose recordings are extracted: in this namespace, or in `sourceNamespace` when set."""
    ranges: Annotated[list[Annotated[Period, Cel(BOUNDED_RANGE)]], Field(min_length=1, max_length=8)]
    """Time ranges to extract; each starts before it ends and covers at most 24 hours."""
    purpose: Annotated[Text, RuleRequired(f"a footage export must state its purpose {_R15}")]
    """What the footage is needed for."""
    case_reference: Annotated[
        ShortText, RuleRequired(f"a footage export must cite the case or approval document it serves {_R15}")
    ]
    """Case number or approval document the export serves."""
    mask_privacy: Flag = True
    """Blank the cameras' privacy masks in the copy (R17): each segment is re-encoded with black over exactly the
    mask polygons. False exports the original footage and also needs the classification authority's approval."""
    storage_class_name: ObjectName | None = None
    """StorageClass of the volume that receives the copy, which must be marked encrypted (R17); the cluster default
    when left out."""
    source_namespace: DnsLabel | None = None
    """The department owning the cameras, when it is another one: an extraction by level (R13). The requester must
    hold level 1 (or level 2, restricted zones excluded) through an AccessTier, inside its window; the two
    approvals are the owner's, given in that namespace; the copy Job and a staging volume run there (a volume can be
    mounted only in its own namespace); once the copy succeeded, its volume is handed over to this namespace (the
    PersistentVolume is kept and bound to a claim here) and the owner-side Job and claim are deleted."""
    document_reference: ShortText | None = None
    """The document authorizing an extraction by level (required with `sourceNamespace`); written to the audit
    trail with every decision on the export."""

    cel_rules = (DOCUMENT_FOR_EXTRACTION,)


class ExportedFile(StatusModel):
    """One file of the copy."""

    path: str
    """Path inside the export volume."""
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    """SHA-256 of the file, hex."""
    size_bytes: Integer = Field(ge=0)
    """Size in bytes."""


class FootageExportCondition(StrEnum):
    """Condition types a FootageExport reports."""

    APPROVED = "Approved"
    """Unknown while approvals are outstanding (for maskPrivacy: false, also the classification authority's), True
    with two distinct approvers, False when denied."""
    COMPLETED = "Completed"
    """True once every export Job has copied its camera's footage; False while it may not run (e.g.
    StorageNotEncrypted), runs or failed."""
    READY = "Ready"
    """True when settled: Completed, or AwaitingApproval while people must approve (kstatus Current); False while
    the copy runs (Reconciling) or when it cannot proceed (Stalled, same reason)."""
    RECONCILING = "Reconciling"
    """kstatus: True while the operator's own work for this generation is under way; the reason says which."""
    STALLED = "Stalled"
    """kstatus: True, with a CamelCase reason and a message, when it cannot proceed until someone changes
    something (Flux then reports Failed, Argo CD Degraded)."""


class FootageExportStatus(ObjectStatus):
    """Observed state: approvals, progress (conditions Approved, Completed, Ready) and the result."""

    condition_types = FootageExportCondition

    approved_by: Annotated[list[str], Field(max_length=16)] = Field(default_factory=list)
    """Distinct people who approved the export so far; two are needed."""
    persistent_volume_claim: ObjectName | None = None
    """Volume holding the copy."""
    volume_namespace: DnsLabel | None = None
    """Namespace of that volume: the export's own; for an extraction by level, the camera owner's while the copy is
    made there, then the requester's once the volume is handed over (Completed reason VolumeHandedOver)."""
    manifest_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    """SHA-256 of the manifest, which lists every file with its own SHA-256."""
    files: Annotated[list[ExportedFile], Field(max_length=1024)] = Field(default_factory=list)
    """Files of the copy."""
    completed_time: Rfc3339Time | None = None
    """When the copy was complete."""


class FootageExport(CustomResource):
    """An extraction of recordings for evidence: two distinct approvers, a verified copy, an audit record."""

    kind: Literal["FootageExport"] = "FootageExport"
    """Kind of the object: FootageExport."""
    spec: Annotated[
        FootageExportSpec,
        Cel(immutable(f"an export cannot be changed once requested; create a new FootageExport {_R15}")),
    ]
    """The request. Immutable: approvals apply to exactly what was asked."""
    status: FootageExportStatus | None = None
    """Observed state, written by the operator."""
