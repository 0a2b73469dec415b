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
  (approvals are immutable: changing one's mind means creating a new one, with the other verdict). The older
  decision stays as a record and is reported as superseded (`ApprovalTally.superseded`), in the grant's history
  and the audit trail.

Approvals are human acts (see docs/concepts.md, "Approvals and GitOps"): `gitops_refusal` says why one made by
a service account, such as a GitOps controller applying a manifest from Git, is refused at admission.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from camfleet.access.identity import APPROVAL_STAMP_ANNOTATION, Binding, StampError, read_stamp
from camfleet.api.grant_approval import ApprovalTargetKind, GrantApproval, Verdict

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
PLUGIN_HINT = "kubectl camfleet approve|deny"
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
    """When the approval was made: the stamp's time (microseconds) when verified, else its creationTimestamp."""
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
            recorded_at=_stamp_time(stamp.time) or facts.recorded_at,
            approver=stamp.username,
            approver_departments=departments_of(stamp.username, stamp.groups, group_prefix),
            approver_groups=frozenset(stamp.groups),
            binding=stamp.binding,
        )


def _stamp_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


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


def gitops_refusal(username: str) -> str | None:
    """Why `username` may not make an approval (None: it may). A service account is software: a GitOps controller
    (Argo CD, Flux) applying an approval kept in Git would be stamped as the approver, and two approvals applied
    from Git would be one controller deciding twice. Approvals are the acts of the people who decide (R15)."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    return (
        f"{username} is a service account (a GitOps controller or other software): approvals are decisions of the"
        " people who approve, made by each person with their own identity, never applied from Git (rule R15); the"
        f" approver runs `{PLUGIN_HINT}` (or creates the GrantApproval through the API as themselves), and"
        " GrantApprovals are left out of the Git source (docs/gitops/README.md)"
    )


@dataclass(frozen=True)
class Supersession:
    """One person replaced their decision on an object with a newer one; the newest counts, the older stays."""

    person: str
    older: str
    """Name of the superseded GrantApproval."""
    older_verdict: Verdict
    newer: str
    """Name of the GrantApproval that counts now."""
    newer_verdict: Verdict

    def describe(self) -> str:
        return (
            f"{self.person} replaced {self.older_verdict} ({self.older}) with {self.newer_verdict} ({self.newer});"
            " the newest decision counts (R15)"
        )


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
    superseded: tuple[Supersession, ...] = ()
    """Decisions a person replaced with a newer one, oldest first."""


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
    superseded: list[Supersession] = []
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
            superseded.append(Supersession(who, earlier.name, earlier.verdict, approval.name, approval.verdict))
        newest[who] = approval

    approved_by = tuple(sorted(who for who, a in newest.items() if a.verdict == Verdict.APPROVE))
    denials = tuple(a for _, a in sorted(newest.items()) if a.verdict == Verdict.DENY)
    return ApprovalTally(approved_by, denials, tuple(not_counted), tuple(voided), tuple(superseded))


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


@dataclass(frozen=True)
class RemovalContext:
    """A request to delete a GrantApproval, as the admission webhook sees it."""

    approval: str
    """namespace/name of the approval."""
    target: str
    """`Kind namespace/name` of the grant or export it decides on."""
    verdict: str
    approver: str
    target_lives: bool
    """The target exists and is not being deleted."""
    namespace_ending: bool
    """The approval's own namespace is being deleted (the department goes, with its records)."""
    by_operator: bool

    def why_admitted(self) -> str:
        if self.by_operator:
            return f"deleted by the operator; {self.target} {'exists' if self.target_lives else 'is gone'}"
        if self.namespace_ending:
            return "its namespace is being deleted"
        return f"{self.target} it decided on is gone"


def judge_removal(context: RemovalContext) -> str | None:
    """Why the approval may not be deleted (None: it may). A decision is a record (R16): while the grant or export it
    decides on lives, deleting it would silently undo it (a Denied grant would wait for approvals again). Only the
    operator deletes one then; with the target gone, or the whole namespace going, anyone allowed to may."""
    if context.by_operator or context.namespace_ending or not context.target_lives:
        return None
    return (
        f"GrantApproval {context.approval} records {context.approver}'s {context.verdict} of {context.target}, which"
        " still exists: an approval is a record and is not deleted while what it decides on lives (audit rule R16)."
        f" To change a decision, its approver makes a newer one (`{PLUGIN_HINT}`; the newest counts); to end the"
        " request, delete the grant or export itself"
    )


@dataclass(frozen=True)
class PastDecision:
    """A person's earlier stamped decision on the same grant, as it is now."""

    created: str
    """The stamp's time (RFC 3339 UTC, microseconds: sorts as time), else the creationTimestamp."""
    name: str
    verdict: str


def repeat_refusal(username: str, verdict: str, earlier: Iterable[PastDecision]) -> str | None:
    """Why a person's new decision is refused (None: it is taken): the same verdict as their newest decision adds
    nothing, since one person counts once (R15). The other verdict supersedes it: the newest counts."""
    newest = max(earlier, key=lambda decision: (decision.created, decision.name), default=None)
    if newest is None or newest.verdict != verdict:
        return None
    other = "deny" if verdict == Verdict.APPROVE else "approve"
    return (
        f"{username} already decided {verdict} on this grant ({newest.name}); one person counts once, and the two"
        f" approvals must come from two different people (rule R15). To change your decision, {other} it"
        f" (`kubectl camfleet {other}`): the newest decision counts"
    )
