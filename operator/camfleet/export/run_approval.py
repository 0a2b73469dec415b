"""Whether a FootageExport may run (R15): two approvals by two distinct people, none of them the requester;
any counted denial stops it. Pure.

An export with `maskPrivacy: false` hands over footage with the privacy areas visible (R17), so one of the counted
approvers must also be a member of the classification authority (CamfleetAuthorities `classification`, read from
the approver's verified stamp: user name and groups); until one approves, the export waits.

Approvals bind like a grant's (`access.approvals`): one counts only with the admission webhook's verified stamp,
given for this export's uid and content (digest over cameras, ranges, purpose, case reference, maskPrivacy and
storage class). An export deleted and created again under the same name never inherits approvals; content that
changed after an approval voids it. The requester is known only from its verified stamp too: without one,
nobody can be told apart from the requester, so no approval counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from camfleet.access.identity import Binding, content_digest
from camfleet.api.authorities import AuthorityMembers
from camfleet.api.footage_export import FootageExport, FootageExportSpec

APPROVALS_NEEDED = 2

EXPORT_CONTENT_FIELDS = ("cameras", "ranges", "purpose", "caseReference", "maskPrivacy", "storageClassName")
"""Every field of an export that decides what is extracted: approvals bind to a digest over exactly these."""

EXTRACTION_FIELDS = ("sourceNamespace", "documentReference")
"""Fields of an extraction by level (R13): in the digest only when set, so that the digests of exports made before
they existed, and the approvals bound to them, stay valid."""


class ExportPhase(StrEnum):
    PENDING = "Pending"
    DENIED = "Denied"
    AWAITING_CLASSIFICATION = "AwaitingClassificationAuthority"
    """Two people approved an unmasked export, none of them of the classification authority (R17)."""
    APPROVED = "Approved"


def export_content(spec: FootageExportSpec) -> dict[str, Any]:
    api = spec.to_api()
    content = {field: api.get(field) for field in EXPORT_CONTENT_FIELDS}
    content.update({field: api[field] for field in EXTRACTION_FIELDS if api.get(field) is not None})
    content["cameras"] = sorted(spec.cameras)
    content["maskPrivacy"] = spec.mask_privacy
    return content


def export_binding(export: FootageExport, uid: str | None = None) -> Binding | None:
    """What an approval of this export must be bound to (`uid` overrides the stored one, e.g. "" at creation)."""
    bound_uid = export.metadata.uid if uid is None else uid
    if bound_uid is None:
        return None
    return Binding(bound_uid, export.metadata.generation or 0, content_digest(export_content(export.spec)))


@dataclass(frozen=True)
class ExportApproval:
    name: str
    approver: str | None  # None: no verified stamp, so it cannot count
    approve: bool
    reason: str | None = None
    approver_groups: frozenset[str] = frozenset()
    """The approver's groups as the API server authenticated them (from the verified stamp)."""
    binding: Binding | None = None
    """The export and content the approval was given for (from its verified stamp)."""
    problem: str | None = None
    """Why there is no verified approver, in words."""


ApprovalOrNone = ExportApproval | None


@dataclass(frozen=True)
class ExportDecision:
    phase: ExportPhase
    approved_by: tuple[str, ...]
    message: str
    voided: tuple[str, ...] = ()
    """Approvals given for this export whose content changed since: voided."""


def _binding_problem(approval: ExportApproval, current: Binding | None) -> tuple[str | None, bool]:
    bound = approval.binding
    if current is None:
        return None, False  # the caller did not bind (unit use): count by identity alone
    if bound is None:
        return "was made before the export existed, so it approves nothing", False
    if bound.uid != current.uid:
        return f"was given for an earlier export of the same name (uid {bound.uid}); it is not inherited", False
    if not approval.approve:
        return None, False  # a denial stands for the export, whatever its content became: only approvals void
    if bound.generation != current.generation or bound.digest != current.digest:
        return "voided: the export's content changed after it was given", True
    return None, False


