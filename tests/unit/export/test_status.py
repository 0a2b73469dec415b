"""A FootageExport's status, from the approval decision and its Jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from camfleet.export.handover import HandoverAction, HandoverStep
from camfleet.export.run_approval import ExportDecision, ExportPhase
from camfleet.export.status import cameras_blocker, export_status, export_storage_problem
from camfleet.kube.storage import StorageClassFacts

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
            ExportPhase.AWAITING_CLASSIFICATION,
            ("Unknown", "AwaitingClassificationAuthority"),
            ("False", "AwaitingClassificationAuthority"),
            ("True", "AwaitingApproval"),
            "False",
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


def test_an_unencrypted_export_volume_stops_an_approved_export_with_its_reason() -> None:
    plain = export_storage_problem("plain-hdd", StorageClassFacts("plain-hdd", True, encrypted=False))
    assert plain is not None
    assert plain[0] == "StorageNotEncrypted"
    assert "plain-hdd" in plain[1]
    assert "R17" in plain[1]
    status, _ = export_status(None, 1, APPROVED, {}, [], NOW, plain)
    found = {c.type: (str(c.status), c.reason) for c in status.conditions}
    assert found == {
        "Approved": ("True", "Approved"),
        "Completed": ("False", "StorageNotEncrypted"),
        "Ready": ("False", "StorageNotEncrypted"),
        "Reconciling": ("False", "Stalled"),
        "Stalled": ("True", "StorageNotEncrypted"),
    }
    assert status.persistent_volume_claim is None


def test_storage_class_facts_decide_the_export_volume() -> None:
    missing = export_storage_problem(None, None)
    assert missing is not None
    assert missing[0] == "StorageClassNotFound"
    assert "the cluster default" in missing[1]
    assert export_storage_problem("ssd", StorageClassFacts("ssd", False, encrypted=True)) is None


def test_a_denial_is_reported_before_a_storage_problem() -> None:
    plain = export_storage_problem("plain", StorageClassFacts("plain", True, encrypted=False))
    found = by_type_blocked(ExportDecision(ExportPhase.DENIED, (), "no"), plain)
    assert found["Completed"] == ("False", "Denied")


def test_a_masked_export_of_an_unknown_camera_does_not_run() -> None:
    blocked = cameras_blocker(True, ["lobby"])
    assert blocked is not None
    assert blocked[0] == "CameraNotFound"
    assert cameras_blocker(False, ["lobby"]) is None, "an unmasked export needs no masks"
    assert cameras_blocker(True, []) is None
    assert by_type_blocked(APPROVED, blocked)["Ready"] == ("False", "CameraNotFound")


def by_type_blocked(decision: ExportDecision, blocked: tuple[str, str] | None) -> dict[str, tuple[str, str]]:
    status, _ = export_status(None, 1, decision, {}, [], NOW, blocked)
    return {c.type: (str(c.status), c.reason) for c in status.conditions}


def extraction_types(
    jobs: dict[str, dict[str, Any]], handover: dict[str, HandoverStep]
) -> dict[str, tuple[str, str, str]]:
    status, _ = export_status(None, 1, APPROVED, jobs, ["cid-x-export"], NOW, None, "harbour", handover)
    return {c.type: (str(c.status), c.reason, c.message or "") for c in status.conditions}


def test_an_extraction_completes_only_once_its_copy_landed_in_the_requesters_namespace() -> None:
    copying = extraction_types({"j": {"active": 1}}, {"quay": HandoverStep(HandoverAction.WAIT_FOR_COPY, "copy")})
    assert copying["Completed"][:2] == ("False", "Running")
    moving = extraction_types({"j": {"succeeded": 1}}, {"quay": HandoverStep(HandoverAction.WAIT_FOR_BINDING, "b")})
    assert moving["Completed"][:2] == ("False", "HandingOver")
    assert moving["Reconciling"][:2] == ("True", "HandingOver"), "the operator is at work, not stalled"
    done = extraction_types({}, {"quay": HandoverStep(HandoverAction.DONE, "claim cid/x-export is Bound to pv-1")})
    assert done["Completed"][:2] == ("True", "VolumeHandedOver")
    assert "cid/x-export" in done["Completed"][2]
    assert done["Ready"][:2] == ("True", "VolumeHandedOver")


def test_a_refused_handover_step_stalls_the_extraction_with_its_reason_and_a_failed_job_comes_first() -> None:
    refused = {"quay": HandoverStep(HandoverAction.REFUSE, "PersistentVolume pv-1 not found")}
    found = extraction_types({"j": {"succeeded": 1}}, refused)
    assert found["Completed"][:2] == ("False", "HandoverFailed")
    assert "pv-1 not found" in found["Completed"][2]
    assert found["Stalled"][:2] == ("True", "HandoverFailed")
    waiting = {"quay": HandoverStep(HandoverAction.WAIT_FOR_COPY, "copy")}
    assert extraction_types({"j": {"failed": 1}}, waiting)["Completed"][:2] == ("False", "ExportFailed")


def test_a_handed_over_copy_is_reported_in_the_requesters_namespace() -> None:
    done = {"quay": HandoverStep(HandoverAction.DONE, "bound")}
    status, _ = export_status(None, 1, APPROVED, {}, ["x-export"], NOW, None, "cid", done)
    assert (status.persistent_volume_claim, status.volume_namespace) == ("x-export", "cid")
    assert status.completed_time is not None
