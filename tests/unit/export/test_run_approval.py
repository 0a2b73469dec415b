from __future__ import annotations

from camfleet.export.run_approval import ExportApproval, ExportPhase, export_decision


def approve(name: str, who: str | None) -> ExportApproval:
    return ExportApproval(name, who, approve=True)


def test_two_distinct_people_approve_and_the_export_runs() -> None:
    decision = export_decision("carol", False, [approve("a1", "alice"), approve("a2", "bob")])
    assert decision.phase is ExportPhase.APPROVED
    assert decision.approved_by == ("alice", "bob")


def test_one_person_twice_is_one_approval() -> None:
    decision = export_decision("carol", False, [approve("a1", "alice"), approve("a2", "alice")])
    assert decision.phase is ExportPhase.PENDING
    assert decision.approved_by == ("alice",)


def test_the_requester_cannot_approve_their_own_export() -> None:
    decision = export_decision("carol", False, [approve("a1", "carol"), approve("a2", "bob")])
    assert decision.phase is ExportPhase.PENDING
    assert "carol requested the export" in decision.message


def test_an_approval_without_a_recorded_identity_never_counts() -> None:
    decision = export_decision("carol", False, [approve("a1", None), approve("a2", "bob")])
    assert decision.phase is ExportPhase.PENDING


def test_any_denial_stops_it() -> None:
    denial = ExportApproval("d1", "dave", approve=False, reason="not proportionate")
    decision = export_decision("carol", False, [approve("a1", "alice"), approve("a2", "bob"), denial])
    assert decision.phase is ExportPhase.DENIED
    assert "not proportionate" in decision.message


def test_masking_is_refused_honestly_until_it_exists() -> None:
    decision = export_decision("carol", True, [approve("a1", "alice"), approve("a2", "bob")])
    assert decision.phase is ExportPhase.MASKING_UNAVAILABLE


def test_approvals_bind_to_the_export_uid_and_content() -> None:
    from camfleet.access.identity import Binding
    from camfleet.export.run_approval import ExportPhase

    now = Binding("uid-1", 1, "sha256:a")
    bound = [ExportApproval("a1", "alice", True, binding=now), ExportApproval("a2", "bob", True, binding=now)]
    assert export_decision("carol", False, bound, now).phase is ExportPhase.APPROVED
    recreated = Binding("uid-2", 1, "sha256:a")
    inherited = export_decision("carol", False, bound, recreated)
    assert (inherited.phase, inherited.voided) == (ExportPhase.PENDING, ())
    assert "earlier export of the same name" in inherited.message
    changed = export_decision("carol", False, bound, Binding("uid-1", 2, "sha256:b"))
    assert (changed.phase, changed.voided) == (ExportPhase.PENDING, ("a1", "a2"))


def test_without_a_verified_requester_nothing_counts() -> None:
    from camfleet.export.run_approval import ExportPhase

    decision = export_decision(None, False, [approve("a1", "alice"), approve("a2", "bob")], None, "has no stamp")
    assert decision.phase is ExportPhase.PENDING
    assert "cannot be told apart" in decision.message