def tally_export_approvals(
    requester: str | None, approvals: Iterable[ApprovalOrNone], current: Binding | None = None
) -> tuple[dict[str, ExportApproval], list[str], list[str]]:
    """The approvals that count, one per person; why the others do not; and which were voided."""
    counted: dict[str, ExportApproval] = {}
    ignored: list[str] = []
    voided: list[str] = []
    for approval in sorted((a for a in approvals if a is not None), key=lambda a: a.name):
        problem, was_voided = _binding_problem(approval, current)
        if was_voided:
            voided.append(approval.name)
        if approval.approver is None:
            ignored.append(f"{approval.name}: {approval.problem or 'approver identity not recorded'}")
        elif problem is not None:
            ignored.append(f"{approval.name}: {problem}")
        elif requester is not None and approval.approver == requester:
            ignored.append(f"{approval.name}: {approval.approver} requested the export and cannot approve it")
        else:
            counted[approval.approver] = approval  # each person counts once
    return counted, ignored, voided


def export_decision(
    requester: str | None,
    mask_privacy: bool,
    approvals: Iterable[ApprovalOrNone],
    current: Binding | None = None,
    requester_problem: str | None = None,
    classification: AuthorityMembers | None = None,
) -> ExportDecision:
    """`current`: the export's uid, generation and content digest, to which approvals must be bound.
    `requester_problem`: why the requester is not known (no verified stamp); then nothing counts.
    `classification`: the classification authority (None: not configured, so no unmasked export can run)."""
    counted, ignored, voided = tally_export_approvals(requester, approvals, current)
    if requester_problem is not None:
        return ExportDecision(
            ExportPhase.PENDING,
            (),
            f"the export {requester_problem}: its requester cannot be told apart from its approvers, so no approval"
            " counts; create it again while the admission webhook serves (R15)",
            tuple(voided),
        )
    approvers = tuple(sorted(who for who, a in counted.items() if a.approve))
    note = f" (not counted: {'; '.join(ignored)})" if ignored else ""
    denials = [a for a in counted.values() if not a.approve]
    if denials:
        first = denials[0]
        why = f": {first.reason}" if first.reason else ""
        return ExportDecision(ExportPhase.DENIED, approvers, f"denied by {first.approver}{why}{note}", tuple(voided))
    if len(approvers) < APPROVALS_NEEDED:
        missing = APPROVALS_NEEDED - len(approvers)
        voided_words = "approvals voided by a change of the export's content; " if voided else ""
        unmasked = "" if mask_privacy else ", one of them of the classification authority (unmasked export, R17)"
        return ExportDecision(
            ExportPhase.PENDING,
            approvers,
            f"{voided_words}waiting for {missing} more approval(s) from distinct people other than the requester"
            f"{unmasked} (R15){note}",
            tuple(voided),
        )
    if not mask_privacy:
        classifiers = classification_approvers(counted, classification)
        if not classifiers:
            members = classification.describe() if classification is not None else "not configured"
            return ExportDecision(
                ExportPhase.AWAITING_CLASSIFICATION,
                approvers,
                f"approved by {', '.join(approvers)}, but the export has maskPrivacy: false: the privacy areas stay"
                f" visible, so the classification authority ({members}) must approve it too (R17){note}",
            )
        return ExportDecision(
            ExportPhase.APPROVED,
            approvers,
            f"approved by {', '.join(approvers)} (R15), unmasked with the classification authority's approval by"
            f" {', '.join(classifiers)} (R17){note}",
        )
    return ExportDecision(ExportPhase.APPROVED, approvers, f"approved by {', '.join(approvers)} (R15){note}")


def classification_approvers(
    counted: dict[str, ExportApproval], classification: AuthorityMembers | None
) -> tuple[str, ...]:
    """The counted approvers who are members of the classification authority."""
    if classification is None:
        return ()
    return tuple(
        sorted(
            who
            for who, approval in counted.items()
            if approval.approve and classification.includes(who, approval.approver_groups)
        )
    )
