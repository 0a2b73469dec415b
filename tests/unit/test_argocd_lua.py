"""The Argo CD health checks in docs/gitops/argocd-health/, run by a real Lua 5.1 interpreter (lupa).

Argo CD runs these scripts in gopher-lua, a Lua 5.1, with only the base, table and a safe os library
(`time`, `date`) opened; `argocd_health` builds the same sandbox, so a script that used the string library
would fail here as it would in Argo CD. Statuses come from the operator's own pure status functions, so a
renamed reason breaks these tests instead of silently changing the health. tests/unit/test_health_table.py checks
every state of every kind against the table in docs/gitops/README.md, with kstatus beside these scripts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaRuntime  # type: ignore[import-untyped]

from camfleet.access.approval_status import approval_status
from camfleet.access.grant_status import grant_status
from camfleet.access.identity import APPROVER_ANNOTATION, decode_identity, encode_identity
from camfleet.access.lifecycle import GrantLifecycle, GrantPhase
from camfleet.api.camera import CameraSpec
from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind
from camfleet.cameras.status import camera_status
from camfleet.condition_merge import DesiredCondition
from camfleet.export.run_approval import ExportDecision, ExportPhase
from camfleet.export.status import export_status
from camfleet.onvif import ApplyReport, ClockReading, DeviceInfo, StreamUri, StreamUris
from camfleet.onvif.models import ObservedDeviceSettings
from camfleet.recording.policy_status import policy_status
from camfleet.recording.state import RecordingState

GITOPS = Path(__file__).resolve().parents[2] / "docs" / "gitops"
HEALTH_CHECKS = GITOPS / "argocd-health"
KINDS = ("Camera", "RecordingPolicy", "SharingGrant", "GrantApproval", "AccessTier", "FootageExport")
ARGO_HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)

# Lua source run before each script: close what Argo CD's sandbox does not open.
_ARGO_SANDBOX = """
debug.setmetatable("", nil)
local time, date = os.time, os.date
os = { time = time, date = date }
string, io, debug, math, coroutine, python = nil, nil, nil, nil, nil, nil
"""


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def argocd_health(kind: str, obj: dict[str, Any]) -> Health:
    """Run the kind's health check on `obj` as Argo CD would, in a fresh Lua 5.1 state."""
    lua = LuaRuntime(unpack_returned_tuples=False, register_eval=False, register_builtins=False)
    lua.execute(_ARGO_SANDBOX)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute((HEALTH_CHECKS / f"{kind}.lua").read_text())
    health = Health(str(result["status"]), str(result["message"] or ""))
    assert health.status in ARGO_HEALTH_STATUSES, health
    return health


def with_status(status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "x", "namespace": "ns", "generation": generation}}
    if status is not None:
        obj["status"] = status
    return obj


def ready_status(status: str, reason: str, message: str = "", generation: int = 1, **extra: Any) -> dict[str, Any]:
    """A status with only a Ready condition, as hand-written objects in GitOps repos and older operators have."""
    ready = {"type": "Ready", "status": status, "reason": reason, "message": message, "observedGeneration": generation}
    return {"observedGeneration": generation, "conditions": [ready], **extra}


# -- the files themselves ------------------------------------------------------------------------------


def test_there_is_one_check_per_kind_and_the_configmap_snippet_carries_them_verbatim() -> None:
    assert sorted(path.stem for path in HEALTH_CHECKS.glob("*.lua")) == sorted(KINDS)
    snippet = yaml.safe_load((GITOPS / "argocd-cm-snippet.yaml").read_text())
    assert snippet["kind"] == "ConfigMap"
    assert snippet["metadata"]["name"] == "argocd-cm"
    expected = {
        f"resource.customizations.health.camfleet.io_{kind}": (HEALTH_CHECKS / f"{kind}.lua").read_text()
        for kind in KINDS
    }
    assert snippet["data"] == expected


def test_the_common_part_is_the_same_in_every_check() -> None:
    # Argo CD gives each kind one self-contained script; this keeps the copies from drifting apart.
    def common(kind: str) -> str:
        text = (HEALTH_CHECKS / f"{kind}.lua").read_text()
        start, end = text.index("-- ---- common part"), text.index("-- ---- end of common part")
        return text[start:end]

    assert len({common(kind) for kind in KINDS}) == 1


