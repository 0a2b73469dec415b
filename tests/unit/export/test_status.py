"""A FootageExport's status, from the approval decision and its Jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from camfleet.export.run_approval import ExportDecision, ExportPhase
from camfleet.export.status import export_status

NOW = dt.datetime(2030, 8, 12, 10, 0, tzinfo=dt.UTC)
APPROVED = ExportDecision(ExportPhase.APPROVED, ("alice", "bob"), "approved by alice, bob")


def by_type(jobs: dict[str, dict[str, Any]], decision: ExportDecision = APPROVED) -> dict[str, tuple[str, str]]:
    status, _ = export_status(None, 1, decision, jobs, ["export-x-cam"], NOW)
    return {c.type: (str(c.status), c.reason) for c in status.conditions}


# Waiting for approvers is settled (Ready True, kstatus Current); a denial or missing masking needs a change.
@pytest.mark.parametrize(
    ("phase", "approved", "completed", "ready", "stalled"),
    [
        (ExportPhase.PENDING, ("Unknown", "Pending"), ("False", "Pending"), ("True", "AwaitingApproval"), "False"),
        (ExportPhase.DENIED, ("False", "Denied"), ("False", "Denied"), ("False", "Denied"), "True"),
        (
            ExportPhase.MASKING_UNAVAILABLE,
            ("True", "Approved"),
            ("False", "MaskingUnavailable"),
            ("False", "MaskingUnavailable"),
            "True",
        ),
    ],
)
def test_an_export_that_may_not_run(
    phase: ExportPhase, approved: tuple[str, str], completed: tuple[str, str], ready: tuple[str, str], stalled: str
) -> None:
    found = by_type({}, ExportDecision(phase, (), "why"))
    assert (found["Approved"], found["Completed"], found["Ready"]) == (approved, completed, ready)
    assert (found["Stalled"][0], found["Reconciling"][0]) == (stalled, "False")


def test_job_progress() -> None:
    assert by_type({"j1": {"active": 1}})["Completed"] == ("False", "Running")
    assert by_type({"j1": {"active": 1}})["Reconciling"] == ("True", "Running")
    assert by_type({"j1": {"failed": 1}})["Stalled"] == ("True", "ExportFailed")
    assert by_type({"j1": {"failed": 1}, "j2": {"succeeded": 1}})["Completed"] == ("False", "ExportFailed")
    assert by_type({"j1": {"succeeded": 1}, "j2": {"succeeded": 1}})["Ready"] == ("True", "Completed")


def test_completion_time_is_kept_and_the_volume_remembered() -> None:
    done, _ = export_status(None, 1, APPROVED, {"j": {"succeeded": 1}}, ["export-x-cam"], NOW)
    assert done.to_api()["completedTime"] == "2030-08-12T10:00:00Z"
    assert done.persistent_volume_claim == "export-x-cam"
    later, _ = export_status(done, 1, APPROVED, {"j": {"succeeded": 1}}, [], NOW + dt.timedelta(hours=1))
    assert later == done
    assert later.approved_by == ["alice", "bob"]
