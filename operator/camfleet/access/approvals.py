"""Which GrantApprovals count (R15): distinct authenticated people, never the grantee itself, for exactly what
they approved.

The approver is the identity the admission webhook sealed into the approval's stamp when it was created
(`access.identity`), never a field a user typed and never a `status.approver` already present. Rules:
- an approval counts only with a valid stamp: its seal verifies under the operator's key and names this
  approval (namespace, name, verdict, target);
- it counts only for the object and content it was given for: the stamp's uid, generation and content digest
  must be the grant's current ones. A recreated grant (new uid) never inherits approvals; a change to the
  content after an approval voids it (`voided`), and the grant says so;
- an approval counts only in the camera owner's namespace, where the grant's approvals live;
- nobody from the grantee department approves or denies its own grant;
- each person counts once; when a person decided more than once, their newest decision counts
  (approvals are immutable: changing one's mind means creating a new one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from camfleet.access.identity import APPROVAL_STAMP_ANNOTATION, Binding, StampError, read_stamp
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
    """Authenticated user name from the verified stamp; None when the approval has no valid stamp."""
    approver_departments: frozenset[str] = frozenset()
    """Departments the approver belongs to (see `departments_of`)."""
    approver_groups: frozenset[str] = frozenset()
    """Every group of the approver, from the verified stamp (decides membership of an authority, e.g. R12)."""
    recorded_at: datetime | None = None
    reason: str | None = None
    binding: Binding | None = None
    """The object and content the approval was given for (from the verified stamp)."""
    stamp_problem: str | None = None
    """Why the approval has no verified approver, in words ("has no valid stamp: ...")."""

    @classmethod
    def from_resource(
        cls,
        approval: GrantApproval,
        stamp_keys: Iterable[bytes] = (),
        group_prefix: str = DEFAULT_DEPARTMENT_GROUP_PREFIX,
    ) -> ApprovalFacts:
        """The approval as counted: identity and binding from its stamp, verified under `stamp_keys`."""
        namespace, name = approval.metadata.namespace, approval.metadata.name
        if not namespace or not name:
            raise ValueError("an approval needs metadata.namespace and metadata.name to be counted")
        target = approval.spec.target
        facts = cls(
            namespace=namespace,
            name=name,
            target_kind=target.kind,
            target_namespace=target.namespace,
            target_name=target.name,
            verdict=approval.spec.verdict,
            approver=None,
            recorded_at=approval.metadata.creation_timestamp,
            reason=approval.spec.reason,
        )
        raw = (approval.metadata.annotations or {}).get(APPROVAL_STAMP_ANNOTATION)
        try:
            stamp = read_stamp(stamp_keys, raw)
        except StampError as error:
            return replace(facts, stamp_problem=str(error))
        expected = (namespace, name, str(approval.spec.verdict), str(target.kind), target.namespace or namespace)
        stamped = (stamp.subject_namespace, stamp.subject_name, stamp.verdict, stamp.target_kind)
        if (*stamped, stamp.target_namespace) != expected or stamp.target_name != target.name:
            return replace(facts, stamp_problem="has a stamp made for another approval (copied, not the webhook's)")
        return replace(
            facts,
            approver=stamp.username,
            approver_departments=departments_of(stamp.username, stamp.groups, group_prefix),
            approver_groups=frozenset(stamp.groups),
            binding=stamp.binding,
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
    voided: tuple[str, ...] = ()
    """Approvals given for this very object whose content has changed since: voided by the change."""


def binding_refusal(approval: ApprovalFacts, current: Binding | None) -> tuple[str | None, bool]:
    """Why the approval does not bind to the object as it is now (None: it does), and whether it was voided by a
    change of the object's content (rather than given for another object)."""
    bound = approval.binding
    if current is None:
        return "does not count: the approved object has no uid yet", False
    if bound is None:
        return "was made before the approved object existed, so it approves nothing (approvals bind to it)", False
    if bound.uid != current.uid:
        return (
            f"was given for an earlier object of the same name (uid {bound.uid}); a recreated object never inherits"
            " approvals (R15)",
            False,
        )
    if approval.verdict == Verdict.DENY:
        return None, False  # a denial stands for the object, whatever its content became: only approvals void
    if bound.generation != current.generation or bound.digest != current.digest:
        return (
            f"voided: the content changed after it was given (approved generation {bound.generation}, now"
            f" {current.generation}); approve the new content with a new approval (R15)",
            True,
        )
    return None, False


def tally_approvals(
    grantee: str, grant_name: str, owner: str, approvals: Iterable[ApprovalFacts], current: Binding | None = None
) -> ApprovalTally:
    """Count the approvals of the grant `grantee/grant_name` on cameras of department `owner`, as it is now
    (`current`: its uid, generation and content digest)."""
    mine = [
        a
        for a in approvals
        if a.target_kind == ApprovalTargetKind.SHARING_GRANT
        and a.target_namespace == grantee
        and a.target_name == grant_name
    ]
    not_counted: list[str] = []
    voided: list[str] = []
    newest: dict[str, ApprovalFacts] = {}
    for approval in sorted(mine, key=_oldest_first):
        refusal, was_voided = _refusal(approval, grantee, owner, current)
        if was_voided:
            voided.append(approval.name)
        if refusal is not None or approval.approver is None:
            not_counted.append(f"approval {approval.namespace}/{approval.name} {refusal}")
            continue
        who = approval.approver
        earlier = newest.get(who)
        if earlier is not None:
            not_counted.append(
                f"approval {earlier.namespace}/{earlier.name}: {who} decided again in {approval.name};"
                " one person counts once, with their newest decision (R15)"
            )
        newest[who] = approval

    approved_by = tuple(sorted(who for who, a in newest.items() if a.verdict == Verdict.APPROVE))
    denials = tuple(a for _, a in sorted(newest.items()) if a.verdict == Verdict.DENY)
    return ApprovalTally(approved_by, denials, tuple(not_counted), tuple(voided))


def _oldest_first(approval: ApprovalFacts) -> tuple[bool, datetime | None, str]:
    # Approvals not yet stamped sort first, so that any stamped decision is newer than them.
    return (approval.recorded_at is not None, approval.recorded_at, approval.name)


def _refusal(approval: ApprovalFacts, grantee: str, owner: str, current: Binding | None) -> tuple[str | None, bool]:
    if approval.approver is None:
        return approval.stamp_problem or "has no valid stamp from the admission webhook", False
    if approval.namespace != owner:
        return f"does not count: approvals of this grant are made in the camera owner's namespace {owner}", False
    if grantee in approval.approver_departments:
        return (
            f"does not count: {approval.approver} belongs to the grantee department {grantee}, which cannot decide"
            " on its own grant",
            False,
        )
    return binding_refusal(approval, current)
