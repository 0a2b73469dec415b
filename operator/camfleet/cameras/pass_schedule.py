"""Which kind of device pass a camera gets next, and whether a lean pass found it as desired (pure).

A full pass (connect, authenticate, discover services, read, set what differs, read back, stream URIs) is
about ten ONVIF calls through zeep; a lean pass (camfleet.onvif.lean) re-reads only what can drift in at
most three. A camera gets a full pass when anything may have changed that a lean pass would not see, or that
it cannot correct: a spec or endpoint that the last full pass did not apply, a failed last pass, settings the
device did not take or a clock out of limits (the full pass corrects and reports them, exactly as before),
no lean plan (first pass, a restart, new credentials), or `full_pass_seconds` since the last full pass (what
a lean pass never reads: device information and firmware, service addresses, stream URIs, capabilities).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from camfleet.cameras.observation import DeviceObservation
from camfleet.onvif import CapabilityGap, ClockReading, DesiredDeviceSettings, ObservedDeviceSettings
from camfleet.onvif.diff import compare, outstanding

# Why a full pass follows a lean one at once: it found drift, or a reply it could not read (see the log).
LEAN_GAVE_WAY = "lean pass found drift or could not tell"


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
