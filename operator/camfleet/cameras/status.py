"""The status a Camera should have, decided without I/O from its spec and the last device pass."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from camfleet.api.camera import (
    AuthMode,
    CameraCondition,
    CameraSpec,
    CameraStatus,
    CapabilityFeature,
    DeviceInfo,
    LastError,
    OnvifFault,
    PtzControl,
    StreamUri,
)
from camfleet.api.camera import CapabilityGap as GapStatus
from camfleet.api.conditions import Condition
from camfleet.cameras.compliance import filed_condition, signage_condition
from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind, RetryPlan
from camfleet.condition_merge import (
    DesiredCondition,
    Progress,
    condition_of,
    merge_conditions,
    progress_conditions,
    summarize_ready,
    whole_seconds,
)
from camfleet.onvif import ApplyReport, CapabilityGap, Feature
from camfleet.recording.state import CAMERA_STALLED, RecordingState

Cond = DesiredCondition[CameraCondition]
C = CameraCondition

# Conditions that decide Ready. Filed and Signage are compliance warnings: an unfiled camera
# still records, and hiding that behind Ready=False would hide the picture too.
# A gap in one of these means the spec cannot be met, not merely that a feature is handled elsewhere.
REQUIRED_FEATURES = {Feature.ENCODER}
# Clock readings move by up to a second between passes (network, one-second resolution):
# a smaller change is noise and must not cause a status write.
DRIFT_NOISE_SECONDS = 1.0


def _retry_note(retry: RetryPlan | None) -> str:
    return f"; attempt {retry.attempt}, next retry in {retry.delay_seconds:.0f}s" if retry else ""


# The device named an address (service XAddr, stream URI, HTTP redirect) outside its own host and the device
# networks, or a plain one when the camera requires TLS; the message names the address.
UNTRUSTED_ADDRESS = "UntrustedAddress"


def _not_contacted(condition: CameraCondition, why: str) -> Cond:
    return Cond(condition, "Unknown", "NotContacted", why)


def _failure_reason(kind: FailureKind, default: str) -> str:
    """Our own bugs and unusable replies are named as such, not blamed on the network or the device."""
    return {FailureKind.INTERNAL: "InternalError", FailureKind.PROTOCOL: "ProtocolError"}.get(kind, default)


def _gap_text(gaps: tuple[CapabilityGap, ...]) -> str:
    """In feature order, so the same gaps found in another order are the same message (no status write)."""
    return "; ".join(f"{gap.feature.value}: {gap.reason}" for gap in sorted(gaps, key=lambda gap: gap.feature.value))


def reachable_condition(observation: DeviceObservation, retry: RetryPlan | None) -> Cond:
    failure = observation.failure
    if observation.reached:
        return Cond(C.REACHABLE, "True", "Reachable", "the device answers")
    if failure is None:
        return _not_contacted(C.REACHABLE, "not contacted yet")
    if failure.kind is FailureKind.CREDENTIALS:
        return _not_contacted(C.REACHABLE, "not contacted: no usable credentials")
    if failure.kind is FailureKind.ENDPOINT_NOT_ALLOWED:
        return Cond(C.REACHABLE, "False", "EndpointNotAllowed", failure.message)
    if failure.kind is FailureKind.UNTRUSTED_ADDRESS:
        return Cond(C.REACHABLE, "False", UNTRUSTED_ADDRESS, failure.message + _retry_note(retry))
    reason = "Timeout" if failure.kind is FailureKind.TIMEOUT else _failure_reason(failure.kind, "Unreachable")
    return Cond(C.REACHABLE, "False", reason, failure.message + _retry_note(retry))


def authenticated_condition(observation: DeviceObservation, retry: RetryPlan | None) -> Cond:
    failure = observation.failure
    if observation.authenticated:
        return Cond(C.AUTHENTICATED, "True", "Authenticated", f"signed in with {observation.auth_mode}")
    if failure is not None and failure.kind is FailureKind.CREDENTIALS:
        return Cond(C.AUTHENTICATED, "False", "CredentialsMissing", failure.message + _retry_note(retry))
    if failure is not None and failure.kind is FailureKind.AUTH:
        return Cond(C.AUTHENTICATED, "False", "AuthFailed", failure.message + _retry_note(retry))
    if failure is not None and observation.reached:
        # The device answered, but signing in failed for another reason (a fault, a broken reply).
        reason = {FailureKind.INTERNAL: "InternalError", FailureKind.UNTRUSTED_ADDRESS: UNTRUSTED_ADDRESS}.get(
            failure.kind, "SignInFailed"
        )
        return Cond(C.AUTHENTICATED, "False", reason, failure.message + _retry_note(retry))
    return _not_contacted(C.AUTHENTICATED, "the device was not reached")


def time_synced_condition(observation: DeviceObservation, max_drift_seconds: float) -> Cond:
    if observation.clock is None:
        return _not_contacted(C.TIME_SYNCED, "the device clock was not read")
    gaps = observation.report.gaps if observation.report else ()
    ntp_gaps = tuple(gap for gap in gaps if gap.feature in (Feature.NTP, Feature.TIMEZONE))
    note = f"; {_gap_text(ntp_gaps)}" if ntp_gaps else ""
    drift = observation.clock.certain_drift_seconds
    if drift <= max_drift_seconds:
        return Cond(C.TIME_SYNCED, "True", "ClockInSync", f"clock within {max_drift_seconds:g}s{note}")
    return Cond(C.TIME_SYNCED, "False", "ClockDrift", f"clock off by {drift:.0f}s (limit {max_drift_seconds:g}s){note}")


def _configure_failure(failure: DeviceFailure, retry: RetryPlan | None) -> Cond:
    """A pass that failed while configuring: our bug, an unusable reply, or the device refusing (a fault)."""
    if failure.kind is FailureKind.INTERNAL:
        reason = "InternalError"
    elif failure.kind is FailureKind.UNTRUSTED_ADDRESS:
        reason = UNTRUSTED_ADDRESS  # an XAddr, stream URI or redirect outside the camera's host: nothing sent there
    elif failure.kind is FailureKind.PROTOCOL and failure.fault_code is None:
        reason = "ProtocolError"  # the device answered, but not in a shape camfleet can use
    else:
        reason = "DeviceError"
    return Cond(C.CONFIGURED, "False", reason, failure.message + _retry_note(retry))


def configured_condition(observation: DeviceObservation, retry: RetryPlan | None = None) -> Cond:
    failure = observation.failure
    report = observation.report
    if report is None:
        if failure is not None and observation.authenticated:
            return _configure_failure(failure, retry)
        return _not_contacted(C.CONFIGURED, "the device was not configured in this pass")
    if report.not_applied:
        differences = ", ".join(f"{d.feature.value}.{d.field}" for d in report.not_applied)
        return Cond(
            C.CONFIGURED, "False", "SettingsNotApplied", f"the device accepted but did not apply: {differences}"
        )
    blocking = tuple(gap for gap in report.gaps if gap.feature in REQUIRED_FEATURES)
    if blocking:
        return Cond(C.CONFIGURED, "False", "UnsupportedSettings", _gap_text(blocking))
    if failure is not None:
        return _configure_failure(failure, retry)
    note = f"; capability gaps: {_gap_text(report.gaps)}" if report.gaps else ""
    return Cond(C.CONFIGURED, "True", "Configured", "the device matches the spec" + note)


def camera_conditions(
    spec: CameraSpec,
    observation: DeviceObservation,
    today: date,
    retry: RetryPlan | None = None,
    recording: RecordingState | None = None,
) -> list[Cond]:
    """Recording joins the list once the recording controller has decided; it gates Ready only when a
    policy selects the camera (an unrecorded camera can still be perfectly Ready)."""
    operational = [
        reachable_condition(observation, retry),
        authenticated_condition(observation, retry),
        time_synced_condition(observation, spec.device.time.max_drift_seconds),
        configured_condition(observation, retry),
    ]
    gating = list(operational)
    ready_message = "reachable, authenticated, clock in sync and configured as specified"
    if recording is not None:
        operational.append(recording.condition)
        if recording.required:
            gating.append(recording.condition)
            ready_message += ", and recording"
    ready = summarize_ready(gating, C.READY, ready_message=ready_message)
    conditions = [*operational, filed_condition(spec, today), signage_condition(spec), ready]
    stuck = camera_progress(conditions, recording, retry).stuck
    if stuck is not None:
        # Ready names what needs a person (CredentialsMissing), not the first condition it left Unknown.
        conditions[-1] = Cond(C.READY, "False", *stuck)
    return conditions


# Ready=False reasons the operator gets past by itself: the first device pass, the stream URI, the recorder pod
# (and CameraStalled: the camera's own stall, named by an earlier condition, holds up its recording).
PASSING_REASONS = frozenset({"NotContacted", "WaitingForStream", "RecorderNotReady", CAMERA_STALLED})
# A network failure is retried with backoff; a blip is work under way, a device still unreachable after this many
# passes in a row needs a person (a cable, a switch, a wrong address), so it is Stalled.
NETWORK_REASONS = frozenset({"Unreachable", "Timeout"})
STALLED_AFTER_FAILED_PASSES = 3
# Compliance warnings never gate Ready (see camera_conditions), so they never stall a camera either.
NOT_GATING = frozenset({C.FILED, C.SIGNAGE, C.READY})


def _passes_by_itself(condition: Cond, retry: RetryPlan | None) -> bool:
    if condition.status == "Unknown" or condition.reason in PASSING_REASONS:
        return True
    return condition.reason in NETWORK_REASONS and retry is not None and retry.attempt < STALLED_AFTER_FAILED_PASSES


def camera_progress(conditions: Sequence[Cond], recording: RecordingState | None, retry: RetryPlan | None) -> Progress:
    """Stalled by the first failing condition that needs a person; Reconciling while the rest pass by themselves."""
    gating = [
        c
        for c in conditions
        if c.type not in NOT_GATING and (c.type is not C.RECORDING or (recording is not None and recording.required))
    ]
    failing = [c for c in gating if c.status != "True"]
    stuck = next((c for c in failing if not _passes_by_itself(c, retry)), None)
    if stuck is not None:
        return Progress(stuck=(stuck.reason, f"{stuck.type}: {stuck.message}"))
    if failing:
        return Progress(working=(failing[0].reason, f"{failing[0].type}: {failing[0].message}"))
    return Progress()


def stable_drift(previous: float | None, measured: float) -> float:
    if previous is not None and abs(previous - measured) < DRIFT_NOISE_SECONDS:
        return previous
    return round(measured, 1)


def _fault(fault_code: str | None) -> OnvifFault | None:
    if not fault_code:
        return None
    code, _, subcode = fault_code.partition("/")
    return OnvifFault(code=code, subcode=subcode or None)


def _last_error(current: LastError | None, observation: DeviceObservation, now: datetime) -> LastError | None:
    failure = observation.failure
    if failure is None:
        return None
    error = LastError(
        message=failure.message, operation=failure.operation or None, onvif_fault=_fault(failure.fault_code)
    )
    # The same error again keeps its first time, so a device that stays broken causes no writes.
    same = current is not None and current.model_copy(update={"time": None}) == error
    return error.model_copy(update={"time": current.time if same and current and current.time else whole_seconds(now)})


def capability_gaps(report: ApplyReport) -> list[GapStatus]:
    """The report's gaps for status, in a stable order (one per feature) so an unchanged device writes nothing."""
    gaps = {gap.feature: gap for gap in reversed(report.gaps)}  # the first gap per feature wins, as in the report
    return [
        GapStatus(feature=CapabilityFeature(feature.value), reason=gaps[feature].reason)
        for feature in sorted(gaps, key=lambda f: f.value)
    ]