# -- what every kind shares: observedGeneration and the Ready condition -----------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_no_status_yet_is_progressing(kind: str) -> None:
    health = argocd_health(kind, with_status(None))
    assert health.status == "Progressing"
    assert "waiting for the camfleet operator" in health.message


@pytest.mark.parametrize("kind", KINDS)
def test_a_status_of_an_older_generation_is_progressing_whatever_it_says(kind: str) -> None:
    obj = with_status(ready_status("True", "Ready", "fine", generation=2), generation=3)
    expected = "waiting for the camfleet operator to act on generation 3 (status describes generation 2)"
    assert argocd_health(kind, obj) == Health("Progressing", expected)


@pytest.mark.parametrize("kind", KINDS)
def test_a_ready_condition_of_an_older_generation_is_progressing(kind: str) -> None:
    status = ready_status("True", "Ready", "fine", generation=2)
    status["observedGeneration"] = 3
    health = argocd_health(kind, with_status(status, generation=3))
    assert health.status == "Progressing"
    assert "Ready describes generation 2" in health.message


@pytest.mark.parametrize("kind", KINDS)
def test_no_ready_condition_or_ready_unknown_is_progressing(kind: str) -> None:
    assert argocd_health(kind, with_status({"observedGeneration": 1, "conditions": []})).status == "Progressing"
    unknown = argocd_health(kind, with_status(ready_status("Unknown", "Reconciling", "first pass")))
    assert unknown == Health("Progressing", "Reconciling: first pass")


@pytest.mark.parametrize("kind", KINDS)
def test_ready_true_is_healthy(kind: str) -> None:
    health = argocd_health(kind, with_status(ready_status("True", "Ready", "all good")))
    assert health.status == "Healthy"
    assert "all good" in health.message


@pytest.mark.parametrize("kind", KINDS)
def test_ready_false_without_a_stall_is_progressing_as_kstatus_says(kind: str) -> None:
    # The operator writes Stalled or Reconciling with every Ready=False; a status without them (hand-written, or
    # from an older operator) is judged as kstatus judges it: in progress.
    health = argocd_health(kind, with_status(ready_status("False", "SomethingBroke", "details")))
    assert health == Health("Progressing", "SomethingBroke: details")


def with_progress(status: dict[str, Any], condition_type: str, reason: str, message: str) -> dict[str, Any]:
    added = {"type": condition_type, "status": "True", "reason": reason, "message": message, "observedGeneration": 1}
    return {**status, "conditions": [*status["conditions"], added]}


@pytest.mark.parametrize("kind", KINDS)
def test_stalled_is_degraded_and_reconciling_progressing_whatever_ready_says(kind: str) -> None:
    for ready in (ready_status("True", "Ready", "fine"), ready_status("False", "Broken", "details")):
        stalled = with_progress(ready, "Stalled", "AuthFailed", "wrong password")
        assert argocd_health(kind, with_status(stalled)) == Health("Degraded", "AuthFailed: wrong password")
        working = with_progress(ready, "Reconciling", "RecorderNotReady", "starting")
        assert argocd_health(kind, with_status(working)) == Health("Progressing", "RecorderNotReady: starting")


def test_a_status_without_a_generation_is_judged_by_its_conditions() -> None:
    obj = {"metadata": {"name": "x"}, "status": ready_status("True", "Ready", "ok")}
    assert argocd_health("Camera", obj).status == "Healthy"


# -- Camera: statuses made by the operator's own status function -----------------------------------------

CAMERA_SPEC: dict[str, Any] = {
    "endpoint": "http://127.0.0.1:1/cam/a/onvif/device_service",
    "credentialsSecretRef": {"name": "a"},
    "site": "Site",
    "location": {"category": "street", "description": "corner"},
    "purpose": "traffic",
    "legalBasis": "city classification decision CLS-2030-01",
    "signage": {"confirmed": True},
    "acceptanceDate": "2030-05-01",
    "filingReference": "QD-1",
}


def healthy_device(drift: float = 0.3) -> DeviceObservation:
    return DeviceObservation(
        reached=True,
        authenticated=True,
        auth_mode="WSUsernameToken",
        device=DeviceInfo("Acme", "X1", "1.0", "SN1", "HW1"),
        report=ApplyReport(observed=ObservedDeviceSettings()),
        clock=ClockReading(NOW, dt.timedelta(seconds=drift), dt.timedelta(milliseconds=5)),
        streams=StreamUris((StreamUri("main", "Main", "rtsp://cam/main", "media2"),)),
    )


