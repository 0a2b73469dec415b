"""A SharingGrant's status, from the lifecycle's verdict: conditions, Revoked, history, and the facts read back."""

from __future__ import annotations

import datetime as dt

import pytest

from camfleet.access.decision_inputs import GrantFacts
from camfleet.access.grant_status import cameras_found, grant_status, phase_of_status
from camfleet.access.lifecycle import GrantLifecycle, GrantPhase
from camfleet.api.sharing_grant import EffectiveCamera, SharingGrantStatus
from tests.unit.access.builders import sharing_grant

NOW = dt.datetime(2030, 8, 12, 10, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def lifecycle(phase: GrantPhase, overdue: bool = False) -> GrantLifecycle:
    return GrantLifecycle(
        phase=phase,
        reasons=(f"why {phase}",),
        approvals_required=2,
        approved_by=("alice", "bob") if phase in (GrantPhase.APPROVED, GrantPhase.ACTIVE) else (),
        approval_due=NOW + dt.timedelta(days=3) if phase is GrantPhase.PENDING else None,
        overdue=overdue,
        expires_at=NOW + dt.timedelta(days=30),
        next_change=None,
    )


def conditions(status: SharingGrantStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (str(c.status), c.reason) for c in status.conditions}


def walk(*phases: GrantPhase) -> list[SharingGrantStatus]:
    """The statuses a grant has as it passes through `phases`, one pass an hour."""
    statuses: list[SharingGrantStatus] = []
    current = None
    for step, phase in enumerate(phases):
        current, _ = grant_status(current, 1, lifecycle(phase), [], NOW + dt.timedelta(hours=step))
        statuses.append(current)
    return statuses


# Ready is True wherever the grant is settled (kstatus Current), waits for people included; only a denial stalls.
@pytest.mark.parametrize(
    ("phase", "approved", "active", "ready", "stalled"),
    [
        (
            GrantPhase.PENDING,
            ("Unknown", "Pending"),
            ("False", "AwaitingApproval"),
            ("True", "AwaitingApproval"),
            ("False", "NotStalled"),
        ),
        (
            GrantPhase.APPROVED,
            ("True", "Approved"),
            ("False", "NotStarted"),
            ("True", "NotStarted"),
            ("False", "NotStalled"),
        ),
        (GrantPhase.ACTIVE, ("True", "Approved"), ("True", "Active"), ("True", "Active"), ("False", "NotStalled")),
        (GrantPhase.DENIED, ("False", "Denied"), ("False", "Denied"), ("False", "Denied"), ("True", "Denied")),
        (GrantPhase.EXPIRED, ("True", "Approved"), ("False", "Expired"), ("True", "Expired"), ("False", "NotStalled")),
    ],
)
def test_conditions_of_each_phase(
    phase: GrantPhase,
    approved: tuple[str, str],
    active: tuple[str, str],
    ready: tuple[str, str],
    stalled: tuple[str, str],
) -> None:
    status, desired = grant_status(None, 3, lifecycle(phase), [], NOW)
    found = conditions(status)
    assert (found["Approved"], found["Active"], found["Ready"], found["Stalled"]) == (approved, active, ready, stalled)
    assert found["Reconciling"][0] == "False"
    assert found["Revoked"] == ("False", "NotRevoked")
    assert found["Expired"][0] == ("True" if phase is GrantPhase.EXPIRED else "False")
    # Reconciling and Stalled restate the others: in status, not among the conditions the controller announces.
    assert [c.type for c in desired] + ["Reconciling", "Stalled"] == [c.type for c in status.conditions]
    assert status.observed_generation == 3
    assert [entry.decision for entry in status.history] == [
        {"Pending": "Requested", "Active": "Activated"}.get(phase.value, phase.value)
    ]


def test_overdue_and_due_time() -> None:
    status, _ = grant_status(None, 1, lifecycle(GrantPhase.PENDING, overdue=True), [], NOW)
    assert conditions(status)["Approved"] == ("Unknown", "ApprovalOverdue")
    assert status.to_api()["approvalDueTime"] == "2030-08-15T10:00:00Z"
    approved, _ = grant_status(status, 1, lifecycle(GrantPhase.ACTIVE), [], NOW)
    assert "approvalDueTime" not in approved.to_api()


def test_nothing_new_is_the_same_status() -> None:
    cameras = [EffectiveCamera(namespace="owner", name="cam", permissions=["LiveView"])]
    first, _ = grant_status(None, 1, lifecycle(GrantPhase.ACTIVE), cameras, NOW)
    again, _ = grant_status(first, 1, lifecycle(GrantPhase.ACTIVE), cameras, LATER)
    assert again == first
    assert again.to_api()["effectiveCameras"] == [{"namespace": "owner", "name": "cam", "permissions": ["LiveView"]}]


def test_access_withdrawn_before_the_end_is_revoked_once_and_stays_so() -> None:
    active, revoked, still, again = walk(GrantPhase.ACTIVE, GrantPhase.PENDING, GrantPhase.PENDING, GrantPhase.ACTIVE)
    assert conditions(active)["Revoked"] == ("False", "NotRevoked")
    assert conditions(revoked)["Revoked"] == ("True", "ApprovalsWithdrawn")
    assert conditions(revoked)["Active"] == ("False", "AwaitingApproval")
    assert [e.decision for e in revoked.history] == ["Activated", "Revoked"]
    assert revoked.history[-1].actor == "camfleet-operator"
    assert conditions(still)["Revoked"] == ("True", "ApprovalsWithdrawn")
    assert still.history == revoked.history
    assert conditions(again)["Revoked"] == ("False", "NotRevoked")
    assert [e.decision for e in again.history] == ["Activated", "Revoked", "Activated"]


def test_a_start_moved_ahead_of_an_active_grant_is_a_revocation() -> None:
    _, moved = walk(GrantPhase.ACTIVE, GrantPhase.APPROVED)
    assert conditions(moved)["Revoked"] == ("True", "PeriodNotStarted")


@pytest.mark.parametrize("end", [GrantPhase.EXPIRED, GrantPhase.DENIED])
def test_an_end_is_not_a_revocation(end: GrantPhase) -> None:
    _, ended = walk(GrantPhase.ACTIVE, end)
    assert conditions(ended)["Revoked"] == ("False", "NotRevoked")
    assert ended.history[-1].decision == {"Expired": "Expired", "Denied": "Denied"}[end.value]
    _, _, after_revocation = walk(GrantPhase.ACTIVE, GrantPhase.PENDING, end)
    assert conditions(after_revocation)["Revoked"] == ("False", "NotRevoked")


def test_a_grant_never_active_is_never_revoked() -> None:
    for status in walk(GrantPhase.PENDING, GrantPhase.APPROVED, GrantPhase.PENDING):
        assert conditions(status)["Revoked"] == ("False", "NotRevoked")


def test_the_phase_is_read_back_from_a_stored_status_even_after_a_revocation() -> None:
    active, revoked = walk(GrantPhase.ACTIVE, GrantPhase.PENDING)
    assert phase_of_status(active) is GrantPhase.ACTIVE
    assert phase_of_status(revoked) is GrantPhase.PENDING
    assert phase_of_status(None) is None


def test_grant_facts_read_revoked_and_approved_from_the_status_written() -> None:
    _, revoked = walk(GrantPhase.ACTIVE, GrantPhase.PENDING)
    grant = sharing_grant().model_copy(update={"status": revoked})
    facts = GrantFacts.from_resource(grant)
    assert (facts.approved, facts.revoked) == (False, True)
    _, _, active = walk(GrantPhase.ACTIVE, GrantPhase.PENDING, GrantPhase.ACTIVE)
    facts = GrantFacts.from_resource(grant.model_copy(update={"status": active}))
    assert (facts.approved, facts.revoked) == (True, False)


def test_cameras_found_joins_the_conditions() -> None:
    grant = sharing_grant()
    found = cameras_found(grant.spec.cameras, existing=[], selected=0)
    status, desired = grant_status(None, 1, lifecycle(GrantPhase.ACTIVE), [], NOW, found)
    assert conditions(status)["CamerasFound"][0] == "False"
    assert desired[-1] is found
