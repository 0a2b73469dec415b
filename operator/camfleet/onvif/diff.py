"""Desired versus observed device settings (pure).

Used twice per reconcile: before Set calls, to decide which features need one, and after reading back,
to prove the device really changed (some firmware answers success and changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from camfleet.onvif.models import (
    CapabilityGap,
    DesiredDeviceSettings,
    Difference,
    EncoderOptions,
    EncoderSettings,
    Feature,
    ObservedDeviceSettings,
    PrivacyMask,
    PtzPosition,
    TimeSettings,
)

# Devices store mask vertices and PTZ positions on their own grid; differences below these
# tolerances are rounding, not drift, and must not cause a Set on every resync.
COORDINATE_TOLERANCE = 0.01


def compare(desired: DesiredDeviceSettings, observed: ObservedDeviceSettings) -> list[Difference]:
    """Every managed field whose observed value differs from the desired one, in a stable order."""
    differences: list[Difference] = []
    differences += _time_differences(desired, observed.time)
    if desired.encoder is not None:
        differences += _encoder_differences(desired.encoder, observed.encoder)
    if desired.privacy_masks is not None and (
        observed.privacy_masks is None or not masks_match(desired.privacy_masks, observed.privacy_masks)
    ):
        differences.append(Difference(Feature.PRIVACY_MASKS, "polygons", desired.privacy_masks, observed.privacy_masks))
    if desired.ptz_home is not None and (
        observed.ptz_home is None or not positions_match(desired.ptz_home, observed.ptz_home)
    ):
        differences.append(Difference(Feature.PTZ_HOME, "position", desired.ptz_home, observed.ptz_home))
    return differences


def features_to_change(differences: Iterable[Difference], gaps: Iterable[CapabilityGap]) -> tuple[Feature, ...]:
    """Features that differ and that the device can change, in first-seen order."""
    unsupported = {gap.feature for gap in gaps}
    ordered: dict[Feature, None] = {}
    for difference in differences:
        if difference.feature not in unsupported:
            ordered.setdefault(difference.feature)
    return tuple(ordered)


def outstanding(differences: Iterable[Difference], gaps: Iterable[CapabilityGap]) -> tuple[Difference, ...]:
    """Differences that are not explained by a capability gap: these mean "the device ignored us"."""
    unsupported = {gap.feature for gap in gaps}
    return tuple(d for d in differences if d.feature not in unsupported)


def encoder_problem(desired: EncoderSettings, options: EncoderOptions) -> str | None:
    """Why the device cannot take `desired` (a human-readable reason), or None when it can."""
    encoding = desired.encoding.upper()
    if encoding not in options.encodings:
        return f"encoding {encoding} not offered (device offers {', '.join(sorted(options.encodings)) or 'none'})"
    if options.resolutions and (desired.width, desired.height) not in options.resolutions:
        offered = ", ".join(f"{w}x{h}" for w, h in sorted(options.resolutions))
        return f"resolution {desired.width}x{desired.height} not offered (device offers {offered})"
    for name, value, allowed in (
        ("fps", desired.fps, options.fps),
        ("gop", desired.gop, options.gop),
        ("bitrate", desired.bitrate_kbps, options.bitrate_kbps),
    ):
        if allowed is not None and value not in allowed:
            return f"{name} {value} outside the device's range {allowed.low}..{allowed.high}"
    return None


def masks_match(desired: Sequence[PrivacyMask], observed: Sequence[PrivacyMask]) -> bool:
    """Same polygons regardless of order, each vertex within COORDINATE_TOLERANCE."""
    if len(desired) != len(observed):
        return False
    unmatched = list(observed)
    for mask in desired:
        match = next((other for other in unmatched if _polygons_match(mask.polygon, other.polygon)), None)
        if match is None:
            return False
        unmatched.remove(match)
    return True


def positions_match(desired: PtzPosition, observed: PtzPosition) -> bool:
    return all(
        abs(a - b) <= COORDINATE_TOLERANCE
        for a, b in ((desired.pan, observed.pan), (desired.tilt, observed.tilt), (desired.zoom, observed.zoom))
    )


def _time_differences(desired: DesiredDeviceSettings, observed: TimeSettings | None) -> list[Difference]:
    differences: list[Difference] = []
    if desired.ntp_servers:
        if observed is None or observed.ntp_servers is None:
            differences.append(Difference(Feature.NTP, "servers", desired.ntp_servers, None))
        else:
            if observed.ntp_from_dhcp:
                differences.append(Difference(Feature.NTP, "fromDHCP", False, True))
            if observed.ntp_servers != desired.ntp_servers:
                differences.append(Difference(Feature.NTP, "servers", desired.ntp_servers, observed.ntp_servers))
            if observed.time_source != "NTP":
                differences.append(Difference(Feature.NTP, "timeSource", "NTP", observed.time_source))
    if desired.timezone is not None:
        observed_tz = observed.timezone if observed is not None else None
        if (observed_tz or "").strip() != desired.timezone.strip():
            differences.append(Difference(Feature.TIMEZONE, "tz", desired.timezone, observed_tz))
    return differences


def _encoder_differences(desired: EncoderSettings, observed: EncoderSettings | None) -> list[Difference]:
    if observed is None:
        return [Difference(Feature.ENCODER, "configuration", desired, None)]
    pairs: tuple[tuple[str, object, object], ...] = (
        ("encoding", desired.encoding.upper(), observed.encoding.upper()),
        ("width", desired.width, observed.width),
        ("height", desired.height, observed.height),
        ("fps", desired.fps, observed.fps),
        ("bitrateKbps", desired.bitrate_kbps, observed.bitrate_kbps),
        ("gop", desired.gop, observed.gop),
    )
    return [Difference(Feature.ENCODER, name, want, have) for name, want, have in pairs if want != have]


def _polygons_match(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> bool:
    if len(a) != len(b):
        return False
    return all(
        abs(ax - bx) <= COORDINATE_TOLERANCE and abs(ay - by) <= COORDINATE_TOLERANCE
        for (ax, ay), (bx, by) in zip(a, b, strict=True)
    )
