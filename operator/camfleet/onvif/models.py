"""Plain values exchanged with the ONVIF client.

Independent of the CRD models on purpose: the reconciler translates a Camera spec into
`DesiredDeviceSettings` and the client's results back into status, so neither side leaks zeep objects
or Kubernetes types into the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class AuthMode(StrEnum):
    """How requests are authenticated; recorded in status so SREs see what a device accepts."""

    WS_USERNAME_TOKEN = "WSUsernameToken"
    HTTP_DIGEST = "HTTPDigest"


class Feature(StrEnum):
    """A manageable part of the device configuration; also names capability gaps."""

    NTP = "ntp"
    TIMEZONE = "timezone"
    ENCODER = "encoder"
    PRIVACY_MASKS = "privacyMasks"
    PTZ_HOME = "ptzHome"
    MEDIA2 = "media2"


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """The main stream's video encoder. Bitrate in kbit/s, gop in frames."""

    encoding: str
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    gop: int


# A point in ONVIF normalized video-source coordinates: x and y in [-1, 1], (0, 0) is the centre.
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class PrivacyMask:
    polygon: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class PtzPosition:
    """Normalized PTZ position as ONVIF's generic spaces define it: pan/tilt in [-1, 1], zoom in [0, 1]."""

    pan: float
    tilt: float
    zoom: float


@dataclass(frozen=True, slots=True)
class DesiredDeviceSettings:
    """What the device should look like. `None` (or an empty tuple of NTP servers) means "leave alone".

    `privacy_masks=()` means "no masks"; `None` means masks are not managed.
    """

    ntp_servers: tuple[str, ...] = ()
    timezone: str | None = None
    encoder: EncoderSettings | None = None
    privacy_masks: tuple[PrivacyMask, ...] | None = None
    ptz_home: PtzPosition | None = None


@dataclass(frozen=True, slots=True)
class TimeSettings:
    """Result of GetSystemDateAndTime and GetNTP. `ntp_servers` is None when NTP could not be read."""

    time_source: str  # "NTP" or "Manual", ONVIF's DateTimeType
    timezone: str | None
    daylight_savings: bool = False
    ntp_from_dhcp: bool | None = None
    ntp_servers: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ObservedDeviceSettings:
    """What was read from the device. A `None` field was not readable (see the capability gaps)."""

    time: TimeSettings | None = None
    encoder: EncoderSettings | None = None
    privacy_masks: tuple[PrivacyMask, ...] | None = None
    ptz_home: PtzPosition | None = None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware_version: str
    serial_number: str
    hardware_id: str


@dataclass(frozen=True, slots=True)
class ClockReading:
    """The device clock compared with ours.

    `offset` is device minus local time (add it to local time to get the device's time); the error
    bound is half the round trip plus the device's one-second resolution.
    """

    device_utc: dt.datetime
    offset: dt.timedelta
    round_trip: dt.timedelta

    @property
    def drift_seconds(self) -> float:
        return abs(self.offset.total_seconds())

    @property
    def certain_drift_seconds(self) -> float:
        """How far off the clock is at least: the drift less half the round trip. A slow answer (or an event
        loop busy with thousands of cameras) widens the error bound; it must not pass for drift."""
        return max(0.0, self.drift_seconds - self.round_trip.total_seconds() / 2)


@dataclass(frozen=True, slots=True)
class StreamUri:
    profile_token: str
    profile_name: str
    uri: str
    via: str  # "media2" or "media": which service answered


@dataclass(frozen=True, slots=True)
class StreamUris:
    streams: tuple[StreamUri, ...]

    @property
    def main(self) -> str | None:
        """The first profile's URI: by ONVIF convention the main (highest quality) stream."""
        return self.streams[0].uri if self.streams else None


@dataclass(frozen=True, slots=True)
class CapabilityGap:
    """Something the device cannot do; recorded once, never retried in a loop."""

    feature: Feature
    reason: str
    fault_code: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Service addresses from GetServices (or GetCapabilities) plus what the services declare."""

    xaddrs: dict[str, str]
    media2_masks: bool = False
    ptz_home: bool = False

    def has(self, service: str) -> bool:
        return service in self.xaddrs


@dataclass(frozen=True, slots=True)
class NumericRange:
    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


@dataclass(frozen=True, slots=True)
class EncoderOptions:
    """What GetVideoEncoderConfigurationOptions allows, reduced to the fields camfleet manages."""

    encodings: frozenset[str]
    resolutions: frozenset[tuple[int, int]]
    fps: NumericRange | None = None
    gop: NumericRange | None = None
    bitrate_kbps: NumericRange | None = None


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose observed value differs from the desired one."""

    feature: Feature
    field: str
    desired: object
    observed: object

    def __str__(self) -> str:
        return f"{self.feature}.{self.field}: want {self.desired!r}, device has {self.observed!r}"


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """Outcome of one pass of `apply_settings`.

    `changed` lists features for which a Set was sent; `not_applied` are differences still present
    after reading back (the device accepted the Set and ignored it, or clamped a value).
    """

    observed: ObservedDeviceSettings
    changed: tuple[Feature, ...] = ()
    not_applied: tuple[Difference, ...] = ()
    gaps: tuple[CapabilityGap, ...] = field(default=())

    @property
    def in_sync(self) -> bool:
        return not self.not_applied


@dataclass(frozen=True, slots=True)
class LeanPlan:
    """What a full pass learned that lets a lean pass go straight to its few reads: the accepted auth mode and
    where the managed settings live (service addresses and tokens). None where the full pass did not read it."""

    device_url: str
    auth_mode: AuthMode
    media_url: str | None = None
    encoder_token: str | None = None
    media2_url: str | None = None
    video_source_token: str | None = None
    ptz_url: str | None = None
    ptz_profile_token: str | None = None
