"""The SharingGrant lifecycle and the approval rules (R10, R11, R12, R15)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from camfleet.access import ApprovalFacts, GrantPhase, departments_of, grant_phase, tally_approvals
from camfleet.access.grants import grant_binding
from camfleet.access.identity import APPROVAL_STAMP_ANNOTATION, Binding, seal, stamp_payload
from camfleet.api import GrantApproval, SharingGrant
from camfleet.api.authorities import AuthorityMembers
from camfleet.api.camera import ShareClass
from camfleet.api.grant_approval import ApprovalTargetKind, Verdict
from camfleet.api.sharing_grant import Permission
from tests.unit.access import builders
from tests.unit.access.builders import CITY, ME, NOW, OWNER, sharing_grant

# Requested on Friday 9 August 2030 at 10:00: answers are due by the end of Wednesday 14 August.
REQUESTED = datetime(2030, 8, 9, 10, 0, tzinfo=CITY)
DUE = datetime(2030, 8, 15, tzinfo=CITY)
START, END = datetime(2030, 8, 10, tzinfo=CITY), datetime(2030, 9, 1, tzinfo=CITY)
CONDITIONAL = {OWNER + "-cam": ShareClass.CONDITIONAL}


def conditional_grant() -> SharingGrant:
    return sharing_grant(created=REQUESTED, start=START, end=END, permissions=("LiveView", "Playback"))


BOUND = grant_binding(conditional_grant())


def approval(*args: Any, binding: Binding | None = BOUND, **kwargs: Any) -> ApprovalFacts:
    """An approval whose verified stamp names the conditional grant as it is (unless `binding` says otherwise)."""
    return builders.approval(*args, binding=binding, **kwargs)


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
    assert any("has no valid stamp" in reason for reason in result.reasons)


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

    authorized = grant_phase(
        grant,
        classes,
        [approval("commander", binding=grant_binding(grant))],
        NOW,
        emergency_authority=EMERGENCY_AUTHORITY,
    )
    assert (authorized.phase, authorized.next_change, authorized.approved_by) == (
        GrantPhase.ACTIVE,
        end,
        ("commander",),
    )
    assert "INC-1" in authorized.reasons[0]
    assert "authorized by commander" in authorized.reasons[0]
    by_group = approval("duty", groups=frozenset({"camfleet.io/authority:emergency"}), binding=grant_binding(grant))
    assert grant_phase(grant, classes, [by_group], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.ACTIVE
    )
    assert (
        grant_phase(grant, classes, [approval("commander", binding=grant_binding(grant))], end).phase
        == GrantPhase.EXPIRED
    )


def test_an_emergency_is_not_authorized_by_the_owner_nor_without_a_configured_authority() -> None:
    grant = sharing_grant(emergency=True, share_class="NotShared", end=NOW + timedelta(hours=12))
    classes = {"cam": ShareClass.NOT_SHARED}
    owners = [approval("alice", binding=grant_binding(grant)), approval("bob", binding=grant_binding(grant))]
    result = grant_phase(grant, classes, owners, NOW, emergency_authority=EMERGENCY_AUTHORITY)
    assert (result.phase, result.approved_by) == (GrantPhase.PENDING, ())
    assert any("alice is not a member of the emergency authority" in reason for reason in result.reasons)
    assert (
        grant_phase(grant, classes, [approval("commander", binding=grant_binding(grant))], NOW).phase
        == GrantPhase.PENDING
    )
    # The authority's member may not authorize from the grantee department (R15 webhook and tally).
    own = approval("commander", departments=frozenset({ME}), binding=grant_binding(grant))
    assert grant_phase(grant, classes, [own], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.PENDING
    )


def test_an_emergency_can_be_denied_by_the_emergency_authority_only() -> None:
    grant = sharing_grant(emergency=True, share_class="NotShared", end=NOW + timedelta(hours=12))
    classes = {"cam": ShareClass.NOT_SHARED}
    owner_denial = approval("carol", Verdict.DENY, reason="incident closed", binding=grant_binding(grant))
    assert grant_phase(grant, classes, [owner_denial], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.PENDING
    )
    denial = approval("commander", Verdict.DENY, reason="incident closed", binding=grant_binding(grant))
    assert grant_phase(grant, classes, [denial], NOW, emergency_authority=EMERGENCY_AUTHORITY).phase == (
        GrantPhase.DENIED
    )


def test_an_emergency_authorization_binds_to_the_grant_as_it_is() -> None:
    grant = sharing_grant(emergency=True, share_class="NotShared", end=NOW + timedelta(hours=12))
    classes = {"cam": ShareClass.NOT_SHARED}
    bound = grant_binding(grant)
    assert bound is not None
    stale = Binding(bound.uid, bound.generation - 1, "0" * 64)
    voided = grant_phase(
        grant, classes, [approval("commander", binding=stale)], NOW, emergency_authority=EMERGENCY_AUTHORITY
    )
    assert (voided.phase, voided.pending_reason, voided.voided) == (
        GrantPhase.PENDING,
        "AwaitingAuthorization",
        ("g-commander",),
    )
    earlier = Binding("another-uid", bound.generation, bound.digest)
    recreated = grant_phase(
        grant, classes, [approval("commander", binding=earlier)], NOW, emergency_authority=EMERGENCY_AUTHORITY
    )
    assert (recreated.phase, recreated.approved_by) == (GrantPhase.PENDING, ())
    unstamped = grant_phase(grant, classes, [approval(None)], NOW, emergency_authority=EMERGENCY_AUTHORITY)
    assert unstamped.phase == GrantPhase.PENDING


def test_levels_narrow_an_emergency_grant_too() -> None:
    grant = sharing_grant(
        emergency=True, share_class="NotShared", end=NOW + timedelta(hours=12), permissions=("LiveView", "PTZControl")
    )
    authorized = approval("commander", binding=grant_binding(grant))
    result = grant_phase(
        grant, {"cam": ShareClass.NOT_SHARED}, [authorized], NOW, level=4, emergency_authority=EMERGENCY_AUTHORITY
    )
    assert result.phase == GrantPhase.ACTIVE
    assert Permission.PTZ_CONTROL not in result.permissions
    assert result.narrowed


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


KEY = b"k" * 32


def stamped_approval(
    username: str, groups: list[str], *, status_approver: str | None = None, key: bytes = KEY
) -> GrantApproval:
    """A GrantApproval as the webhook stamps it (sealed with `key`), optionally with a preset status.approver."""
    grant = conditional_grant()
    payload = stamp_payload(
        username, groups, (OWNER, "ok"), verdict="Approve", target=("SharingGrant", ME, "g"),
        binding=grant_binding(grant),
    )  # fmt: skip
    body: dict[str, Any] = {
        "metadata": {
            "name": "ok", "namespace": OWNER, "creationTimestamp": "2030-08-10T00:00:00Z",
            "annotations": {APPROVAL_STAMP_ANNOTATION: seal(key, payload)},
        },
        "spec": {"target": {"namespace": ME, "name": "g"}, "verdict": "Approve"},
    }  # fmt: skip
    if status_approver is not None:
        body["status"] = {"approver": {"username": status_approver}}
    return GrantApproval.model_validate(body)


def test_approval_facts_take_the_identity_from_the_verified_stamp_never_from_status() -> None:
    resource = stamped_approval("system:serviceaccount:transport:bot", [], status_approver="mayor")
    facts = ApprovalFacts.from_resource(resource, [KEY])
    assert (facts.approver, facts.approver_departments) == ("system:serviceaccount:transport:bot", frozenset({ME}))
    assert facts.target_kind == ApprovalTargetKind.SHARING_GRANT
    tally = tally_approvals(ME, "g", OWNER, [facts], BOUND)
    assert tally.approved_by == ()  # the grantee's own service account


def test_a_stamp_sealed_with_another_key_or_typed_never_counts() -> None:
    forged = ApprovalFacts.from_resource(stamped_approval("alice", [], key=b"x" * 32, status_approver="alice"), [KEY])
    assert forged.approver is None
    assert forged.stamp_problem is not None
    assert "does not verify" in forged.stamp_problem
    typed = stamped_approval("alice", [])
    typed.metadata.annotations[APPROVAL_STAMP_ANNOTATION] = json.dumps({"user": {"username": "alice"}})
    facts = ApprovalFacts.from_resource(typed, [KEY])
    assert facts.approver is None
    assert "without a seal" in str(facts.stamp_problem)
    result = grant_phase(conditional_grant(), CONDITIONAL, [facts], NOW)
    assert any(f"approval {OWNER}/ok has a stamp without a seal" in r for r in result.reasons)


def test_a_stamp_copied_to_another_approval_never_counts() -> None:
    resource = stamped_approval("alice", [])
    copied = resource.model_copy(update={"metadata": resource.metadata.model_copy(update={"name": "copy"})})
    facts = ApprovalFacts.from_resource(copied, [KEY])
    assert facts.approver is None
    assert "another approval" in str(facts.stamp_problem)


def test_a_change_of_content_voids_every_approval() -> None:
    approvals = [approval("alice"), approval("bob")]
    widened = sharing_grant(created=REQUESTED, start=START, end=END, permissions=("LiveView", "Playback", "Export"))
    widened.metadata.generation = 2
    result = grant_phase(widened, CONDITIONAL, approvals, NOW, level=1)
    assert (result.phase, result.approved_by) == (GrantPhase.PENDING, ())
    assert result.voided == ("g-alice", "g-bob")
    assert result.reasons[0].startswith("approvals voided by a change of the grant's content")
    # Changing it back does not revive them: the generation moved on.
    back = conditional_grant()
    back.metadata.generation = 3
    assert grant_phase(back, CONDITIONAL, approvals, NOW).voided == ("g-alice", "g-bob")


@pytest.mark.parametrize(
    "change",
    [
        {"cameras": {"namespace": OWNER, "names": ["one", "two"]}},
        {"period": {"start": START.isoformat(), "end": (END + timedelta(days=3650)).isoformat()}},
        {"transcodeProfile": "masked"},
        {"shareClass": "Unconditional"},
        {"purpose": "something else"},
    ],
)
def test_every_content_field_is_in_the_digest(change: dict[str, Any]) -> None:
    grant = conditional_grant()
    changed = SharingGrant.model_validate({**grant.to_api(), "spec": {**grant.spec.to_api(), **change}})
    assert grant_binding(changed) != grant_binding(grant)


def test_dropping_the_transcode_profile_voids() -> None:
    masked = sharing_grant(created=REQUESTED, start=START, end=END, permissions=("LiveView",))
    masked = SharingGrant.model_validate({**masked.to_api(), "spec": {**masked.spec.to_api(), "transcodeProfile": "m"}})
    approvals = [approval("alice", binding=grant_binding(masked)), approval("bob", binding=grant_binding(masked))]
    assert grant_phase(masked, CONDITIONAL, approvals, NOW).phase == GrantPhase.ACTIVE
    original = SharingGrant.model_validate({**masked.to_api(), "spec": {**masked.spec.to_api()}})
    original.spec.transcode_profile = None
    original.metadata.generation = 2
    assert grant_phase(original, CONDITIONAL, approvals, NOW).phase == GrantPhase.PENDING


def test_a_recreated_grant_never_inherits_approvals() -> None:
    recreated = conditional_grant()
    recreated.metadata.uid = "a-new-uid"
    result = grant_phase(recreated, CONDITIONAL, [approval("alice"), approval("bob")], NOW)
    assert (result.phase, result.voided) == (GrantPhase.PENDING, ())
    assert any("earlier object of the same name" in r for r in result.reasons)


def test_an_approval_made_before_the_grant_existed_approves_nothing() -> None:
    result = grant_phase(conditional_grant(), CONDITIONAL, [approval("alice", binding=None)], NOW)
    assert result.approved_by == ()
    assert any("before the approved object existed" in r for r in result.reasons)


def test_a_denial_stands_whatever_the_content_became() -> None:
    widened = conditional_grant()
    widened.metadata.generation = 2
    denial = approval("bob", Verdict.DENY, reason="no")
    assert grant_phase(widened, CONDITIONAL, [denial], NOW).phase == GrantPhase.DENIED


def test_levels_narrow_what_a_grant_gives() -> None:
    grant = sharing_grant(created=REQUESTED, start=START, end=END, permissions=("LiveView", "PTZControl", "Export"))
    bound = grant_binding(grant)
    approvals = [approval("alice", binding=bound), approval("bob", binding=bound)]
    level4 = grant_phase(grant, CONDITIONAL, approvals, NOW, level=4)
    assert (level4.phase, level4.permissions) == (GrantPhase.ACTIVE, frozenset({Permission.LIVE_VIEW}))
    assert level4.narrowed.startswith("PTZControl, Export dropped: the grantee department holds level 4")
    assert grant_phase(grant, CONDITIONAL, approvals, NOW, level=None).permissions == level4.permissions
    level3 = grant_phase(grant, CONDITIONAL, approvals, NOW, level=3)
    assert level3.permissions == {Permission.LIVE_VIEW, Permission.PTZ_CONTROL}
    assert grant_phase(grant, CONDITIONAL, approvals, NOW, level=2).narrowed == ""


def test_a_grant_left_with_nothing_by_its_level_is_denied() -> None:
    grant = sharing_grant(created=REQUESTED, start=START, end=END, permissions=("PTZControl",))
    result = grant_phase(grant, CONDITIONAL, [], NOW, level=4)
    assert result.phase == GrantPhase.DENIED
    assert "nothing left to give" in result.reasons[0]


def test_an_approval_without_a_stamp_has_no_approver() -> None:
    resource = GrantApproval.model_validate(
        {
            "metadata": {"name": "ok", "namespace": OWNER},
            "spec": {"target": {"namespace": ME, "name": "g"}, "verdict": "Approve"},
        }
    )
    assert ApprovalFacts.from_resource(resource).approver is None
