"""Lean or full: the pure schedule of device passes, the lean drift check, and lean plans per credentials."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from camfleet.api.camera import AuthMode as ApiAuthMode
from camfleet.api.camera import CameraCondition, CameraStatus, CapabilityFeature
from camfleet.api.camera import CapabilityGap as GapStatus
from camfleet.api.conditions import Condition
from camfleet.cameras.device_pass import Credentials, DeviceMemory
from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind
from camfleet.cameras.pass_schedule import FullPassRecord, PassKind, choose_pass, lean_drift, restored_state
from camfleet.onvif import (
    ApplyReport,
    AuthMode,
    CapabilityGap,
    ClockReading,
    DesiredDeviceSettings,
    Difference,
    EncoderSettings,
    Feature,
    ObservedDeviceSettings,
    TimeSettings,
)
from camfleet.onvif.models import LeanPlan

ENDPOINT = "http://10.0.0.5/onvif/device_service"
ENCODER = EncoderSettings("H264", 1920, 1080, 25, 4096, 50)
DESIRED = DesiredDeviceSettings(ntp_servers=("10.0.0.1",), timezone="UTC0", encoder=ENCODER)
OBSERVED = ObservedDeviceSettings(
    time=TimeSettings("NTP", "UTC0", ntp_from_dhcp=False, ntp_servers=("10.0.0.1",)), encoder=ENCODER
)
HOUR = 3600.0
FULL_EVERY = 6 * HOUR
MAX_DRIFT = 2.0


def clock(offset_seconds: float) -> ClockReading:
    now = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC)
    return ClockReading(now, dt.timedelta(seconds=offset_seconds), dt.timedelta(milliseconds=4))


HEALTHY = DeviceObservation(
    reached=True, authenticated=True, report=ApplyReport(observed=OBSERVED), clock=clock(0.3), auth_mode="x"
)
LAST_FULL = FullPassRecord(at=1000.0, endpoint=ENDPOINT, desired=DESIRED)


def choose(
    now: float = 1000.0 + 300,
    last_full: FullPassRecord | None = LAST_FULL,
    previous: DeviceObservation | None = HEALTHY,
    endpoint: str = ENDPOINT,
    desired: DesiredDeviceSettings = DESIRED,
) -> tuple[PassKind, str]:
    choice = choose_pass(now, last_full, previous, endpoint, desired, FULL_EVERY, MAX_DRIFT)
    return choice.kind, choice.reason


def test_healthy_camera_in_sync_with_its_spec_is_reverified_lean() -> None:
    assert choose()[0] is PassKind.LEAN


def test_first_pass_and_first_pass_after_a_restart_are_full() -> None:
    assert choose(last_full=None, previous=None) == (PassKind.FULL, "no full pass yet")


@pytest.mark.parametrize(
    "desired",
    [
        replace(DESIRED, encoder=replace(ENCODER, bitrate_kbps=2048)),
        replace(DESIRED, timezone="CET-1"),
        replace(DESIRED, ntp_servers=("10.0.0.2",)),
    ],
)
def test_a_spec_change_means_a_full_pass(desired: DesiredDeviceSettings) -> None:
    assert choose(desired=desired) == (PassKind.FULL, "spec changed")


def test_a_new_endpoint_means_a_full_pass() -> None:
    assert choose(endpoint="http://10.0.0.6/onvif/device_service") == (PassKind.FULL, "spec changed")


def test_after_a_failed_pass_the_next_is_full() -> None:
    failed = replace(HEALTHY, failure=DeviceFailure(FailureKind.TIMEOUT, "no reply"))
    assert choose(previous=failed) == (PassKind.FULL, "last pass failed")


def test_a_device_that_did_not_take_the_settings_keeps_getting_full_passes() -> None:
    report = ApplyReport(
        observed=OBSERVED, changed=(Feature.ENCODER,), not_applied=(Difference(Feature.ENCODER, "fps", 25, 30),)
    )
    assert choose(previous=replace(HEALTHY, report=report)) == (PassKind.FULL, "device did not take the settings")


def test_a_clock_out_of_limits_keeps_getting_full_passes() -> None:
    assert choose(previous=replace(HEALTHY, clock=clock(30.0))) == (PassKind.FULL, "clock out of limits")


def test_the_long_interval_brings_a_full_pass() -> None:
    assert choose(now=LAST_FULL.at + FULL_EVERY - 1)[0] is PassKind.LEAN
    assert choose(now=LAST_FULL.at + FULL_EVERY) == (PassKind.FULL, "full-pass interval")


def test_lean_finds_nothing_on_a_device_as_desired() -> None:
    assert lean_drift(DESIRED, OBSERVED, clock(0.4), (), MAX_DRIFT) is None


def test_lean_finds_a_setting_changed_on_the_device() -> None:
    changed = replace(OBSERVED, encoder=replace(ENCODER, width=640))
    assert lean_drift(DESIRED, changed, clock(0.4), (), MAX_DRIFT) == "settings changed on the device: encoder.width"


def test_lean_finds_the_clock_off() -> None:
    assert lean_drift(DESIRED, OBSERVED, clock(-12.0), (), MAX_DRIFT) == "clock off by 12s"


def test_lean_ignores_what_the_device_cannot_manage_as_the_full_pass_does() -> None:
    without_ntp = replace(OBSERVED, time=TimeSettings("Manual", "UTC0"))
    gap = CapabilityGap(Feature.NTP, "device does not support NTP (GetNTP)")
    assert lean_drift(DESIRED, without_ntp, clock(0.1), (gap,), MAX_DRIFT) is None
    assert lean_drift(DESIRED, without_ntp, clock(0.1), (), MAX_DRIFT) is not None


def test_a_lean_plan_is_used_only_with_the_credentials_it_was_learned_with() -> None:
    memory = DeviceMemory()
    plan = LeanPlan(ENDPOINT, AuthMode.WS_USERNAME_TOKEN, encoder_token="enc-main")
    memory.keep_plan(ENDPOINT, Credentials("admin", "one"), plan)
    assert memory.lean_plan(ENDPOINT, Credentials("admin", "one")) == plan
    assert memory.lean_plan(ENDPOINT, Credentials("admin", "two")) is None
    assert memory.lean_plan(ENDPOINT, Credentials("operator", "one")) is None
    memory.drop_plan(ENDPOINT)
    assert memory.lean_plan(ENDPOINT, Credentials("admin", "one")) is None


def test_a_forgotten_camera_loses_its_plan_and_the_fingerprint_holds_no_password() -> None:
    memory = DeviceMemory()
    credentials = Credentials("admin", "s3cret-Password")
    memory.keep_plan(ENDPOINT, credentials, LeanPlan(ENDPOINT, AuthMode.HTTP_DIGEST))
    assert b"s3cret-Password" not in credentials.fingerprint()
    memory.forget(ENDPOINT)
    assert memory.lean_plan(ENDPOINT, credentials) is None


def _status(**changes: object) -> CameraStatus:
    conditions = [
        Condition(
            type=kind.value,
            status="True",
            reason="R",
            message="m",
            observed_generation=3,
            last_transition_time="2026-12-05T07:00:00Z",
        )
        for kind in (CameraCondition.REACHABLE, CameraCondition.AUTHENTICATED, CameraCondition.TIME_SYNCED)
    ]
    configured = Condition(
        type="Configured",
        status="True",
        reason="Configured",
        message="m",
        observed_generation=3,
        last_transition_time="2026-12-05T07:00:00Z",
    )
    base = CameraStatus(
        conditions=[*conditions, configured],
        auth_mode=ApiAuthMode.HTTP_DIGEST,
        clock_drift_seconds=0.5,
        capability_gaps=[GapStatus(feature=CapabilityFeature.NTP, reason="device does not support NTP (GetNTP)")],
    )
    return base.model_copy(update=changes)


def test_after_a_restart_a_healthy_status_restores_a_lean_start() -> None:
    restored = restored_state(_status(), 3, ENDPOINT)
    assert restored is not None
    observation, plan = restored
    assert plan == LeanPlan(ENDPOINT, AuthMode.HTTP_DIGEST)
    assert observation.report is not None
    assert observation.report.gaps == (CapabilityGap(Feature.NTP, "device does not support NTP (GetNTP)"),)
    last_full = FullPassRecord(at=50.0, endpoint=ENDPOINT, desired=DESIRED)
    choice = choose_pass(60.0, last_full, observation, ENDPOINT, DESIRED, FULL_EVERY, MAX_DRIFT)
    assert choice.kind is PassKind.LEAN


def test_after_a_restart_anything_but_a_healthy_status_for_this_generation_means_a_full_pass() -> None:
    assert restored_state(None, 3, ENDPOINT) is None
    assert restored_state(_status(), 4, ENDPOINT) is None  # the spec changed while the operator was down
    assert restored_state(_status(auth_mode=None), 3, ENDPOINT) is None
    unconfigured = _status()
    unconfigured.conditions[-1] = unconfigured.conditions[-1].model_copy(update={"status": "False"})
    assert restored_state(unconfigured, 3, ENDPOINT) is None
