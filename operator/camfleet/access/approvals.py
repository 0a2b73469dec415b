"""Which GrantApprovals count (R15): distinct authenticated people, never the grantee itself.

The approver is the identity the API server authenticated when the approval was created (admission
userInfo, recorded in the approval's status), never a field a user typed. Rules:
- an approval counts only in the camera owner's namespace, where the grant's approvals live;
- nobody from the grantee department approves or denies its own grant;
- each person counts once; when a person decided more than once, their newest decision counts
  (approvals are immutable: changing one's mind means creating a new one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from camfleet.api.grant_approval import ApprovalTargetKind, GrantApproval, Verdict

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
DEFAULT_DEPARTMENT_GROUP_PREFIX = "camfleet.io/department:"


@dataclass(frozen=True)
class ApprovalFacts:
    namespace: str
    """Where the GrantApproval lives."""
    name: str
    target_kind: ApprovalTargetKind
    target_namespace: str | None
    target_name: str
    verdict: Verdict
    approver: str | None
    """Authenticated user name; None until the operator has recorded it."""
    approver_departments: frozenset[str] = frozenset()
    """Departments the approver belongs to (see `departments_of`)."""
    approver_groups: frozenset[str] = frozenset()
    """Every group of the approver, as authenticated (decides membership of an authority, e.g. R12)."""
    recorded_at: datetime | None = None
    reason: str | None = None

    @classmethod
    def from_resource(
        cls, approval: GrantApproval, group_prefix: str = DEFAULT_DEPARTMENT_GROUP_PREFIX
    ) -> ApprovalFacts:
        namespace, name = approval.metadata.namespace, approval.metadata.name
        if not namespace or not name:
            raise ValueError("an approval needs metadata.namespace and metadata.name to be counted")
        approver = approval.status.approver if approval.status is not None else None
        recorded = approval.status.recorded_time if approval.status is not None else None
        target = approval.spec.target
        return cls(
            namespace=namespace,
            name=name,
            target_kind=target.kind,
            target_namespace=target.namespace,
            target_name=target.name,
            verdict=approval.spec.verdict,
            approver=approver.username if approver is not None else None,
            approver_departments=departments_of(approver.username, approver.groups, group_prefix)
            if approver is not None
            else frozenset(),
            approver_groups=frozenset(approver.groups) if approver is not None else frozenset(),
            recorded_at=recorded or approval.metadata.creation_timestamp,
            reason=approval.spec.reason,
        )


def departments_of(
    username: str, groups: Iterable[str], group_prefix: str = DEFAULT_DEPARTMENT_GROUP_PREFIX
) -> frozenset[str]:
    """Departments an authenticated user belongs to: a service account's namespace, and every group named
    `<group_prefix><namespace>` (how an identity provider says which department a person works for)."""
    departments = {group.removeprefix(group_prefix) for group in groups if group.startswith(group_prefix)}
    if username.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace, _, _ = username.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        departments.add(namespace)
    return frozenset(departments)


@dataclass(frozen=True)
class ApprovalTally:
    approved_by: tuple[str, ...]
    """Distinct people whose decision that counts is Approve, sorted."""
    denials: tuple[ApprovalFacts, ...]
    """Decisions that count and are Deny."""
    not_counted: tuple[str, ...]
    """Each approval that does not count, and why."""


def tally_approvals(grantee: str, grant_name: str, owner: str, approvals: Iterable[ApprovalFacts]) -> ApprovalTally:
    """Count the approvals of the grant `grantee/grant_name` on cameras of department `owner`."""
    mine = [
        a
        for a in approvals
        if a.target_kind == ApprovalTargetKind.SHARING_GRANT
        and a.target_namespace == grantee
        and a.target_name == grant_name
    ]
    not_counted: list[str] = []
    newest: dict[str, ApprovalFacts] = {}
    for approval in sorted(mine, key=_oldest_first):
        who = approval.approver
        refusal = (
            _refusal(approval, grantee, owner) if who is not None else "the approver's identity is not recorded yet"
        )
        if refusal is not None or who is None:
            not_counted.append(f"approval {approval.namespace}/{approval.name}: {refusal}")
            continue
        earlier = newest.get(who)
        if earlier is not None:
            not_counted.append(
                f"approval {earlier.namespace}/{earlier.name}: {who} decided again in {approval.name};"
                " one person counts once, with their newest decision (R15)"
            )
        newest[who] = approval

    approved_by = tuple(sorted(who for who, a in newest.items() if a.verdict == Verdict.APPROVE))
    denials = tuple(a for _, a in sorted(newest.items()) if a.verdict == Verdict.DENY)
    return ApprovalTally(approved_by, denials, tuple(not_counted))


def _oldest_first(approval: ApprovalFacts) -> tuple[bool, datetime | None, str]:
    # Approvals not yet stamped sort first, so that any stamped decision is newer than them.
    return (approval.recorded_at is not None, approval.recorded_at, approval.name)


def _refusal(approval: ApprovalFacts, grantee: str, owner: str) -> str | None:
    if approval.namespace != owner:
        return f"approvals of this grant are made in the camera owner's namespace {owner}"
    if grantee in approval.approver_departments:
        return f"{approval.approver} belongs to the grantee department {grantee}, which cannot decide on its own grant"
    return None
