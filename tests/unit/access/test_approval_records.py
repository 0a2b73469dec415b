"""Approvals as records (issue 18, finding 2): made by people, not from Git; a newer decision of the same person
supersedes the older one, which stays in the grant's history; an approval is not deleted while its grant lives."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from camfleet.access.approvals import (
    PastDecision,
    RemovalContext,
    gitops_refusal,
    judge_removal,
    repeat_refusal,
    tally_approvals,
)
from camfleet.access.grant_status import grant_status, phase_of_status
from camfleet.access.lifecycle import GrantPhase, grant_phase
from camfleet.api.grant_approval import Verdict
from camfleet.api.sharing_grant import Decision
from tests.unit.access.builders import ME, NOW, OWNER
from tests.unit.access.test_lifecycle import BOUND, CONDITIONAL, approval, conditional_grant


@pytest.mark.parametrize(
    "username",
    [
        "system:serviceaccount:argocd:argocd-application-controller",
        "system:serviceaccount:flux-system:kustomize-controller",
    ],
)
def test_an_approval_applied_by_a_gitops_controller_is_refused_with_what_to_do(username: str) -> None:
    refusal = gitops_refusal(username)
    assert refusal is not None
    assert username in refusal
    assert "service account" in refusal
    assert "never applied from Git" in refusal
    assert "kubectl camfleet approve|deny" in refusal
    assert "docs/gitops/README.md" in refusal


@pytest.mark.parametrize("username", ["alice", "alice@city.example", "oidc:system:serviceaccount-fan"])
def test_people_may_approve(username: str) -> None:
    assert gitops_refusal(username) is None


def test_the_newest_decision_of_a_person_counts_and_the_older_is_superseded() -> None:
    approve = approval("alice", name="alice-yes", recorded_at=NOW - timedelta(minutes=2))
    deny = approval("alice", Verdict.DENY, name="alice-no", recorded_at=NOW - timedelta(minutes=1), reason="no")
    tally = tally_approvals(ME, "g", OWNER, [deny, approve], BOUND)

    assert tally.approved_by == ()
    assert [d.name for d in tally.denials] == ["alice-no"]
    [change] = tally.superseded
    assert (change.person, change.older, change.newer) == ("alice", "alice-yes", "alice-no")
    assert (
        change.describe() == "alice replaced Approve (alice-yes) with Deny (alice-no); the newest decision counts (R15)"
    )


def test_decisions_in_the_same_second_are_ordered_by_their_stamp_time_not_their_name() -> None:
    # "a-later" sorts before "z-earlier" by name; the stamp's microseconds decide.
    first = approval("alice", name="z-earlier", recorded_at=NOW + timedelta(microseconds=10))
    second = approval("alice", Verdict.DENY, name="a-later", recorded_at=NOW + timedelta(microseconds=20), reason="x")
    tally = tally_approvals(ME, "g", OWNER, [first, second], BOUND)
    assert [d.name for d in tally.denials] == ["a-later"]


def test_a_replaced_approval_turns_an_active_grant_to_denied_and_the_history_says_why() -> None:
    yes = [approval("alice", name="alice-yes"), approval("bob", name="bob-yes")]
    active = grant_phase(conditional_grant(), CONDITIONAL, yes, NOW)
    assert active.phase is GrantPhase.ACTIVE
    status, _ = grant_status(None, 1, active, [], NOW)

    bob_no = approval("bob", Verdict.DENY, name="bob-no", recorded_at=NOW, reason="the purpose is too broad")
    denied = grant_phase(conditional_grant(), CONDITIONAL, [*yes, bob_no], NOW + timedelta(minutes=1))
    assert denied.phase is GrantPhase.DENIED
    after, _ = grant_status(status, 1, denied, [], NOW + timedelta(minutes=1))

    decisions = [(entry.decision, entry.approval, entry.actor) for entry in after.history]
    assert decisions[-2:] == [(Decision.SUPERSEDED, "bob-yes", "bob"), (Decision.DENIED, None, "camfleet-operator")]
    assert "bob replaced Approve (bob-yes) with Deny (bob-no)" in (after.history[-2].message or "")
    assert phase_of_status(after) is GrantPhase.DENIED

    # Told once: the next pass adds nothing.
    again, _ = grant_status(after, 1, denied, [], NOW + timedelta(minutes=2))
    assert again.history == after.history


def test_a_removed_approval_is_in_the_history_and_the_phase_is_still_read_back() -> None:
    alice_no = approval("alice", Verdict.DENY, name="alice-no", reason="no")
    denied = grant_phase(conditional_grant(), CONDITIONAL, [alice_no], NOW)
    status, _ = grant_status(None, 1, denied, [], NOW)
    pending = grant_phase(conditional_grant(), CONDITIONAL, [], NOW + timedelta(minutes=1))
    removed = [("alice-no", "Deny by alice was deleted; it no longer counts (see the audit trail)")]
    after, _ = grant_status(status, 1, pending, [], NOW + timedelta(minutes=1), removed=removed)

    entries = [(entry.decision, entry.approval) for entry in after.history]
    assert entries[-2:] == [(Decision.APPROVAL_REMOVED, "alice-no"), (Decision.REQUESTED, None)]
    assert phase_of_status(after) is GrantPhase.PENDING
    only_record, _ = grant_status(status, 1, denied, [], NOW + timedelta(minutes=1), removed=removed)
    assert only_record.history[-1].decision is Decision.APPROVAL_REMOVED
    assert phase_of_status(only_record) is GrantPhase.DENIED


def test_the_same_verdict_again_is_refused_and_the_other_supersedes() -> None:
    earlier = [PastDecision("2030-08-12T10:00:00.000001+00:00", "alice-yes", "Approve")]
    refusal = repeat_refusal("alice", "Approve", earlier)
    assert refusal is not None
    assert "alice already decided Approve on this grant (alice-yes)" in refusal
    assert "two different people (rule R15)" in refusal
    assert "`kubectl camfleet deny`" in refusal
    assert repeat_refusal("alice", "Deny", earlier) is None

    changed_back = [*earlier, PastDecision("2030-08-12T10:00:00.000002+00:00", "alice-no", "Deny")]
    assert repeat_refusal("alice", "Approve", changed_back) is None
    assert repeat_refusal("alice", "Deny", changed_back) is not None
    assert repeat_refusal("alice", "Approve", []) is None


REMOVAL = RemovalContext(
    approval="owner/alice-no",
    target="SharingGrant grantee/crossings",
    verdict="Deny",
    approver="alice",
    target_lives=True,
    namespace_ending=False,
    by_operator=False,
)


def test_an_approval_of_a_living_grant_cannot_be_deleted_by_a_user() -> None:
    refusal = judge_removal(REMOVAL)
    assert refusal is not None
    assert "records alice's Deny of SharingGrant grantee/crossings, which still exists" in refusal
    assert "audit rule R16" in refusal
    assert "kubectl camfleet approve|deny" in refusal
    assert "delete the grant or export itself" in refusal


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"by_operator": True}, "deleted by the operator"),
        ({"target_lives": False}, "SharingGrant grantee/crossings it decided on is gone"),
        ({"namespace_ending": True}, "its namespace is being deleted"),
    ],
)
def test_the_operator_or_a_gone_target_or_namespace_may_remove_an_approval(change: dict[str, bool], why: str) -> None:
    context = dataclasses.replace(REMOVAL, **change)
    assert judge_removal(context) is None
    assert why in context.why_admitted()
