"""Every state of every kind, as the table in docs/gitops/README.md documents it, checked three ways.

For each row the status is made by the kind's own pure status function, then:

- its `Ready`, `Reconciling` and `Stalled` conditions must be what the row says;
- kstatus, the library Flux's health checks use, must say what the row says: the real
  `sigs.k8s.io/cli-utils` `status.Compute`, through the Go helper in tools/kstatus (built and cached by
  `make controlplane`; `ensure_kstatus` builds it here when it is missing);
- the shipped Argo CD script for the kind, run in Lua 5.1 as Argo CD runs it, must say what the row says.

The table and the states built here must list the same rows, so a new state needs a row and a builder.
tests/integration/test_argocd_health.py does the same over objects the operator wrote in a real cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from camfleet.access.approval_status import approval_status
from camfleet.access.authorities import authorities_status
from camfleet.access.city_time import CityCalendar
from camfleet.access.grant_status import cameras_found, grant_status
from camfleet.access.lifecycle import AWAITING_AUTHORIZATION, GrantLifecycle, GrantPhase
from camfleet.access.tier_status import tier_status
from camfleet.api.access_tier import AccessTier
from camfleet.api.authorities import CamfleetAuthorities
from camfleet.api.camera import CameraSpec
from camfleet.api.common import CameraSelection, LabelSelector
from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind, RetryPlan
from camfleet.cameras.status import camera_status
from camfleet.devcluster.kstatus_build import ensure_kstatus
from camfleet.export.run_approval import ExportDecision, ExportPhase
from camfleet.export.status import export_status
from camfleet.onvif import ApplyReport, CapabilityGap, Difference, Feature
from camfleet.onvif.models import ObservedDeviceSettings
from camfleet.recording.policy_status import policy_status
from camfleet.recording.state import RecordingState, placement_pending
from tests.unit.test_argocd_lua import CAMERA_SPEC, NOW, argocd_health, healthy_device, recording

README = Path(__file__).resolve().parents[2] / "docs" / "gitops" / "README.md"
EVERY_KIND = "every kind"
# What each kstatus result may be called in Argo CD: the two tools agree on every row but the documented one.
AGREEING = {"Current": {"Healthy", "Suspended"}, "InProgress": {"Progressing"}, "Failed": {"Degraded"}}
NOT_REPORTED_YET = "created, no status yet"
GENERATION = 4


@dataclass(frozen=True)
class Row:
    kind: str
    state: str
    ready: tuple[str, str | None] | None
    reconciling: tuple[str, str | None] | None
    stalled: tuple[str, str | None] | None
    kstatus: str
    argocd: str | None


def _condition_cell(cell: str) -> tuple[str, str | None] | None:
    """`True `Reason`` -> ("True", "Reason"); `False` -> ("False", None); a dash or `older` -> None (not checked)."""
    match = re.fullmatch(r"(True|False|Unknown)(?: `(\w+)`)?", cell)
    return (match.group(1), match.group(2)) if match else None


def documented_rows() -> list[Row]:
    text = README.read_text()
    header = text.index("| kind | state | Ready | Reconciling | Stalled | kstatus | Argo CD |")
    rows = []
    for line in text[header:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        kind, state, ready, reconciling, stalled, kstatus, argocd = (
            cell.strip() for cell in line.strip("|").split("|")
        )
        rows.append(
            Row(
                kind=kind,
                state=state,
                ready=_condition_cell(ready),
                reconciling=_condition_cell(reconciling),
                stalled=_condition_cell(stalled),
                kstatus=kstatus.split()[0],
                argocd=argocd.split()[0] if argocd[0].isalpha() else None,
            )
        )
    return rows


def as_object(kind: str, status: Any, generation: int = GENERATION, namespaced: bool = True) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "x", "generation": generation}
    if namespaced:
        metadata["namespace"] = "transport"
    return {"apiVersion": "camfleet.io/v1alpha1", "kind": kind, "metadata": metadata, "status": status.to_api()}


# -- Camera --------------------------------------------------------------------------------------------


def camera(
    observation: DeviceObservation,
    recorded: RecordingState | None = None,
    retry: RetryPlan | None = None,
    **spec_changes: Any,
) -> dict[str, Any]:
    spec = CameraSpec.model_validate({**CAMERA_SPEC, **spec_changes})
    status, _ = camera_status(None, spec, GENERATION, observation, NOW, retry, recorded)
    return as_object("Camera", status)


def failing(kind: FailureKind, reached: bool = False, authenticated: bool = False, **failure: Any) -> DeviceObservation:
    return DeviceObservation(
        reached=reached, authenticated=authenticated, failure=DeviceFailure(kind, f"{kind} failure", **failure)
    )


def retrying(attempt: int) -> RetryPlan:
    return RetryPlan(attempt, 5.0 * 2 ** (attempt - 1))


def with_report(report: ApplyReport) -> DeviceObservation:
    return replace(healthy_device(), report=report)


NOT_APPLIED = ApplyReport(observed=ObservedDeviceSettings(), not_applied=(Difference(Feature.ENCODER, "fps", 25, 15),))
NO_ENCODER = ApplyReport(observed=ObservedDeviceSettings(), gaps=(CapabilityGap(Feature.ENCODER, "no H265"),))

CAMERA: dict[str, Callable[[], dict[str, Any]]] = {
    "working: reachable, signed in, clock in sync, configured, recording when a policy selects it": lambda: camera(
        healthy_device(), recording("True", "Recording")
    ),
    "working, with compliance warnings `FilingOverdue` and `SignageUnconfirmed`": lambda: camera(
        healthy_device(), signage={"confirmed": False}, filingReference=None
    ),
    "first device pass not made yet": lambda: camera(DeviceObservation()),
    "`Unreachable`, first or second failed pass": lambda: camera(failing(FailureKind.UNREACHABLE), retry=retrying(2)),
    "`Unreachable`, from the third failed pass in a row": lambda: camera(
        failing(FailureKind.UNREACHABLE), retry=retrying(3)
    ),
    "`Timeout`, first or second failed pass": lambda: camera(failing(FailureKind.TIMEOUT), retry=retrying(1)),
    "`Timeout`, from the third failed pass in a row": lambda: camera(failing(FailureKind.TIMEOUT), retry=retrying(7)),
    "`AuthFailed`: wrong username or password": lambda: camera(failing(FailureKind.AUTH, reached=True)),
    "`CredentialsMissing`: the Secret or its key is missing": lambda: camera(failing(FailureKind.CREDENTIALS)),
    "`EndpointNotAllowed`: endpoint outside the device networks": lambda: camera(
        failing(FailureKind.ENDPOINT_NOT_ALLOWED)
    ),
    "`UntrustedAddress`: the device named an address outside its host": lambda: camera(
        failing(FailureKind.UNTRUSTED_ADDRESS)
    ),
    "`SignInFailed`: the device answered, signing in failed otherwise": lambda: camera(
        failing(FailureKind.PROTOCOL, reached=True)
    ),
    "`DeviceError`: the device refused a setting with a fault": lambda: camera(
        failing(FailureKind.PROTOCOL, reached=True, authenticated=True, fault_code="env:Receiver/ter:Action")
    ),
    "`ProtocolError`: a reply camfleet cannot use": lambda: camera(
        failing(FailureKind.PROTOCOL, reached=True, authenticated=True)
    ),
    "`InternalError`: a bug in camfleet": lambda: camera(failing(FailureKind.INTERNAL)),
    "`ClockDrift`: clock off by more than allowed": lambda: camera(healthy_device(drift=600)),
    "`SettingsNotApplied`: accepted but not applied": lambda: camera(with_report(NOT_APPLIED)),
    "`UnsupportedSettings`: the encoder cannot do the spec": lambda: camera(with_report(NO_ENCODER)),
    "`WaitingForStream`: recorded, stream URI not known yet": lambda: camera(
        healthy_device(), recording("False", "WaitingForStream")
    ),
    "`RecorderNotReady`: recorder pod starting": lambda: camera(
        healthy_device(), recording("False", "RecorderNotReady")
    ),
    "`PlacementPending`: a policy selects it, its recorder is not decided yet": lambda: camera(
        healthy_device(), placement_pending("city")
    ),
    "`CameraStalled`: recorded, stalled by an earlier condition, which Ready and Stalled name": lambda: camera(
        failing(FailureKind.AUTH, reached=True), recording("False", "CameraStalled")
    ),
    "`StorageClassNotFound`: the policy's storage class does not exist": lambda: camera(
        healthy_device(), recording("False", "StorageClassNotFound")
    ),
    "`StorageNotEncrypted`: encryption required, class not encrypted (R17)": lambda: camera(
        healthy_device(), recording("False", "StorageNotEncrypted")
    ),
    "`PolicyNotFound`: `recordingPolicyRef` names no policy": lambda: camera(
        healthy_device(), recording("False", "PolicyNotFound")
    ),
}

# -- RecordingPolicy -----------------------------------------------------------------------------------


def policy(states: dict[str, RecordingState]) -> dict[str, Any]:
    status, _ = policy_status(None, GENERATION, states, len(states), 30, NOW)
    return as_object("RecordingPolicy", status)


RECORDING_POLICY: dict[str, Callable[[], dict[str, Any]]] = {
    "recording every camera it selects": lambda: policy({"a": recording("True", "Recording")}),
    "`NoCameraSelected`: records no camera": lambda: policy({}),
    "a camera `WaitingForStream` or `RecorderNotReady`": lambda: policy(
        {"a": recording("True", "Recording"), "b": recording("False", "RecorderNotReady")}
    ),
    "a camera `CameraStalled`: Stalled itself before reporting a stream": lambda: policy(
        {"a": recording("False", "CameraStalled"), "b": recording("True", "Recording")}
    ),
    "a camera's storage class does not exist: `StorageClassNotFound`": lambda: policy(
        {"a": recording("False", "StorageClassNotFound")}
    ),
    "a camera's storage class is not encrypted (R17): `StorageNotEncrypted`": lambda: policy(
        {"a": recording("False", "RecorderNotReady"), "b": recording("False", "StorageNotEncrypted")}
    ),
}

# -- SharingGrant --------------------------------------------------------------------------------------


def lifecycle(phase: GrantPhase, **changes: Any) -> GrantLifecycle:
    given = phase in (GrantPhase.APPROVED, GrantPhase.ACTIVE, GrantPhase.EXPIRED)
    fields: dict[str, Any] = {
        "phase": phase,
        "reasons": (f"why {phase}",),
        "approvals_required": 2,
        "approved_by": ("alice", "bob") if given else (),
        "approval_due": NOW + dt.timedelta(days=3),
        "overdue": False,
        "expires_at": NOW + dt.timedelta(days=30),
        "next_change": None,
    }
    return GrantLifecycle(**(fields | changes))


NAMED = CameraSelection(namespace="transport", names=["vault"])
SELECTED = CameraSelection(namespace="transport", selector=LabelSelector(match_labels={"site": "nowhere"}))


def grant(phase: GrantPhase, selection: CameraSelection = NAMED, existing: Sequence[str] = ("vault",), **changes: Any):
    found = cameras_found(selection, existing, len(existing))
    status, _ = grant_status(None, GENERATION, lifecycle(phase, **changes), [], NOW, found)
    return as_object("SharingGrant", status)


def revoked_grant() -> dict[str, Any]:
    """Active, then its approvals deleted: Revoked True, and waiting for approvals again."""
    active, _ = grant_status(None, GENERATION, lifecycle(GrantPhase.ACTIVE), [], NOW)
    status, _ = grant_status(active, GENERATION, lifecycle(GrantPhase.PENDING), [], NOW + dt.timedelta(hours=1))
    revoked = next(c for c in status.conditions if c.type == "Revoked")
    assert (revoked.status, revoked.reason) == ("True", "ApprovalsWithdrawn")
    return as_object("SharingGrant", status)


SHARING_GRANT: dict[str, Callable[[], dict[str, Any]]] = {
    "`Active`: access given": lambda: grant(GrantPhase.ACTIVE),
    "`NotStarted`: approved, period not begun": lambda: grant(GrantPhase.APPROVED),
    "`Expired`: access ended on time (R12)": lambda: grant(GrantPhase.EXPIRED),
    "`Expired`, its cameras gone since": lambda: grant(GrantPhase.EXPIRED, existing=()),
    "`AwaitingApproval`: `Approved` Unknown `Pending`": lambda: grant(GrantPhase.PENDING),
    "`AwaitingApproval`, answer overdue: `Approved` Unknown `ApprovalOverdue` (R11)": lambda: grant(
        GrantPhase.PENDING, overdue=True
    ),
    "`AwaitingApproval`, content changed: `Approved` Unknown `ApprovalsVoided`": lambda: grant(
        GrantPhase.PENDING, voided=("approval-1",)
    ),
    "`AwaitingAuthorization`: emergency grant, authority to act (R12)": lambda: grant(
        GrantPhase.PENDING, pending_reason=AWAITING_AUTHORIZATION
    ),
    "`Revoked` `ApprovalsWithdrawn`: was Active, approvals deleted, waits again": revoked_grant,
    "`Denied`": lambda: grant(GrantPhase.DENIED),
    "`CameraNotFound`: a named camera does not exist": lambda: grant(GrantPhase.ACTIVE, existing=()),
    "`NoCameraSelected`: the selector matches no camera": lambda: grant(
        GrantPhase.PENDING, selection=SELECTED, existing=()
    ),
}

# -- GrantApproval, AccessTier, FootageExport, CamfleetAuthorities -----------------------------------


def approval(identity: tuple[str, list[str]] | None) -> dict[str, Any]:
    return as_object("GrantApproval", approval_status(None, GENERATION, identity, NOW))


GRANT_APPROVAL: dict[str, Callable[[], dict[str, Any]]] = {
    "`Recorded`: approver identity recorded, the decision counts": lambda: approval(("alice", ["owner"])),
    "`IdentityNotRecorded`: no valid stamp, never counts": lambda: approval(None),
}

FLOOD = AccessTier.model_validate(
    {
        "metadata": {"name": "flood", "generation": GENERATION},
        "spec": {
            "level": 2,
            "subjects": [{"department": "water", "windows": [{"recurring": {"start": "06-01", "end": "09-30"}}]}],
        },
    }
)


def tier(now: dt.datetime) -> dict[str, Any]:
    status = tier_status(None, FLOOD, GENERATION, now, CityCalendar())
    return as_object("AccessTier", status, namespaced=False)


ACCESS_TIER: dict[str, Callable[[], dict[str, Any]]] = {
    "`Active`: some department holds the level": lambda: tier(dt.datetime(2030, 7, 1, 4, tzinfo=dt.UTC)),
    "`NoneActive`: every window closed (R14)": lambda: tier(dt.datetime(2030, 1, 1, 4, tzinfo=dt.UTC)),
}


def export(
    phase: ExportPhase,
    jobs: dict[str, dict[str, Any]] | None = None,
    blocked: tuple[str, str] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    approvers = ("alice", "bob") if phase is ExportPhase.APPROVED else ()
    decision = ExportDecision(phase, approvers, f"why {phase}", **changes)
    status, _ = export_status(None, GENERATION, decision, jobs or {}, ["export-x"], NOW, blocked=blocked)
    return as_object("FootageExport", status)


FOOTAGE_EXPORT: dict[str, Callable[[], dict[str, Any]]] = {
    "`AwaitingApproval`: `Approved` Unknown `Pending`, two approvers needed (R15)": lambda: export(ExportPhase.PENDING),
    "`AwaitingApproval`, content changed: `Approved` Unknown `ApprovalsVoided`": lambda: export(
        ExportPhase.PENDING, voided=("approval-1",)
    ),
    "`Running`: copy Jobs at work": lambda: export(ExportPhase.APPROVED, {"j": {"active": 1}}),
    "`Completed`: copy and manifest complete": lambda: export(ExportPhase.APPROVED, {"j": {"succeeded": 1}}),
    "`Denied`": lambda: export(ExportPhase.DENIED),
    "`AwaitingApproval`, unmasked: `Approved` Unknown `AwaitingClassificationAuthority` (R17)": lambda: export(
        ExportPhase.AWAITING_CLASSIFICATION
    ),
    "`StorageNotEncrypted`: the export volume's class is not encrypted (R17)": lambda: export(
        ExportPhase.APPROVED, blocked=("StorageNotEncrypted", "class plain is not marked encrypted")
    ),
    "`StorageClassNotFound`: the export volume's class does not exist": lambda: export(
        ExportPhase.PENDING, blocked=("StorageClassNotFound", "storage class gone does not exist")
    ),
    "`CameraNotFound`: a masked export of an unknown camera (its masks are unknown)": lambda: export(
        ExportPhase.APPROVED, blocked=("CameraNotFound", "camera(s) cam not found")
    ),
    "`ExportFailed`: a copy Job failed": lambda: export(ExportPhase.APPROVED, {"j": {"failed": 1}}),
    "`NoExtractionLevel`: an extraction by a department without level 1 or 2 (R13)": lambda: export(
        ExportPhase.PENDING, blocked=("NoExtractionLevel", "refused: NoExtractionLevel (R13)")
    ),
    "`OutsideTierWindow`: an extraction while the level-1/2 tier's window is closed (R14)": lambda: export(
        ExportPhase.PENDING, blocked=("OutsideTierWindow", "refused: OutsideTierWindow (R13)")
    ),
    "`RestrictedZone`: an extraction of a restricted-zone camera at level 2 (R13)": lambda: export(
        ExportPhase.PENDING, blocked=("RestrictedZone", "refused: RestrictedZone (R13)")
    ),
    "`CameraNotShared`: an extraction of a NotShared camera (R10)": lambda: export(
        ExportPhase.PENDING, blocked=("CameraNotShared", "refused: CameraNotShared (R13)")
    ),
}

AUTHORITIES = CamfleetAuthorities.model_validate(
    {"metadata": {"name": "camfleet"}, "spec": {"emergency": {"groups": ["emc"]}, "emergencyDepartments": ["police"]}}
)
CAMFLEET_AUTHORITIES: dict[str, Callable[[], dict[str, Any]]] = {
    "`Enforced`: the configuration is loaded": lambda: as_object(
        "CamfleetAuthorities", authorities_status(None, AUTHORITIES, GENERATION, NOW), namespaced=False
    ),
}

STATES: dict[str, dict[str, Callable[[], dict[str, Any]]]] = {
    "Camera": CAMERA,
    "RecordingPolicy": RECORDING_POLICY,
    "SharingGrant": SHARING_GRANT,
    "GrantApproval": GRANT_APPROVAL,
    "AccessTier": ACCESS_TIER,
    "FootageExport": FOOTAGE_EXPORT,
    "CamfleetAuthorities": CAMFLEET_AUTHORITIES,
}
ARGO_CD_CHECKS = {"Camera", "RecordingPolicy", "SharingGrant", "GrantApproval", "AccessTier", "FootageExport"}


def no_status_yet(kind: str) -> dict[str, Any]:
    settled = next(iter(STATES[kind].values()))()
    return {key: value for key, value in settled.items() if key != "status"}


def spec_changed(kind: str) -> dict[str, Any]:
    """The first (settled) state of the kind, right after a spec change the operator has not acted on yet."""
    obj = next(iter(STATES[kind].values()))()
    obj["metadata"]["generation"] += 1
    return obj


EVERY_KIND_STATES: dict[str, Callable[[str], dict[str, Any]]] = {
    NOT_REPORTED_YET: no_status_yet,
    "spec changed, status describes an older generation": spec_changed,
}

# -- running kstatus -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kstatus_binary() -> Path:
    return ensure_kstatus()


def kstatus(binary: Path, objects: list[dict[str, Any]] | dict[str, Any]) -> list[dict[str, Any]]:
    """What kstatus (cli-utils status.Compute) says of each object, in order."""
    done = subprocess.run([str(binary)], input=json.dumps(objects), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def conditions_of(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj.get("status", {}).get("conditions", [])}


def cases() -> list[tuple[Row, str, Callable[[], dict[str, Any]]]]:
    """(row, kind, builder) for every documented row; "every kind" rows once per kind."""
    found = []
    for row in documented_rows():
        if row.kind == EVERY_KIND:
            builder = EVERY_KIND_STATES[row.state]
            found += [(row, kind, (lambda kind=kind, builder=builder: builder(kind))) for kind in STATES]
        else:
            found.append((row, row.kind, STATES[row.kind][row.state]))
    return found


CASES = cases()

# -- the tests -----------------------------------------------------------------------------------------


def test_the_table_lists_exactly_the_states_built_here() -> None:
    rows = documented_rows()
    documented = {(row.kind, row.state) for row in rows}
    built = {(kind, state) for kind, states in STATES.items() for state in states}
    built |= {(EVERY_KIND, state) for state in EVERY_KIND_STATES}
    assert documented == built, f"only in the table: {documented - built}; only here: {built - documented}"
    assert len(documented) == len(rows), "a state is listed twice"


def check(row: Row, kind: str, obj: dict[str, Any], kstatus_binary: Path) -> None:
    """`obj` (a `kind`) has the conditions the row documents, and kstatus and the Argo CD script say what it says."""
    conditions = conditions_of(obj)
    for condition_type, documented in (
        ("Ready", row.ready),
        ("Reconciling", row.reconciling),
        ("Stalled", row.stalled),
    ):
        if documented is None:
            continue
        status, reason = conditions[condition_type]
        assert (status, reason if documented[1] else None) == documented, (condition_type, conditions)
    if row.ready is not None:
        # observedGeneration always, on the status and on each condition.
        generation = obj["metadata"]["generation"]
        assert obj["status"]["observedGeneration"] == generation
        assert {c["observedGeneration"] for c in obj["status"]["conditions"]} == {generation}
    [computed] = kstatus(kstatus_binary, [obj])
    assert computed["status"] == row.kstatus, computed
    if kind in ARGO_CD_CHECKS:
        health = argocd_health(kind, obj)
        assert health.status == row.argocd, health
        if row.state != NOT_REPORTED_YET:
            assert health.status in AGREEING[computed["status"]], (computed, health)
    if computed["status"] == "Failed":
        # A stall says why, in kstatus's message too.
        stalled = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")
        assert computed["message"] == stalled["message"]


def documented_row(kind: str, state: str) -> Row:
    """The table's row for `state` of `kind` ("every kind" rows serve every kind)."""
    return next(row for row in documented_rows() if row.kind in (kind, EVERY_KIND) and row.state == state)


