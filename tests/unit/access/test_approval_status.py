"""A GrantApproval's status: the stamped identity recorded once, or a Ready=False that says it never counts."""

from __future__ import annotations

import datetime as dt

from camfleet.access.approval_status import approval_status

NOW = dt.datetime(2030, 8, 12, 10, 0, 0, 500, tzinfo=dt.UTC)


def test_a_stamped_identity_is_recorded_once() -> None:
    first = approval_status(None, 1, ("alice", ["owner"]), NOW)
    assert first.to_api() == {
        "observedGeneration": 1,
        "approver": {"username": "alice", "groups": ["owner"]},
        "recordedTime": "2030-08-12T10:00:00Z",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Recorded",
                "message": "decision by alice recorded in the audit trail",
                "lastTransitionTime": "2030-08-12T10:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Reconciling",
                "status": "False",
                "reason": "Reconciled",
                "message": "no work under way for this generation",
                "lastTransitionTime": "2030-08-12T10:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Stalled",
                "status": "False",
                "reason": "NotStalled",
                "message": "nothing needs a change to proceed",
                "lastTransitionTime": "2030-08-12T10:00:00Z",
                "observedGeneration": 1,
            },
        ],
    }
    # Recorded once: a later pass with the same verified stamp rewrites nothing.
    assert approval_status(first, 1, ("alice", ["owner"]), NOW + dt.timedelta(hours=1)) == first


def test_a_preset_approver_in_status_is_never_believed() -> None:
    preset = approval_status(None, 1, ("mayor", []), NOW)  # as if someone had written status.approver
    stamped = approval_status(preset, 1, ("alice", ["owner"]), NOW + dt.timedelta(hours=1))
    assert stamped.approver is not None
    assert stamped.approver.username == "alice"
    unstamped = approval_status(preset, 1, None, NOW, problem="has no valid stamp")
    assert unstamped.approver is None
    assert unstamped.conditions[0].message == "has no valid stamp; not counted"
    stalled = {c.type: (str(c.status), c.reason) for c in unstamped.conditions}["Stalled"]
    assert stalled == ("True", "IdentityNotRecorded")  # only a new approval can count


def test_an_approval_without_a_stamp_never_counts() -> None:
    status = approval_status(None, 2, None, NOW)
    ready = status.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "IdentityNotRecorded")
    assert status.approver is None
    assert status.recorded_time is None
    assert approval_status(status, 2, None, NOW + dt.timedelta(days=1)) == status