def camera_health(
    observation: DeviceObservation, recording: RecordingState | None = None, **spec_changes: Any
) -> Health:
    spec = CameraSpec.model_validate({**CAMERA_SPEC, **spec_changes})
    status, _ = camera_status(None, spec, 4, observation, NOW, recording=recording)
    return argocd_health("Camera", with_status(status.to_api(), generation=4))


def recording(status: str, reason: str) -> RecordingState:
    return RecordingState(DesiredCondition("Recording", status, reason, f"recording says {reason}"), "p", True)  # type: ignore[arg-type]


def test_camera_ready_is_healthy() -> None:
    health = camera_health(healthy_device(), recording("True", "Recording"))
    assert health.status == "Healthy"
    assert health.message.startswith("reachable, authenticated, clock in sync and configured")


def test_camera_compliance_warnings_keep_it_healthy_and_are_named() -> None:
    health = camera_health(healthy_device(), signage={"confirmed": False}, filingReference=None)
    assert health.status == "Healthy"
    assert "warnings: FilingOverdue: accepted without a filing reference" in health.message
    assert "SignageUnconfirmed: warning signage not confirmed" in health.message


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (FailureKind.UNREACHABLE, "Unreachable"),
        (FailureKind.TIMEOUT, "Timeout"),
        (FailureKind.AUTH, "AuthFailed"),
        (FailureKind.CREDENTIALS, "CredentialsMissing"),
        (FailureKind.ENDPOINT_NOT_ALLOWED, "EndpointNotAllowed"),
    ],
)
def test_camera_device_failures_are_degraded(failure: FailureKind, reason: str) -> None:
    reached = failure is FailureKind.AUTH
    observation = DeviceObservation(reached=reached, failure=DeviceFailure(failure, "it failed"))
    health = camera_health(observation)
    assert health.status == "Degraded"
    assert health.message.startswith(f"{reason}: ")


def test_camera_clock_drift_is_degraded() -> None:
    health = camera_health(healthy_device(drift=600))
    assert health.status == "Degraded"
    assert health.message.startswith("ClockDrift: ")


def test_camera_not_contacted_yet_is_progressing() -> None:
    assert camera_health(DeviceObservation()).status == "Progressing"


def test_camera_failing_during_sign_in_is_degraded() -> None:
    # A fault while signing in: the device answered, so Authenticated is False with SignInFailed.
    observation = DeviceObservation(reached=True, failure=DeviceFailure(FailureKind.PROTOCOL, "HTTP 500"))
    health = camera_health(observation)
    assert health.status == "Degraded"
    assert health.message.startswith("SignInFailed: ")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("WaitingForStream", "Progressing"),
        ("RecorderNotReady", "Progressing"),
        ("StorageClassNotFound", "Degraded"),
        ("StorageNotEncrypted", "Degraded"),
        ("VolumeTooSmall", "Degraded"),
        ("PolicyNotFound", "Degraded"),
    ],
)
def test_camera_recording_problems(reason: str, expected: str) -> None:
    health = camera_health(healthy_device(), recording("False", reason))
    assert (health.status, health.message.split(":")[0]) == (expected, reason)


# -- RecordingPolicy --------------------------------------------------------------------------------------


def policy_health(states: dict[str, RecordingState]) -> Health:
    status, _ = policy_status(None, 2, states, len(states), 30, NOW)
    return argocd_health("RecordingPolicy", with_status(status.to_api(), generation=2))


def test_policy_recording_every_camera_is_healthy() -> None:
    assert policy_health({"a": recording("True", "Recording")}) == Health("Healthy", "recording 1 camera(s)")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("RecorderNotReady", "Progressing"), ("WaitingForStream", "Progressing"), ("StorageNotEncrypted", "Degraded")],
)
def test_policy_with_a_camera_not_recording(reason: str, expected: str) -> None:
    health = policy_health({"a": recording("True", "Recording"), "b": recording("False", reason)})
    assert health == Health(expected, f"{reason}: 1 of 2 not recording; camera b: recording says {reason}")


def test_policy_recording_no_camera_is_degraded() -> None:
    health = policy_health({})
    assert health.status == "Degraded"
    assert health.message.startswith("NoCameraSelected: records no camera")


