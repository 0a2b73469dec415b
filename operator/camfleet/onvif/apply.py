"""Make a device match `DesiredDeviceSettings`: read, compare, set what differs, read back, compare again.

The comparison is the pure `camfleet.onvif.diff`; this module only sequences the client calls. An
operation the device does not support becomes a `CapabilityGap` in the report (once per pass, never
retried in a loop); a Set the device accepted but did not apply shows up in `not_applied`.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from camfleet.onvif.client import OnvifClient
from camfleet.onvif.diff import compare, encoder_problem, features_to_change, outstanding
from camfleet.onvif.errors import NotSupported
from camfleet.onvif.models import (
    ApplyReport,
    CapabilityGap,
    DesiredDeviceSettings,
    Feature,
    ObservedDeviceSettings,
)

T = TypeVar("T")


async def read_settings(
    client: OnvifClient, desired: DesiredDeviceSettings
) -> tuple[ObservedDeviceSettings, list[CapabilityGap]]:
    """Read only the features `desired` manages, plus the gaps that prevent managing them."""
    gaps: list[CapabilityGap] = []
    time = encoder = masks = ptz_home = None
    if desired.ntp_servers or desired.timezone is not None:
        time, time_gaps = await client.read_time()
        gaps += time_gaps
    if desired.encoder is not None:
        encoder = await _unless_unsupported(client.read_encoder(), Feature.ENCODER, gaps)
    if desired.privacy_masks is not None:
        mask_gap = await client.masks_gap()
        if mask_gap is None:
            masks = await _unless_unsupported(client.read_masks(), Feature.PRIVACY_MASKS, gaps)
        else:
            gaps.append(mask_gap)
    if desired.ptz_home is not None:
        if (await client.capabilities()).ptz_home:
            ptz_home = await _unless_unsupported(client.read_ptz_home(), Feature.PTZ_HOME, gaps)
        else:
            gaps.append(CapabilityGap(Feature.PTZ_HOME, "device has no PTZ service with home support"))
    return ObservedDeviceSettings(time=time, encoder=encoder, privacy_masks=masks, ptz_home=ptz_home), gaps


async def apply_settings(client: OnvifClient, desired: DesiredDeviceSettings) -> ApplyReport:
    """One reconcile pass. Call after `client.authenticate()`."""
    observed, gaps = await read_settings(client, desired)
    pending = features_to_change(compare(desired, observed), gaps)
    gaps += await _checked_against_options(client, desired, pending)
    pending = features_to_change(compare(desired, observed), gaps)
    if not pending:
        return ApplyReport(observed=observed, gaps=tuple(gaps))

    changed: list[Feature] = []
    for feature in pending:
        if feature is Feature.TIMEZONE and Feature.NTP in changed:
            continue  # the NTP step already sent the time zone with SetSystemDateAndTime
        try:
            await _set(client, feature, desired, observed)
        except NotSupported as exc:
            gaps.append(CapabilityGap(feature, f"device rejected the change: {exc.message}", exc.fault_code))
            continue
        changed.append(feature)

    after, gaps_after = await read_settings(client, desired)
    all_gaps = _unique(gaps + gaps_after)
    return ApplyReport(
        observed=after,
        changed=tuple(changed),
        not_applied=outstanding(compare(desired, after), all_gaps),
        gaps=tuple(all_gaps),
    )


async def _set(
    client: OnvifClient, feature: Feature, desired: DesiredDeviceSettings, observed: ObservedDeviceSettings
) -> None:
    daylight_savings = observed.time.daylight_savings if observed.time else False
    if feature is Feature.NTP:
        await client.set_ntp_servers(desired.ntp_servers)
        timezone = desired.timezone if desired.timezone is not None else _observed_timezone(observed)
        await client.set_time_source("NTP", timezone, daylight_savings)
    elif feature is Feature.TIMEZONE:
        time_source = observed.time.time_source if observed.time else "Manual"
        await client.set_time_source(time_source, desired.timezone, daylight_savings)
    elif feature is Feature.ENCODER and desired.encoder is not None:
        await client.set_encoder(desired.encoder)
    elif feature is Feature.PRIVACY_MASKS and desired.privacy_masks is not None:
        await client.set_masks(desired.privacy_masks)
    elif feature is Feature.PTZ_HOME and desired.ptz_home is not None:
        await client.set_ptz_home(desired.ptz_home)


async def _checked_against_options(
    client: OnvifClient, desired: DesiredDeviceSettings, pending: tuple[Feature, ...]
) -> list[CapabilityGap]:
    """Read the device's options before a Set, so an impossible value is a gap and not a Set loop."""
    gaps: list[CapabilityGap] = []
    if Feature.ENCODER in pending and desired.encoder is not None:
        problem = encoder_problem(desired.encoder, await client.encoder_options())
        if problem is not None:
            gaps.append(CapabilityGap(Feature.ENCODER, problem))
    if Feature.PRIVACY_MASKS in pending and desired.privacy_masks is not None:
        limit = await client.max_masks()
        if limit is not None and len(desired.privacy_masks) > limit:
            gaps.append(
                CapabilityGap(
                    Feature.PRIVACY_MASKS,
                    f"{len(desired.privacy_masks)} masks wanted, device allows {limit}; handled by transcoder",
                )
            )
    return gaps


async def _unless_unsupported(read: Coroutine[Any, Any, T], feature: Feature, gaps: list[CapabilityGap]) -> T | None:
    try:
        return await read
    except NotSupported as exc:
        gaps.append(CapabilityGap(feature, exc.message, exc.fault_code))
        return None


def _observed_timezone(observed: ObservedDeviceSettings) -> str | None:
    return observed.time.timezone if observed.time else None


def _unique(gaps: list[CapabilityGap]) -> list[CapabilityGap]:
    seen: dict[Feature, CapabilityGap] = {}
    for gap in gaps:
        seen.setdefault(gap.feature, gap)
    return list(seen.values())
