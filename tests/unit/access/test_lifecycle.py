"""The SharingGrant lifecycle and the approval rules (R10, R11, R12, R15)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from camfleet.access import ApprovalFacts, GrantPhase, departments_of, grant_phase, tally_approvals
from camfleet.api import GrantApproval, SharingGrant
from camfleet.api.authorities import AuthorityMembers
from camfleet.api.camera import ShareClass
from camfleet.api.grant_approval import ApprovalTargetKind, Verdict
from tests.unit.access.builders import CITY, ME, NOW, OWNER, approval, sharing_grant

# Requested on Friday 9 August 2030 at 10:00: answers are due by the end of Wednesday 14 August.
REQUESTED = datetime(2030, 8, 9, 10, 0, tzinfo=CITY)
DUE = datetime(2030, 8, 15, tzinfo=CITY)
START, END = datetime(2030, 8, 10, tzinfo=CITY), datetime(2030, 9, 1, tzinfo=CITY)
CONDITIONAL = {OWNER + "-cam": ShareClass.CONDITIONAL}


def conditional_grant() -> SharingGrant:
    return sharing_grant(created=REQUESTED, start=START, end=END, permissions=("LiveView", "Playback"))


def test_live_view_of_unconditional_data_is_approved_at_once() -> None:
    grant = sharing_grant(
        created=REQUESTED, share_class="Unconditional", permissions=("LiveView",), start=START, end=END
    )
    classes = {"cam": ShareClass.UNCONDITIONAL}

    before = grant_phase(grant, classes, [], REQUESTED)
    assert (before.phase, before.approvals_required, before.approval_due) == (GrantPhase.APPROVED, 0, None)
    assert before.next_change == START

    during = grant_phase(grant, classes, [], NOW)
    assert (during.phase, during.next_change) == (GrantPhase.ACTIVE, END)
    assert grant_phase(grant, classes, [], END).phase == GrantPhase.EXPIRED


def test_conditional_data_waits_for_two_approvals_due_in_three_working_days() -> None:
    pending = grant_phase(conditional_grant(), CONDITIONAL, [], NOW)
    assert (pending.phase, pending.approvals_required, pending.approval_due) == (GrantPhase.PENDING, 2, DUE)
    assert (pending.overdue, pending.next_change) == (False, DUE)
    assert "2 more approval(s)" in pending.reasons[0]

    late = grant_phase(conditional_grant(), CONDITIONAL, [], DUE)
    assert (late.phase, late.overdue, late.next_change) == (GrantPhase.PENDING, True, END)
    assert "overdue" in late.reasons[0]


def test_recordings_need_approvals_even_from_unconditional_cameras() -> None:
    grant = sharing_grant(
        created=REQUESTED, share_class="Unconditional", permissions=("Playback",), start=START, end=END
    )
    assert grant_phase(grant, {"cam": ShareClass.UNCONDITIONAL}, [], NOW).phase == GrantPhase.PENDING


def test_two_different_people_approve() -> None:
    approvals = [approval("alice"), approval("bob")]
    approved = grant_phase(conditional_grant(), CONDITIONAL, approvals, NOW)
    assert (approved.phase, approved.approved_by) == (GrantPhase.ACTIVE, ("alice", "bob"))
    assert approved.next_change == END
    assert grant_phase(conditional_grant(), CONDITIONAL, approvals, REQUESTED).phase == GrantPhase.APPROVED


def test_the_same_person_approving_twice_counts_once() -> None:
    approvals = [approval("alice", name="first"), approval("alice", name="second", recorded_at=NOW)]
    result = grant_phase(conditional_grant(), CONDITIONAL, approvals, NOW)
    assert (result.phase, result.approved_by) == (GrantPhase.PENDING, ("alice",))
    assert any("one person counts once" in reason for reason in result.reasons)


def test_the_grantee_never_approves_its_own_grant() -> None:
    approvals = [approval("alice"), approval("mallory", departments=frozenset({ME}))]
    result = grant_phase(conditional_grant(), CONDITIONAL, approvals, NOW)
    assert (result.phase, result.approved_by) == (GrantPhase.PENDING, ("alice",))
    assert any("belongs to the grantee department transport" in reason for reason in result.reasons)


def test_approvals_count_only_in_the_owner_namespace_and_with_a_recorded_identity() -> None:
    approvals = [approval("alice", namespace=ME), approval(None)]
    result = grant_phase(conditional_grant(), CONDITIONAL, approvals, NOW)
    assert result.approved_by == ()
    assert any("camera owner's namespace" in reason for reason in result.reasons)
    assert any("not recorded yet" in reason for reason in result.reasons)


def test_approvals_of_other_grants_are_ignored() -> None:
    approvals = [approval("alice", grant_name="other"), approval("bob", grantee="water-authority")]
    assert grant_phase(conditional_grant(), CONDITIONAL, approvals, NOW).approved_by == ()


def test_a_denial_denies() -> None:
    approvals = [approval("alice"), approval("bob", Verdict.DENY, reason="no legal basis")]
    result = grant_phase(conditional_grant(), CONDITIONAL, approvals, NOW)
    assert (result.phase, result.next_change) == (GrantPhase.DENIED, None)
    assert "denied by bob" in result.reasons[0]
    assert "no legal basis" in result.reasons[0]


def test_the_newest_decision_of_a_person_counts() -> None:
    changed_mind = [
        approval("bob", Verdict.DENY, name="no", reason="unclear", recorded_at=NOW - timedelta(hours=2)),
        approval("bob", name="yes", recorded_at=NOW - timedelta(hours=1)),
        approval("alice"),
    ]
    assert grant_phase(conditional_grant(), CONDITIONAL, changed_mind, NOW).phase == GrantPhase.ACTIVE


def test_not_shared_cameras_without_an_emergency_are_denied() -> None:
    result = grant_phase(conditional_grant(), {"cam": ShareClass.NOT_SHARED}, [], NOW)
    assert result.phase == GrantPhase.DENIED
    assert "(R10)" in result.reasons[0]


def test_more_protected_cameras_are_left_out_with_a_reason() -> None:
    classes = {"open": ShareClass.CONDITIONAL, "secret": ShareClass.NOT_SHARED}
    result = grant_phase(conditional_grant(), classes, [], NOW)
    assert result.phase == GrantPhase.PENDING
    assert any("camera secret is NotShared" in reason for reason in result.reasons)


EMERGENCY_AUTHORITY = AuthorityMembers(users=["commander"], groups=["camfleet.io/authority:emergency"])


def test_an_emergency_waits_for_the_emergency_authority_then_runs_until_its_hard_expiry() -> None:
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=47)
    grant = sharing_grant(created=start, emergency=True, share_class="NotShared", start=start, end=end)
    classes = {"cam": ShareClass.NOT_SHARED}

    waiting = grant_phase(grant, classes, [], NOW, emergency_authority=EMERGENCY_AUTHORITY)
    assert (waiting.phase, waiting.pending_reason, waiting.approval_due) == (
        GrantPhase.PENDING,
        "AwaitingAuthorization",
        None,
    )
    assert waiting.approvals_required == 1
    assert "special authorization" in waiting.reasons[0]
    assert "user commander" in waiting.reasons[0]
    assert waiting.next_change == end, "a never-authorized emergency still expires"

    authorized = grant_phase(grant, classes, [approval("commander")], NOW, emergency_authority=EMERGENCY_AUTHORITY)
    assert (authorized.phase, authorized.next_change, authorized.approved_by) == (
        GrantPhase.ACTIVE,
        end,
        ("commander",),
    )
    assert "INC-1" in authorized.reasons[0]
    assert "authorized by commander" in authorized.reasons[0]
    by_group = approval("duty", groups=frozenset({"camfleet.io/authority:emergency"}))
    assert grant_phase(grant, classes, [by_group], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.ACTIVE
    )
    assert grant_phase(grant, classes, [approval("commander")], end).phase == GrantPhase.EXPIRED


def test_an_emergency_is_not_authorized_by_the_owner_nor_without_a_configured_authority() -> None:
    grant = sharing_grant(emergency=True, share_class="NotShared", end=NOW + timedelta(hours=12))
    classes = {"cam": ShareClass.NOT_SHARED}
    owners = [approval("alice"), approval("bob")]
    result = grant_phase(grant, classes, owners, NOW, emergency_authority=EMERGENCY_AUTHORITY)
    assert (result.phase, result.approved_by) == (GrantPhase.PENDING, ())
    assert any("alice is not a member of the emergency authority" in reason for reason in result.reasons)
    assert grant_phase(grant, classes, [approval("commander")], NOW).phase == GrantPhase.PENDING
    # The authority's member may not authorize from the grantee department (R15 webhook and tally).
    own = approval("commander", departments=frozenset({ME}))
    assert grant_phase(grant, classes, [own], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.PENDING
    )


def test_an_emergency_can_be_denied_by_the_emergency_authority_only() -> None:
    grant = sharing_grant(emergency=True, share_class="NotShared", end=NOW + timedelta(hours=12))
    classes = {"cam": ShareClass.NOT_SHARED}
    owner_denial = approval("carol", Verdict.DENY, reason="incident closed")
    assert grant_phase(grant, classes, [owner_denial], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.PENDING
    )
    denial = approval("commander", Verdict.DENY, reason="incident closed")
    assert grant_phase(grant, classes, [denial], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.DENIED
    )


def test_a_grant_never_approved_expires() -> None:
    result = grant_phase(conditional_grant(), CONDITIONAL, [], END)
    assert (result.phase, result.next_change) == (GrantPhase.EXPIRED, None)
    assert "before it was approved" in result.reasons[0]


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        grant_phase(conditional_grant(), CONDITIONAL, [], datetime(2030, 8, 11))


@pytest.mark.parametrize(
    ("username", "groups", "departments"),
    [
        ("system:serviceaccount:transport:planner", [], {"transport"}),
        ("alice", ["camfleet.io/department:public-security", "system:authenticated"], {"public-security"}),
        ("bob", ["developers"], set()),
    ],
)
def test_departments_of_a_user(username: str, groups: list[str], departments: set[str]) -> None:
    assert departments_of(username, groups) == departments


def test_approval_facts_take_the_identity_from_status_never_from_spec() -> None:
    resource = GrantApproval.model_validate(
        {
            "metadata": {"name": "ok", "namespace": OWNER, "creationTimestamp": "2030-08-10T00:00:00Z"},
            "spec": {"target": {"namespace": ME, "name": "g"}, "verdict": "Approve"},
            "status": {"approver": {"username": "system:serviceaccount:transport:bot"}},
        }
    )
    facts = ApprovalFacts.from_resource(resource)
    assert (facts.approver, facts.approver_departments) == ("system:serviceaccount:transport:bot", frozenset({ME}))
    assert facts.target_kind == ApprovalTargetKind.SHARING_GRANT
    tally = tally_approvals(ME, "g", OWNER, [facts])
    assert tally.approved_by == ()  # the grantee's own service account


def test_an_approval_without_recorded_identity_has_no_approver() -> None:
    resource = GrantApproval.model_validate(
        {
            "metadata": {"name": "ok", "namespace": OWNER},
            "spec": {"target": {"namespace": ME, "name": "g"}, "verdict": "Approve"},
        }
    )
    assert ApprovalFacts.from_resource(resource).approver is None