@pytest.mark.parametrize(("row", "kind", "build"), CASES, ids=[f"{kind}: {row.state}" for row, kind, _ in CASES])
def test_each_state_reads_as_documented(
    row: Row, kind: str, build: Callable[[], dict[str, Any]], kstatus_binary: Path
) -> None:
    check(row, kind, build(), kstatus_binary)


def test_ready_false_always_comes_with_reconciling_or_stalled() -> None:
    """So kstatus never reads a bare Ready=False (in progress forever): the operator says which it is."""
    for row, kind, build in CASES:
        conditions = conditions_of(build())
        if conditions.get("Ready", ("True", ""))[0] == "False":
            progress = (conditions["Reconciling"][0], conditions["Stalled"][0])
            assert progress in {("True", "False"), ("False", "True")}, (kind, row.state, conditions)


def test_kstatus_reads_a_kubectl_list_whole(kstatus_binary: Path) -> None:
    """`kubectl get -o json` output (a List) goes in as it is; one result per item, in order."""
    items = [SHARING_GRANT["`Denied`"](), SHARING_GRANT["`Expired`: access ended on time (R12)"]()]
    results = kstatus(kstatus_binary, {"apiVersion": "v1", "kind": "List", "items": items})
    assert [result["status"] for result in results] == ["Failed", "Current"]
    assert results[0]["conditions"] == [
        {"type": "Stalled", "status": "True", "reason": "Denied", "message": "why Denied"}
    ]