# -- SharingGrant: every phase of the real lifecycle ------------------------------------------------------


def grant_health(phase: GrantPhase, overdue: bool = False) -> Health:
    lifecycle = GrantLifecycle(
        phase=phase,
        reasons=(f"why {phase}",),
        approvals_required=2,
        approved_by=("alice", "bob") if phase in (GrantPhase.APPROVED, GrantPhase.ACTIVE) else (),
        approval_due=NOW + dt.timedelta(days=3),
        overdue=overdue,
        expires_at=NOW + dt.timedelta(days=30),
        next_change=None,
    )
    status, _ = grant_status(None, 5, lifecycle, [], NOW)
    return argocd_health("SharingGrant", with_status(status.to_api(), generation=5))


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (GrantPhase.ACTIVE, Health("Healthy", "Active: why Active")),
        # Approved, waiting for its start: the spec and the clock put it there.
        (GrantPhase.APPROVED, Health("Healthy", "NotStarted: why Approved")),
        # An expired grant did its job: access ended on time with no human action (R12).
        (GrantPhase.EXPIRED, Health("Healthy", "Expired: why Expired")),
        # Waiting for people, not for the operator.
        (GrantPhase.PENDING, Health("Suspended", "Pending: why Pending")),
        (GrantPhase.DENIED, Health("Degraded", "Denied: why Denied")),
    ],
)
def test_grant_phases(phase: GrantPhase, expected: Health) -> None:
    assert grant_health(phase) == expected


def test_an_overdue_approval_stays_suspended_and_says_overdue() -> None:
    assert grant_health(GrantPhase.PENDING, overdue=True) == Health("Suspended", "ApprovalOverdue: why Pending")


# -- GrantApproval -------------------------------------------------------------------------------------


def approval_health(annotations: dict[str, str]) -> Health:
    body = {"metadata": {"name": "a", "namespace": "owner", "generation": 1, "annotations": annotations}}
    identity = decode_identity(body["metadata"].get("annotations"))
    status = approval_status(None, int(body["metadata"].get("generation", 0)), identity, NOW)
    return argocd_health("GrantApproval", {**body, "status": status.to_api()})


def test_a_recorded_approval_is_healthy() -> None:
    health = approval_health({APPROVER_ANNOTATION: encode_identity("alice", ["owner"])})
    assert health == Health("Healthy", "decision by alice recorded in the audit trail")


def test_an_approval_without_a_stamped_identity_is_degraded() -> None:
    health = approval_health({})
    assert health.status == "Degraded"
    assert health.message.startswith("IdentityNotRecorded: ")


# -- AccessTier and FootageExport -------------------------------------------------------------------------


def test_access_tier_ready_false_without_a_stall_is_progressing() -> None:
    status = ready_status("False", "UnknownDepartment", "namespace flood-control does not exist")
    assert argocd_health("AccessTier", with_status(status)).status == "Progressing"


def export_health(phase: ExportPhase, jobs: dict[str, dict[str, Any]]) -> Health:
    decision = ExportDecision(phase, ("alice", "bob") if phase is ExportPhase.APPROVED else (), f"why {phase}")
    status, _ = export_status(None, 1, decision, jobs, [], NOW)
    return argocd_health("FootageExport", with_status(status.to_api()))


@pytest.mark.parametrize(
    ("phase", "jobs", "expected"),
    [
        (ExportPhase.PENDING, {}, Health("Suspended", "Pending: why Pending")),
        (ExportPhase.DENIED, {}, Health("Degraded", "Denied: the export has not run")),
        (ExportPhase.APPROVED, {"j": {"active": 1}}, Health("Progressing", "Running: copying with 1 Job(s)")),
        (ExportPhase.APPROVED, {"j": {"failed": 1}}, Health("Degraded", "ExportFailed: export Job(s) failed: j")),
        (
            ExportPhase.AWAITING_CLASSIFICATION,
            {},
            Health("Suspended", "AwaitingClassificationAuthority: why AwaitingClassificationAuthority"),
        ),
        (ExportPhase.APPROVED, {"j": {"succeeded": 1}}, Health("Healthy", "copied by j")),
    ],
)
def test_footage_export(phase: ExportPhase, jobs: dict[str, dict[str, Any]], expected: Health) -> None:
    assert export_health(phase, jobs) == expected
