from __future__ import annotations

from camfleet.api.authorities import AuthorityMembers
from camfleet.export.run_approval import ExportApproval, ExportPhase, export_decision

CLASSIFICATION = AuthorityMembers(users=["clara"], groups=["city:classification"])


def approve(name: str, who: str | None, groups: frozenset[str] = frozenset()) -> ExportApproval:
    return ExportApproval(name, who, approve=True, approver_groups=groups)


def test_two_distinct_people_approve_and_the_masked_export_runs() -> None:
    decision = export_decision("carol", True, [approve("a1", "alice"), approve("a2", "bob")])
    assert decision.phase is ExportPhase.APPROVED
    assert decision.approved_by == ("alice", "bob")


def test_an_unmasked_export_waits_for_the_classification_authority() -> None:
    two = [approve("a1", "alice"), approve("a2", "bob")]
    waiting = export_decision("carol", False, two, classification=CLASSIFICATION)
    assert waiting.phase is ExportPhase.AWAITING_CLASSIFICATION
    assert "classification authority (user clara, group city:classification)" in waiting.message
    assert "R17" in waiting.message
    not_configured = export_decision("carol", False, two)
    assert not_configured.phase is ExportPhase.AWAITING_CLASSIFICATION
    assert "not configured" in not_configured.message


def test_a_member_of_the_classification_authority_by_name_or_group_lets_it_run() -> None:
    by_name = export_decision("carol", False, [approve("a1", "alice"), approve("a2", "clara")], None, None,
                              CLASSIFICATION)  # fmt: skip
    assert by_name.phase is ExportPhase.APPROVED
    assert "classification authority's approval by clara" in by_name.message
    member = frozenset({"city:classification"})
    by_group = export_decision("carol", False, [approve("a1", "alice"), approve("a2", "dan", member)], None, None,
                               CLASSIFICATION)  # fmt: skip
    assert by_group.phase is ExportPhase.APPROVED


def test_the_classification_authority_alone_is_not_two_people() -> None:
    decision = export_decision("carol", False, [approve("a1", "clara")], classification=CLASSIFICATION)
    assert decision.phase is ExportPhase.PENDING
    assert "one of them of the classification authority" in decision.message


def test_a_classifier_who_requested_the_export_cannot_approve_it() -> None:
    approvals = [approve("a1", "alice"), approve("a2", "bob"), approve("a3", "clara")]
    decision = export_decision("clara", False, approvals, classification=CLASSIFICATION)
    assert decision.phase is ExportPhase.AWAITING_CLASSIFICATION


def test_one_person_twice_is_one_approval() -> None:
    decision = export_decision("carol", True, [approve("a1", "alice"), approve("a2", "alice")])
    assert decision.phase is ExportPhase.PENDING
    assert decision.approved_by == ("alice",)


def test_the_requester_cannot_approve_their_own_export() -> None:
    decision = export_decision("carol", True, [approve("a1", "carol"), approve("a2", "bob")])
    assert decision.phase is ExportPhase.PENDING
    assert "carol requested the export" in decision.message


def test_an_approval_without_a_recorded_identity_never_counts() -> None:
    decision = export_decision("carol", True, [approve("a1", None), approve("a2", "bob")])
    assert decision.phase is ExportPhase.PENDING


def test_any_denial_stops_it() -> None:
    denial = ExportApproval("d1", "dave", approve=False, reason="not proportionate")
    decision = export_decision("carol", True, [approve("a1", "alice"), approve("a2", "bob"), denial])
    assert decision.phase is ExportPhase.DENIED
    assert "not proportionate" in decision.message


def test_approvals_bind_to_the_export_uid_and_content() -> None:
    from camfleet.access.identity import Binding
    from camfleet.export.run_approval import ExportPhase

    now = Binding("uid-1", 1, "sha256:a")
    bound = [ExportApproval("a1", "alice", True, binding=now), ExportApproval("a2", "bob", True, binding=now)]
    assert export_decision("carol", True, bound, now).phase is ExportPhase.APPROVED
    recreated = Binding("uid-2", 1, "sha256:a")
    inherited = export_decision("carol", True, bound, recreated)
    assert (inherited.phase, inherited.voided) == (ExportPhase.PENDING, ())
    assert "earlier export of the same name" in inherited.message
    changed = export_decision("carol", True, bound, Binding("uid-1", 2, "sha256:b"))
    assert (changed.phase, changed.voided) == (ExportPhase.PENDING, ("a1", "a2"))


def test_without_a_verified_requester_nothing_counts() -> None:
    from camfleet.export.run_approval import ExportPhase

    decision = export_decision(None, True, [approve("a1", "alice"), approve("a2", "bob")], None, "has no stamp")
    assert decision.phase is ExportPhase.PENDING
    assert "cannot be told apart" in decision.message