def _auth_mode(observed: str | None, current: AuthMode | None) -> AuthMode | None:
    return AuthMode(observed) if observed is not None else current


def device_status_fields(current: CameraStatus, observation: DeviceObservation, now: datetime) -> CameraStatus:
    """Device facts in status; what this pass could not read keeps its last known value."""
    status = current.model_copy(update={"last_error": _last_error(current.last_error, observation, now)})
    if observation.device is not None:
        info = observation.device
        status.device = DeviceInfo(
            maker=info.manufacturer,
            model=info.model,
            firmware=info.firmware_version,
            serial=info.serial_number,
            hardware_id=info.hardware_id,
        )
    if observation.streams is not None:
        status.stream_uris = stream_uris(observation)
    if observation.report is not None:
        status.capability_gaps = capability_gaps(observation.report) or None
    status.auth_mode = _auth_mode(observation.auth_mode, current.auth_mode)
    if observation.clock is not None:
        drift = observation.clock.certain_drift_seconds
        status.clock_drift_seconds = stable_drift(current.clock_drift_seconds, drift)
    return status


def camera_status(
    current: CameraStatus | None,
    spec: CameraSpec,
    generation: int,
    observation: DeviceObservation,
    now: datetime,
    retry: RetryPlan | None = None,
    recording: RecordingState | None = None,
    ptz_control: PtzControl | None = None,
) -> tuple[CameraStatus, list[Cond]]:
    """The whole new status, and the conditions it was built from.

    The status equals `current` when nothing changed, so the caller can skip the write. Status also carries
    Reconciling and Stalled (kstatus); they restate the returned conditions, so they are not announced again.
    """
    current = current or CameraStatus()
    conditions = camera_conditions(spec, observation, now.date(), retry, recording)
    status = device_status_fields(current, observation, now)
    if recording is not None:
        status.recording_policy = recording.policy
    status.ptz_control = ptz_control
    status.observed_generation = generation
    progress = progress_conditions(C.RECONCILING, C.STALLED, camera_progress(conditions, recording, retry))
    status.conditions = merge_conditions(current.conditions, [*conditions, *progress], generation, now)
    return CameraStatus.model_validate(status.model_dump()), conditions


def drift_corrected(previous_conditions: Sequence[Condition] | None, generation: int, report: ApplyReport) -> bool:
    """True when settings were put back on a device that was already Configured for this very spec."""
    if not report.changed:
        return False
    configured = condition_of(previous_conditions, CameraCondition.CONFIGURED)
    return configured is not None and configured.status == "True" and configured.observed_generation == generation


def stream_uris(observation: DeviceObservation) -> list[StreamUri]:
    """The streams a device pass found, as the status shows them (empty: none found)."""
    found = observation.streams.streams if observation.streams is not None else ()
    return [StreamUri(profile=s.profile_token, uri=s.uri) for s in found]
