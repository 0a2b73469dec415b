"""The status decision for a Camera: from a spec and one device pass to conditions and status fields."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from camfleet.api.camera import CameraCondition, CameraSpec
from camfleet.api.conditions import Condition
from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind, RetryPlan
from camfleet.cameras.status import camera_conditions, camera_status, drift_corrected, stable_drift
from camfleet.clock import FakeClock
from camfleet.condition_merge import DesiredCondition
from camfleet.config import OperatorConfig
from camfleet.controllers.camera import CameraController
from camfleet.kube.store import CameraStore
from camfleet.onvif import (
    ApplyReport,
    CapabilityGap,
    ClockReading,
    DeviceInfo,
    Difference,
    Feature,
    StreamUri,
    StreamUris,
)
from camfleet.onvif.models import ObservedDeviceSettings
from camfleet.recording.state import PLACEMENT_PENDING, RECORDER_NOT_READY, RecordingState, placement_pending

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SPEC: dict[str, Any] = {
    "endpoint": "http://127.0.0.1:1/cam/a/onvif/device_service",
    "credentialsSecretRef": {"name": "a"},
    "site": "Site",
    "location": {"category": "street", "description": "corner"},
    "purpose": "traffic",
    "legalBasis": "city classification decision CLS-2030-01",
    "signage": {"confirmed": True},
    "acceptanceDate": "2026-05-01",
    "filingReference": "QD-1",
}


def spec(**changes: Any) -> CameraSpec:
    return CameraSpec.model_validate({**SPEC, **changes})


def healthy(drift: float = 0.3, gaps: tuple[CapabilityGap, ...] = (), **report: Any) -> DeviceObservation:
    return DeviceObservation(
        reached=True,
        authenticated=True,
        auth_mode="WSUsernameToken",
        device=DeviceInfo("Acme", "X1", "1.0", "SN1", "HW1"),
        report=ApplyReport(observed=ObservedDeviceSettings(), gaps=gaps, **report),
        clock=ClockReading(NOW, dt.timedelta(seconds=drift), dt.timedelta(milliseconds=5)),
        streams=StreamUris((StreamUri("main", "Main", "rtsp://cam/main", "media2"),)),
    )


def by_type(observation: DeviceObservation, **spec_changes: Any) -> dict[str, tuple[str, str]]:
    conditions = camera_conditions(spec(**spec_changes), observation, NOW.date())
    return {c.type: (c.status, c.reason) for c in conditions}


def test_a_healthy_device_is_ready() -> None:
    conditions = by_type(healthy())
    assert conditions["Ready"] == ("True", "Ready")
    assert conditions["Filed"] == ("True", "Filed")
    assert conditions["Signage"] == ("True", "SignageConfirmed")


@pytest.mark.parametrize(
    ("failure", "reachable", "authenticated", "ready_reason"),
    [
        (FailureKind.UNREACHABLE, ("False", "Unreachable"), ("Unknown", "NotContacted"), "Unreachable"),
        (FailureKind.TIMEOUT, ("False", "Timeout"), ("Unknown", "NotContacted"), "Timeout"),
        (FailureKind.CREDENTIALS, ("Unknown", "NotContacted"), ("False", "CredentialsMissing"), "CredentialsMissing"),
        (
            FailureKind.ENDPOINT_NOT_ALLOWED,
            ("False", "EndpointNotAllowed"),
            ("Unknown", "NotContacted"),
            "EndpointNotAllowed",
        ),
    ],
)
def test_failures_before_authentication(
    failure: FailureKind, reachable: tuple[str, str], authenticated: tuple[str, str], ready_reason: str
) -> None:
    conditions = by_type(DeviceObservation(failure=DeviceFailure(failure, "it failed")))
    assert conditions["Reachable"] == reachable
    assert conditions["Authenticated"] == authenticated
    assert conditions["Ready"] == ("False", ready_reason)


def test_wrong_password_is_reachable_but_not_authenticated() -> None:
    observation = DeviceObservation(
        reached=True, failure=DeviceFailure(FailureKind.AUTH, "rejected", fault_code="env:Sender/ter:NotAuthorized")
    )
    conditions = by_type(observation)
    assert conditions["Reachable"] == ("True", "Reachable")
    assert conditions["Authenticated"] == ("False", "AuthFailed")
    assert conditions["Ready"] == ("False", "AuthFailed")


def test_retry_plan_is_shown_in_the_message() -> None:
    observation = DeviceObservation(failure=DeviceFailure(FailureKind.UNREACHABLE, "connection refused"))
    conditions = camera_conditions(spec(), observation, NOW.date(), RetryPlan(attempt=3, delay_seconds=20))
    reachable = next(c for c in conditions if c.type == "Reachable")
    assert reachable.message == "connection refused; attempt 3, next retry in 20s"


def test_clock_beyond_the_limit_is_not_synced() -> None:
    assert by_type(healthy(drift=5))["TimeSynced"] == ("False", "ClockDrift")
    assert by_type(healthy(drift=5), device={"time": {"maxDriftSeconds": 10}})["TimeSynced"] == ("True", "ClockInSync")


def test_missing_ntp_is_a_gap_not_a_failure() -> None:
    gap = CapabilityGap(Feature.NTP, "device does not support NTP", "ter:ActionNotSupported")
    conditions = camera_conditions(spec(), healthy(gaps=(gap,)), NOW.date())
    time_synced = next(c for c in conditions if c.type == "TimeSynced")
    assert time_synced.status == "True"
    assert "ntp: device does not support NTP" in time_synced.message
    assert next(c for c in conditions if c.type == "Ready").status == "True"


def test_settings_the_device_ignored_make_it_not_configured() -> None:
    ignored = Difference(Feature.ENCODER, "bitrate_kbps", 4096, 2048)
    conditions = by_type(healthy(not_applied=(ignored,), changed=(Feature.ENCODER,)))
    assert conditions["Configured"] == ("False", "SettingsNotApplied")
    assert conditions["Ready"] == ("False", "SettingsNotApplied")


def test_an_encoder_the_device_cannot_do_is_unsupported() -> None:
    gap = CapabilityGap(Feature.ENCODER, "H265 not offered")
    assert by_type(healthy(gaps=(gap,)))["Configured"] == ("False", "UnsupportedSettings")


def test_masks_the_device_cannot_do_are_a_gap_only() -> None:
    gap = CapabilityGap(Feature.PRIVACY_MASKS, "no Media2 masks; handled by transcoder")
    assert by_type(healthy(gaps=(gap,)))["Configured"] == ("True", "Configured")


def test_status_is_unchanged_when_nothing_changed() -> None:
    first, _ = camera_status(None, spec(), 1, healthy(drift=0.3), NOW)
    again, _ = camera_status(first, spec(), 1, healthy(drift=0.9), NOW + dt.timedelta(minutes=5))
    assert again == first


def test_device_facts_survive_a_failed_pass() -> None:
    first, _ = camera_status(None, spec(), 1, healthy(), NOW)
    failed = DeviceObservation(
        failure=DeviceFailure(FailureKind.UNREACHABLE, "refused", operation="GetSystemDateAndTime")
    )
    after, _ = camera_status(first, spec(), 1, failed, NOW)
    assert after.to_api()["device"] == first.to_api()["device"]
    assert after.to_api()["streamUris"] == first.to_api()["streamUris"]
    assert after.to_api()["lastError"]["message"] == "refused"
    recovered, _ = camera_status(after, spec(), 1, healthy(), NOW)
    assert "lastError" not in recovered.to_api()


def test_the_same_error_keeps_its_first_time() -> None:
    failed = DeviceObservation(
        failure=DeviceFailure(FailureKind.AUTH, "rejected", fault_code="env:Sender/ter:NotAuthorized")
    )
    first, _ = camera_status(None, spec(), 1, failed, NOW)
    later, _ = camera_status(first, spec(), 1, failed, NOW + dt.timedelta(minutes=1))
    assert later.to_api()["lastError"] == first.to_api()["lastError"]
    assert first.to_api()["lastError"]["onvifFault"] == {"code": "env:Sender", "subcode": "ter:NotAuthorized"}


def test_drift_noise_is_ignored() -> None:
    assert stable_drift(0.2, 0.9) == 0.2
    assert stable_drift(0.2, 3.4) == 3.4
    assert stable_drift(None, 0.44) == 0.4


def test_drift_corrected_only_for_an_already_configured_generation() -> None:
    report = ApplyReport(observed=ObservedDeviceSettings(), changed=(Feature.ENCODER,))
    configured_gen_1 = [
        Condition.model_validate(
            {
                "type": "Configured",
                "status": "True",
                "reason": "Configured",
                "lastTransitionTime": "2026-06-01T00:00:00Z",
                "observedGeneration": 1,
            }
        )
    ]
    assert drift_corrected(configured_gen_1, 1, report)
    assert not drift_corrected(configured_gen_1, 2, report)  # a spec change, not drift
    assert not drift_corrected(None, 1, report)  # the first configuration
    assert not drift_corrected(configured_gen_1, 1, ApplyReport(observed=ObservedDeviceSettings()))


NTP_GAP = CapabilityGap(Feature.NTP, "device does not support NTP (GetNTP)", "HTTP 501")
MASKS_GAP = CapabilityGap(Feature.PRIVACY_MASKS, "device has no Media2 service; masks handled by transcoder")


def test_capability_gaps_are_listed_in_status_and_in_the_configured_message() -> None:
    status, conditions = camera_status(None, spec(), 1, healthy(gaps=(NTP_GAP, MASKS_GAP)), NOW)
    assert status.to_api()["capabilityGaps"] == [
        {"feature": "ntp", "reason": "device does not support NTP (GetNTP)"},
        {"feature": "privacyMasks", "reason": "device has no Media2 service; masks handled by transcoder"},
    ]
    configured = next(c for c in conditions if c.type == "Configured")
    assert configured.status == "True"
    assert "capability gaps: ntp: device does not support NTP (GetNTP)" in configured.message


def test_capability_gaps_in_another_order_change_nothing() -> None:
    first, _ = camera_status(None, spec(), 1, healthy(gaps=(NTP_GAP, MASKS_GAP)), NOW)
    again, _ = camera_status(first, spec(), 1, healthy(gaps=(MASKS_GAP, NTP_GAP)), NOW + dt.timedelta(minutes=5))
    assert again == first


def test_capability_gaps_survive_a_failed_pass_and_clear_when_the_device_can() -> None:
    first, _ = camera_status(None, spec(), 1, healthy(gaps=(NTP_GAP,)), NOW)
    failed = DeviceObservation(failure=DeviceFailure(FailureKind.UNREACHABLE, "refused"))
    after, _ = camera_status(first, spec(), 1, failed, NOW)
    assert after.to_api()["capabilityGaps"] == first.to_api()["capabilityGaps"]
    upgraded, _ = camera_status(after, spec(), 1, healthy(), NOW)
    assert not upgraded.to_api().get("capabilityGaps")


def configured_after(failure: DeviceFailure) -> tuple[str, str, str]:
    observation = DeviceObservation(reached=True, authenticated=True, auth_mode="HTTPDigest", failure=failure)
    conditions = camera_conditions(spec(), observation, NOW.date(), RetryPlan(attempt=2, delay_seconds=1))
    configured = next(c for c in conditions if c.type == "Configured")
    return configured.status, configured.reason, configured.message


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (DeviceFailure(FailureKind.PROTOCOL, "GetVideoEncoderConfiguration reply: Width is missing"), "ProtocolError"),
        (DeviceFailure(FailureKind.PROTOCOL, "SOAP fault env:Receiver", fault_code="env:Receiver"), "DeviceError"),
        (DeviceFailure(FailureKind.INTERNAL, "internal error (KeyError) during configure"), "InternalError"),
    ],
)
def test_a_pass_failing_while_configuring_names_whose_fault_and_the_retry(failure: DeviceFailure, reason: str) -> None:
    assert configured_after(failure) == ("False", reason, failure.message + "; attempt 2, next retry in 1s")


def test_a_camera_a_policy_selects_but_nobody_placed_yet_is_not_ready_and_not_stalled() -> None:
    """At a large fleet's start the recording side can lag the device passes by minutes: a healthy camera whose
    recorder is not decided yet must not count as Ready (nobody records it), nor as needing a person."""
    status, _ = camera_status(None, spec(), 1, healthy(), NOW, recording=placement_pending("city"))
    found = {c.type: (c.status, c.reason) for c in status.conditions}
    assert found["Recording"] == ("Unknown", PLACEMENT_PENDING)
    assert found["Ready"] == ("False", PLACEMENT_PENDING)
    assert found["Reconciling"][0] == "True"
    assert found["Stalled"][0] == "False"
    assert status.recording_policy == "city"
    placed, _ = camera_status(status, spec(), 1, healthy(), NOW, recording=recorded("city"))
    assert {c.type: c.status for c in placed.conditions}["Ready"] == "True"


def recorded(policy: str) -> RecordingState:
    return RecordingState(DesiredCondition(CameraCondition.RECORDING, "True", "Recording", "m"), policy, required=True)


class RecordedEvents:
    """Collects the Events the camera controller would write, as (type, reason)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def record(self, body: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        self.seen.append((event_type, reason))


async def test_waiting_for_placement_is_no_event_and_what_follows_it_is() -> None:
    """At a fleet's start every camera waits for the recording side at once: the condition says so, but a Warning
    Event per camera for it was a third of the start's Events. The states after it are announced, and the camera
    becoming reconciled is no Warning (Reconciling and Stalled summarize Ready, whose own Events say it)."""
    events = RecordedEvents()
    controller = CameraController(None, events, OperatorConfig(), CameraStore(), FakeClock())  # type: ignore[arg-type]
    body: dict[str, Any] = {"metadata": {"name": "a", "namespace": "transport"}}
    waiting = DesiredCondition(CameraCondition.RECORDING, "False", RECORDER_NOT_READY, "m")
    starting = RecordingState(waiting, "city", required=True)
    previous = None
    for recording in (placement_pending("city"), starting, recorded("city")):
        status, _ = camera_status(previous, spec(), 1, healthy(), NOW, recording=recording)
        await controller._announce(body, previous, status.conditions, 1, None)
        previous = status
    # The same three as a camera whose first status found its recorder starting (its Ready appearing False, then
    # Recording and Ready True): nothing for the wait, nothing twice.
    assert events.seen == [("Warning", RECORDER_NOT_READY), ("Normal", "Recording"), ("Normal", "Ready")]
