"""State of simulated cameras, kept small: the simulator must hold 10,000 of them.

Everything here is plain data plus the rules a real device applies when it is told to change
(NTP sync, quirk `ignores-set`); the SOAP layer reads and writes these objects.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Quirk(StrEnum):
    NO_NTP = "no-ntp"  # GetNTP / SetNTP answer ter:ActionNotSupported
    FAULT_NOT_DIGEST = "fault-not-digest"  # bare request -> SOAP NotAuthorized fault, never a 401 challenge
    DIGEST_ONLY = "digest-only"  # WS-UsernameToken is ignored; only HTTP digest authenticates
    IGNORES_SET = "ignores-set"  # every Set answers success and changes nothing
    NO_GET_SERVICES = "no-get-services"  # old firmware: only GetCapabilities lists service addresses
    NO_MEDIA2 = "no-media2"  # no Media2 service at all (older firmware)
    NO_MEDIA2_MASKS = "no-media2-masks"  # Media2 without mask support
    NO_PTZ = "no-ptz"  # fixed camera
    NO_PTZ_HOME = "no-ptz-home"  # PTZ node without HomeSupported
    NO_PTZ_RELATIVE = "no-ptz-relative"  # RelativeMove answers ter:ActionNotSupported (no translation space)
    # Reply shapes seen in the field (issue 16):
    NTP_EMPTY = "ntp-empty"  # GetNTP answers an empty <tds:NTPInformation/>
    ENCODER_WRAPPER = "encoder-wrapper"  # GetVideoEncoderConfiguration wraps the configuration in another element
    DATE_BEFORE_TIME = "date-before-time"  # <Date> before <Time> in GetSystemDateAndTime
    DATE_TDS_NAMESPACE = "date-tds-namespace"  # date-time children in the tds namespace instead of tt
    LOCAL_TIME_AS_UTC = "local-time-as-utc"  # UTCDateTime carries local time (and tokens are checked against it)
    ENCODER_NO_RATE_CONTROL = "encoder-no-rate-control"  # GetVideoEncoderConfiguration omits the optional RateControl
    # GetVideoEncoderConfiguration answers a Width no schema reader can convert ("1920px"): an unusable reply.
    ENCODER_GARBLED = "encoder-garbled"
    # How an unsupported operation is answered instead of env:Receiver/ter:ActionNotSupported:
    UNSUPPORTED_PLAIN_FAULT = "unsupported-plain-fault"  # env:Receiver fault, no subcode, "unknown operation"
    UNSUPPORTED_SUBCODE = "unsupported-subcode"  # env:Sender/ter:NotSupported
    UNSUPPORTED_HTTP_400 = "unsupported-http-400"  # HTTP 400, text/plain body
    UNSUPPORTED_HTTP_405 = "unsupported-http-405"  # HTTP 405, text/plain body
    UNSUPPORTED_HTTP_501 = "unsupported-http-501"  # HTTP 501, text/plain body


# Named bundles of quirks modelled on devices users of other projects report (FACTS.md, issue 16).
# Select one per camera: `personality:` in a fleet file, or PATCH /control/cameras/{id} {"personality": ...}.
PERSONALITIES: dict[str, frozenset[Quirk]] = {
    "standard": frozenset(),
    # Digest only, empty NTP information, another encoder wrapper, Date before Time in the tds namespace.
    "vendor-a": frozenset(
        {Quirk.DIGEST_ONLY, Quirk.NTP_EMPTY, Quirk.ENCODER_WRAPPER, Quirk.DATE_BEFORE_TIME, Quirk.DATE_TDS_NAMESPACE}
    ),
    # NotAuthorized fault instead of a challenge, no NTP (said with HTTP 501 and plain text), no Media2, no PTZ home.
    "vendor-b": frozenset(
        {
            Quirk.FAULT_NOT_DIGEST,
            Quirk.NO_NTP,
            Quirk.UNSUPPORTED_HTTP_501,
            Quirk.NO_MEDIA2,
            Quirk.NO_PTZ_HOME,
            Quirk.LOCAL_TIME_AS_UTC,
        }
    ),
    # Sets that change nothing, and "not supported" as a fault without the standard subcode.
    "vendor-c": frozenset({Quirk.IGNORES_SET, Quirk.NO_NTP, Quirk.UNSUPPORTED_PLAIN_FAULT, Quirk.NO_MEDIA2_MASKS}),
}


def personality(name: str) -> frozenset[Quirk]:
    """The quirks of a named personality; ValueError names the known ones."""
    try:
        return PERSONALITIES[name]
    except KeyError:
        raise ValueError(f"unknown personality {name!r} (known: {', '.join(sorted(PERSONALITIES))})") from None


def posix_tz_offset(tz: str) -> dt.timedelta:
    """Local time minus UTC for the standard time of a POSIX TZ string ("CET-1CEST,..." is +1h); 0 if unreadable."""
    match = re.match(r"^(?:[A-Za-z]+|<[^>]*>)([+-]?)(\d{1,2})(?::(\d{2}))?", tz)
    if match is None:
        return dt.timedelta(0)
    sign = 1 if match.group(1) == "-" else -1  # POSIX counts west of Greenwich as positive
    return sign * dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))


class Fault(StrEnum):
    NONE = "none"
    UNREACHABLE = "unreachable"  # connection aborted without a reply
    SLOW = "slow"  # reply delayed by `slow_seconds`
    HTTP_500 = "http-500"  # HTTP 500 with an HTML error page
    MALFORMED = "malformed"  # truncated XML
    XXE = "xxe"  # DOCTYPE with an external entity pointing at a local file
    ENTITY_BOMB = "entity-bomb"  # "billion laughs" entity expansion
    OVERSIZED = "oversized"  # a multi-megabyte reply
    # Hostile devices trying to send camfleet's credentials to another host (`foreign_url` / `foreign_rtsp`):
    FOREIGN_XADDR = "foreign-xaddr"  # GetServices / GetCapabilities advertise service addresses on the foreign host
    REDIRECT = "redirect"  # every authenticated request is answered 307 to the same path on the foreign host
    FOREIGN_STREAM = "foreign-stream"  # GetStreamUri names a stream on the foreign host


@dataclass(slots=True)
class Encoder:
    token: str
    encoding: str = "H264"
    width: int = 1920
    height: int = 1080
    fps: int = 25
    bitrate_kbps: int = 4096
    gop: int = 50
    quality: float = 5.0


@dataclass(slots=True)
class Mask:
    token: str
    points: tuple[tuple[float, float], ...]
    kind: str = "Color"
    enabled: bool = True


@dataclass(slots=True)
class Preset:
    token: str
    name: str
    position: tuple[float, float, float]


HISTORY_LENGTH = 50
MOVES_KEPT = 200


@dataclass(slots=True)
class Camera:
    """One simulated device. `skew_seconds` is how far its clock runs ahead of the host's."""

    camera_id: str
    username: str
    password: str = field(repr=False)
    skew_seconds: float = 0.0
    quirks: frozenset[Quirk] = frozenset()
    fault: Fault = Fault.NONE
    slow_seconds: float = 5.0
    # Where the hostile faults point (TEST-NET-1 by default: never reachable; tests put a listener there).
    foreign_url: str = "http://192.0.2.1"
    foreign_rtsp: str = "rtsp://192.0.2.1:554"
    time_source: str = "Manual"
    timezone: str = "UTC0"
    daylight_savings: bool = False
    ntp_from_dhcp: bool = False
    ntp_servers: tuple[str, ...] = ()
    encoders: tuple[Encoder, Encoder] = field(
        default_factory=lambda: (Encoder("enc-main"), Encoder("enc-sub", width=640, height=360, bitrate_kbps=512))
    )
    masks: list[Mask] = field(default_factory=list)
    ptz_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ptz_home: tuple[float, float, float] = (0.0, 0.0, 0.0)
    presets: list[Preset] = field(default_factory=list)
    brightness: float = 50.0
    next_token: int = 1
    # Created on the first Set, so idle cameras cost nothing.
    history: deque[dict[str, Any]] | None = None
    # PTZ moves received (ContinuousMove, RelativeMove, Stop, GotoPreset, GotoHomePosition), created on the first.
    moves: deque[dict[str, Any]] | None = None
    # SOAP requests received per operation (challenged ones included), created on the first: tests count what a
    # device pass costs the device (issue 20: a lean re-verification makes at most 3 calls).
    requests: dict[str, int] | None = None

    def now(self) -> dt.datetime:
        """The camera's clock."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.skew_seconds)

    def reported_utc(self) -> dt.datetime:
        """What the camera calls UTC: its clock, or its local time with the `local-time-as-utc` quirk."""
        if self.has(Quirk.LOCAL_TIME_AS_UTC):
            return self.now() + posix_tz_offset(self.timezone)
        return self.now()

    def has(self, quirk: Quirk) -> bool:
        return quirk in self.quirks

    def new_token(self, prefix: str) -> str:
        token = f"{prefix}-{self.next_token}"
        self.next_token += 1
        return token

    def record_set(self, operation: str, applied: bool, **details: Any) -> None:
        if self.history is None:
            self.history = deque(maxlen=HISTORY_LENGTH)
        self.history.append({"at": time.time(), "operation": operation, "applied": applied, **details})

    def count_request(self, operation: str) -> None:
        if self.requests is None:
            self.requests = {}
        self.requests[operation] = self.requests.get(operation, 0) + 1

    def record_move(self, operation: str, **details: Any) -> None:
        """A PTZ move as the device received it, with the account that authenticated it (the simulated device has
        one account, so that is `username`), for tests to see who moved the camera."""
        if self.moves is None:
            self.moves = deque(maxlen=MOVES_KEPT)
        self.moves.append({"at": time.time(), "operation": operation, "user": self.username, **details})

    def accepts_changes(self) -> bool:
        return not self.has(Quirk.IGNORES_SET)

    def sync_clock_if_ntp(self) -> None:
        """A device on NTP with a server to ask is, for the simulation, in sync at once."""
        if self.time_source == "NTP" and (self.ntp_servers or self.ntp_from_dhcp) and not self.has(Quirk.NO_NTP):
            self.skew_seconds = 0.0

    @property
    def main_encoder(self) -> Encoder:
        return self.encoders[0]

    def encoder(self, token: str) -> Encoder | None:
        return next((e for e in self.encoders if e.token == token), None)


@dataclass(slots=True)
class Stats:
    """Request counters for the control API; `peak_inflight` proves concurrency in tests."""

    inflight: int = 0
    peak_inflight: int = 0
    total_requests: int = 0
    auth_failures: int = 0

    def enter(self) -> None:
        self.inflight += 1
        self.total_requests += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)

    def leave(self) -> None:
        self.inflight -= 1

    def reset(self) -> None:
        self.peak_inflight = self.inflight
        self.total_requests = 0
        self.auth_failures = 0
