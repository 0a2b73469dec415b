"""Which kind of device pass a camera gets next, and whether a lean pass found it as desired (pure).

A full pass (connect, authenticate, discover services, read, set what differs, read back, stream URIs) is
about thirteen ONVIF calls through zeep; a lean pass (camfleet.onvif.lean) re-reads only what can drift in
at most three. A camera gets a full pass when anything may have changed that a lean pass would not see, or
that it cannot correct: a spec or endpoint that the last full pass did not apply, a failed last pass,
settings the device did not take or a clock out of limits (the full pass corrects and reports them, exactly
as before), no lean plan (first pass, new credentials; after a restart one is restored from a healthy
status), or `full_pass_seconds` since the last full pass (what a lean pass never reads: device information
and firmware, service addresses, stream URIs, capabilities).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from camfleet.api.camera import AuthMode as ApiAuthMode
from camfleet.api.camera import CameraCondition, CameraStatus
from camfleet.cameras.observation import DeviceObservation
from camfleet.condition_merge import condition_of
from camfleet.onvif import (
    ApplyReport,
    AuthMode,
    CapabilityGap,
    ClockReading,
    DesiredDeviceSettings,
    Feature,
    ObservedDeviceSettings,
)
from camfleet.onvif.diff import compare, outstanding
from camfleet.onvif.models import LeanPlan

# Why a full pass follows a lean one at once: it found drift, or a reply it could not read (see the log).
LEAN_GAVE_WAY = "lean pass found drift or could not tell"
# A lean pass started from the status after a restart (restored_state).
RESTORED = "restored from status after a restart"


class PassKind(StrEnum):
    FULL = "full"
    LEAN = "lean"


@dataclass(frozen=True)
class FullPassRecord:
    """The last full pass of a camera: when (monotonic seconds), for which endpoint and desired settings."""

    at: float
    endpoint: str
    desired: DesiredDeviceSettings


@dataclass(frozen=True)
class PassChoice:
    kind: PassKind
    reason: str


def choose_pass(
    now: float,
    last_full: FullPassRecord | None,
    previous: DeviceObservation | None,
    endpoint: str,
    desired: DesiredDeviceSettings,
    full_pass_seconds: float,
    max_drift_seconds: float,
) -> PassChoice:
    """Lean only to re-verify a camera whose last pass was healthy and in sync with this very spec."""
    full_reason = _full_pass_reason(now, last_full, previous, endpoint, desired, full_pass_seconds, max_drift_seconds)
    if full_reason is not None:
        return PassChoice(PassKind.FULL, full_reason)
    return PassChoice(PassKind.LEAN, "healthy re-verification")


def _full_pass_reason(
    now: float,
    last_full: FullPassRecord | None,
    previous: DeviceObservation | None,
    endpoint: str,
    desired: DesiredDeviceSettings,
    full_pass_seconds: float,
    max_drift_seconds: float,
) -> str | None:
    if last_full is None or previous is None or previous.report is None:
        return "no full pass yet"
    if last_full.endpoint != endpoint or last_full.desired != desired:
        return "spec changed"
    if not previous.healthy:
        return "last pass failed"
    if not previous.report.in_sync:
        return "device did not take the settings"
    if previous.clock is None or previous.clock.certain_drift_seconds > max_drift_seconds:
        return "clock out of limits"
    if now - last_full.at >= full_pass_seconds:
        return "full-pass interval"
    return None


def lean_drift(
    desired: DesiredDeviceSettings,
    observed: ObservedDeviceSettings,
    clock: ClockReading,
    gaps: Sequence[CapabilityGap],
    max_drift_seconds: float,
) -> str | None:
    """What a lean pass found off (a full pass must follow at once), or None when everything is as desired.

    Features the last full pass found the device cannot manage (`gaps`) are not compared, as in the full pass."""
    if clock.certain_drift_seconds > max_drift_seconds:
        return f"clock off by {clock.certain_drift_seconds:.0f}s"
    differences = outstanding(compare(desired, observed), gaps)
    if differences:
        return "settings changed on the device: " + ", ".join(f"{d.feature.value}.{d.field}" for d in differences)
    return None


# What the status must show, for this very generation, before a restarted operator trusts it enough to re-verify
# the device lean: every device condition True. Anything else (or no auth mode) gets a full pass, as before.
_RESTORABLE = (
    CameraCondition.REACHABLE,
    CameraCondition.AUTHENTICATED,
    CameraCondition.TIME_SYNCED,
    CameraCondition.CONFIGURED,
)


def restored_state(
    status: CameraStatus | None, generation: int, endpoint: str
) -> tuple[DeviceObservation, LeanPlan] | None:
    """After a restart (nothing in memory), the previous observation and a starting plan from the camera's status,
    when it shows the device healthy and configured for this generation; None when a full pass is needed.

    The plan knows only the endpoint and the auth mode; the lean pass asks the rest (GetServices and GetProfiles
    instead of GetVideoEncoderConfiguration, so 4 calls once) and cannot restore masks or PTZ-home tokens, which
    therefore mean a full pass. The observation carries the status's capability gaps (same Configured message)
    and its clock drift; device information and stream URIs stay as the status shows them."""
    if status is None or status.auth_mode is None or status.auth_mode is ApiAuthMode.NONE:
        return None
    for kind in _RESTORABLE:
        found = condition_of(status.conditions, kind)
        if found is None or found.status != "True" or found.observed_generation != generation:
            return None
    gaps = tuple(CapabilityGap(Feature(gap.feature.value), gap.reason) for gap in status.capability_gaps or ())
    drift = dt.timedelta(seconds=status.clock_drift_seconds or 0.0)
    observation = DeviceObservation(
        reached=True,
        authenticated=True,
        auth_mode=str(status.auth_mode.value),
        report=ApplyReport(observed=ObservedDeviceSettings(), gaps=gaps),
        clock=ClockReading(device_utc=dt.datetime.min.replace(tzinfo=dt.UTC), offset=drift, round_trip=dt.timedelta(0)),
    )
    return observation, LeanPlan(device_url=endpoint, auth_mode=AuthMode(status.auth_mode.value))
