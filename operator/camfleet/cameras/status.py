"""The status a Camera should have, decided without I/O from its spec and the last device pass."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from camfleet.api.camera import CameraSpec
from camfleet.cameras.compliance import filed_condition, signage_condition
from camfleet.cameras.observation import DeviceObservation, FailureKind, RetryPlan
from camfleet.conditions import DesiredCondition, merge_conditions, rfc3339, summarize_ready
from camfleet.onvif import ApplyReport, CapabilityGap, Feature
from camfleet.recording.state import RecordingState

# Conditions that decide Ready. Filed and Signage are compliance warnings: an unfiled camera
# still records, and hiding that behind Ready=False would hide the picture too.
# A gap in one of these means the spec cannot be met, not merely that a feature is handled elsewhere.
REQUIRED_FEATURES = {Feature.ENCODER}
# Clock readings move by up to a second between passes (network, one-second resolution):
# a smaller change is noise and must not cause a status write.
DRIFT_NOISE_SECONDS = 1.0


def _retry_note(retry: RetryPlan | None) -> str:
    return f"; attempt {retry.attempt}, next retry in {retry.delay_seconds:.0f}s" if retry else ""


def _not_contacted(condition: str, why: str) -> DesiredCondition:
    return DesiredCondition(condition, "Unknown", "NotContacted", why)


def _failure_reason(kind: FailureKind, default: str) -> str:
    """Our own bugs and unusable replies are named as such, not blamed on the network or the device."""
    return {FailureKind.INTERNAL: "InternalError", FailureKind.PROTOCOL: "ProtocolError"}.get(kind, default)


def _gap_text(gaps: tuple[CapabilityGap, ...]) -> str:
    return "; ".join(f"{gap.feature.value}: {gap.reason}" for gap in gaps)


def reachable_condition(observation: DeviceObservation, retry: RetryPlan | None) -> DesiredCondition:
    failure = observation.failure
    if observation.reached:
        return DesiredCondition("Reachable", "True", "Reachable", "the device answers")
    if failure is None:
        return _not_contacted("Reachable", "not contacted yet")
    if failure.kind is FailureKind.CREDENTIALS:
        return _not_contacted("Reachable", "not contacted: no usable credentials")
    if failure.kind is FailureKind.ENDPOINT_NOT_ALLOWED:
        return DesiredCondition("Reachable", "False", "EndpointNotAllowed", failure.message)
    reason = "Timeout" if failure.kind is FailureKind.TIMEOUT else _failure_reason(failure.kind, "Unreachable")
    return DesiredCondition("Reachable", "False", reason, failure.message + _retry_note(retry))


def authenticated_condition(observation: DeviceObservation, retry: RetryPlan | None) -> DesiredCondition:
    failure = observation.failure
    if observation.authenticated:
        return DesiredCondition("Authenticated", "True", "Authenticated", f"signed in with {observation.auth_mode}")
    if failure is not None and failure.kind is FailureKind.CREDENTIALS:
        return DesiredCondition("Authenticated", "False", "CredentialsMissing", failure.message + _retry_note(retry))
    if failure is not None and failure.kind is FailureKind.AUTH:
        return DesiredCondition("Authenticated", "False", "AuthFailed", failure.message + _retry_note(retry))
    if failure is not None and observation.reached:
        # The device answered, but signing in failed for another reason (a fault, a broken reply).
        reason = "InternalError" if failure.kind is FailureKind.INTERNAL else "SignInFailed"
        return DesiredCondition("Authenticated", "False", reason, failure.message + _retry_note(retry))
    return _not_contacted("Authenticated", "the device was not reached")


def time_synced_condition(observation: DeviceObservation, max_drift_seconds: float) -> DesiredCondition:
    if observation.clock is None:
        return _not_contacted("TimeSynced", "the device clock was not read")
    gaps = observation.report.gaps if observation.report else ()
    ntp_gaps = tuple(gap for gap in gaps if gap.feature in (Feature.NTP, Feature.TIMEZONE))
    note = f"; {_gap_text(ntp_gaps)}" if ntp_gaps else ""
    drift = observation.clock.certain_drift_seconds
    if drift <= max_drift_seconds:
        return DesiredCondition("TimeSynced", "True", "ClockInSync", f"clock within {max_drift_seconds:g}s{note}")
    return DesiredCondition(
        "TimeSynced", "False", "ClockDrift", f"clock off by {drift:.0f}s (limit {max_drift_seconds:g}s){note}"
    )


def configured_condition(observation: DeviceObservation) -> DesiredCondition:
    failure = observation.failure
    report = observation.report
    if report is None:
        if failure is not None and observation.authenticated:
            reason = "InternalError" if failure.kind is FailureKind.INTERNAL else "DeviceError"
            return DesiredCondition("Configured", "False", reason, failure.message)
        return _not_contacted("Configured", "the device was not configured in this pass")
    if report.not_applied:
        differences = ", ".join(f"{d.feature.value}.{d.field}" for d in report.not_applied)
        return DesiredCondition(
            "Configured", "False", "SettingsNotApplied", f"the device accepted but did not apply: {differences}"
        )
    blocking = tuple(gap for gap in report.gaps if gap.feature in REQUIRED_FEATURES)
    if blocking:
        return DesiredCondition("Configured", "False", "UnsupportedSettings", _gap_text(blocking))
    if failure is not None:
        reason = "InternalError" if failure.kind is FailureKind.INTERNAL else "DeviceError"
        return DesiredCondition("Configured", "False", reason, failure.message)
    note = f"; capability gaps: {_gap_text(report.gaps)}" if report.gaps else ""
    return DesiredCondition("Configured", "True", "Configured", "the device matches the spec" + note)


def camera_conditions(
    spec: CameraSpec,
    observation: DeviceObservation,
    today: date,
    retry: RetryPlan | None = None,
    recording: RecordingState | None = None,
) -> list[DesiredCondition]:
    """Recording joins the list once the recording controller has decided; it gates Ready only when a
    policy selects the camera (an unrecorded camera can still be perfectly Ready)."""
    operational = [
        reachable_condition(observation, retry),
        authenticated_condition(observation, retry),
        time_synced_condition(observation, spec.device.time.max_drift_seconds),
        configured_condition(observation),
    ]
    gating = list(operational)
    ready_message = "reachable, authenticated, clock in sync and configured as specified"
    if recording is not None:
        operational.append(recording.condition)
        if recording.required:
            gating.append(recording.condition)
            ready_message += ", and recording"
    ready = summarize_ready(gating, ready_message=ready_message)
    return [*operational, filed_condition(spec, today), signage_condition(spec), ready]


def stable_drift(previous: float | None, measured: float) -> float:
    if previous is not None and abs(previous - measured) < DRIFT_NOISE_SECONDS:
        return previous
    return round(measured, 1)


def _fault(fault_code: str | None) -> dict[str, str] | None:
    if not fault_code:
        return None
    code, _, subcode = fault_code.partition("/")
    return {"code": code, "subcode": subcode} if subcode else {"code": code}


def _last_error(current: dict[str, Any] | None, observation: DeviceObservation, now: datetime) -> dict[str, Any] | None:
    failure = observation.failure
    if failure is None:
        return None
    error: dict[str, Any] = {"message": failure.message}
    if failure.operation:
        error["operation"] = failure.operation
    if fault := _fault(failure.fault_code):
        error["onvifFault"] = fault
    # The same error again keeps its first time, so a device that stays broken causes no writes.
    same = current is not None and {k: v for k, v in current.items() if k != "time"} == error
    error["time"] = current["time"] if same and current and "time" in current else rfc3339(now)
    return error


def device_status_fields(current: dict[str, Any], observation: DeviceObservation, now: datetime) -> dict[str, Any]:
    """Device facts in status; what this pass could not read keeps its last known value."""
    fields: dict[str, Any] = {}
    if observation.device is not None:
        info = observation.device
        fields["device"] = {
            "maker": info.manufacturer,
            "model": info.model,
            "firmware": info.firmware_version,
            "serial": info.serial_number,
            "hardwareId": info.hardware_id,
        }
    if observation.streams is not None:
        fields["streamUris"] = [{"profile": s.profile_token, "uri": s.uri} for s in observation.streams.streams]
    if observation.auth_mode is not None:
        fields["authMode"] = observation.auth_mode
    if observation.clock is not None:
        drift = observation.clock.certain_drift_seconds
        fields["clockDriftSeconds"] = stable_drift(current.get("clockDriftSeconds"), drift)
    fields["lastError"] = _last_error(current.get("lastError"), observation, now)
    return fields


def camera_status(
    current: dict[str, Any] | None,
    spec: CameraSpec,
    generation: int,
    observation: DeviceObservation,
    now: datetime,
    retry: RetryPlan | None = None,
    recording: RecordingState | None = None,
) -> tuple[dict[str, Any], list[DesiredCondition]]:
    """The whole new status, and the conditions it was built from.

    The status equals `current` when nothing changed, so the caller can skip the write.
    """
    current = dict(current or {})
    conditions = camera_conditions(spec, observation, now.date(), retry, recording)
    status = {**current, **device_status_fields(current, observation, now)}
    if recording is not None:
        status["recordingPolicy"] = recording.policy
    status["observedGeneration"] = generation
    status["conditions"] = merge_conditions(current.get("conditions"), conditions, generation, now)
    for optional in ("lastError", "recordingPolicy"):
        if status.get(optional) is None:
            status.pop(optional, None)
    return status, conditions


def drift_corrected(previous_conditions: list[dict[str, Any]] | None, generation: int, report: ApplyReport) -> bool:
    """True when settings were put back on a device that was already Configured for this very spec."""
    if not report.changed:
        return False
    for condition in previous_conditions or ():
        if condition.get("type") == "Configured":
            return condition.get("status") == "True" and condition.get("observedGeneration") == generation
    return False
