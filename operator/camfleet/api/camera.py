"""Camera: one ONVIF device, owned by the department whose namespace it lives in."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StringConstraints

from camfleet.api.base import CamfleetModel, CustomResource, StatusModel
from camfleet.api.common import LocalObjectReference, VideoProfile
from camfleet.api.conditions import ObjectStatus
from camfleet.api.rules import Cel, CelRule, ListMap, immutable
from camfleet.api.types import (
    CalendarDate,
    DnsLabel,
    Flag,
    Integer,
    ObjectName,
    Rfc3339Time,
    SecretKey,
    ShortText,
    Text,
    Token,
)

ENDPOINT_PATTERN = r"^https?://([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[!-~]*)?$"
HOSTNAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$"

Hostname = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=253, pattern=HOSTNAME_PATTERN)]
"""A host name or IPv4 address."""


class LocationCategory(StrEnum):
    """What kind of place a camera watches. Privacy rule R1 forbids some of them outright."""

    STREET = "street"
    INTERSECTION = "intersection"
    HIGHWAY = "highway"
    BRIDGE = "bridge"
    TUNNEL = "tunnel"
    PARKING_LOT = "parkingLot"
    PARK = "park"
    RIVERBANK = "riverbank"
    TRANSIT_STATION = "transitStation"
    PUBLIC_SQUARE = "publicSquare"
    COMMERCIAL_DISTRICT = "commercialDistrict"
    RESIDENTIAL_AREA = "residentialArea"
    GOVERNMENT_BUILDING = "governmentBuilding"
    SCHOOL = "school"
    HOSPITAL = "hospital"
    OTHER = "other"
    # Forbidden by R1; listed so that the refusal can name the rule instead of "unsupported value".
    HOTEL_GUEST_ROOM = "hotelGuestRoom"
    DORMITORY = "dormitory"
    BATHHOUSE = "bathhouse"
    TOILET = "toilet"
    CHANGING_ROOM = "changingRoom"
    NURSING_ROOM = "nursingRoom"
    FITTING_ROOM = "fittingRoom"


PRIVACY_FORBIDDEN: dict[LocationCategory, str] = {
    LocationCategory.HOTEL_GUEST_ROOM: "hotel guest rooms",
    LocationCategory.DORMITORY: "collective dormitories",
    LocationCategory.BATHHOUSE: "public bathhouses",
    LocationCategory.TOILET: "toilets",
    LocationCategory.CHANGING_ROOM: "changing rooms",
    LocationCategory.NURSING_ROOM: "nursing rooms",
    LocationCategory.FITTING_ROOM: "fitting rooms",
}
"""R1 (QD-2010 art. 9): places where no camera may be installed, with the words used to refuse them."""


def _privacy_rule(category: LocationCategory, place: str) -> CelRule:
    return CelRule(
        rule=f"self != '{category.value}'",
        message=f"cameras may not be installed in {place} (privacy rule R1)",
        check=lambda value: value != category,
        reason="FieldValueForbidden",
    )


PRIVACY_RULES = tuple(_privacy_rule(category, place) for category, place in PRIVACY_FORBIDDEN.items())


class SecurityLevel(StrEnum):
    """How sensitive the watched place is."""

    STANDARD = "Standard"
    RESTRICTED = "Restricted"


class ShareClass(StrEnum):
    """How a camera's data may be shared (R10, ZY-2024 art. 14); ordered from most to least open."""

    UNCONDITIONAL = "Unconditional"
    CONDITIONAL = "Conditional"
    NOT_SHARED = "NotShared"


class CameraCondition(StrEnum):
    """Condition types a Camera reports."""

    REACHABLE = "Reachable"
    AUTHENTICATED = "Authenticated"
    TIME_SYNCED = "TimeSynced"
    CONFIGURED = "Configured"
    RECORDING = "Recording"
    FILED = "Filed"
    SIGNAGE = "Signage"
    READY = "Ready"
    RECONCILING = "Reconciling"
    """kstatus: True while the operator's own work for this generation is under way; the reason says which."""
    STALLED = "Stalled"
    """kstatus: True, with a CamelCase reason and a message, when it cannot proceed until someone changes
    something (Flux then reports Failed, Argo CD Degraded)."""


class CredentialsSecretRef(CamfleetModel):
    """A Secret in the camera's namespace holding the device username and password."""

    name: ObjectName
    """Name of the Secret."""
    username_key: SecretKey = "username"
    """Key in the Secret whose value is the username."""
    password_key: SecretKey = "password"
    """Key in the Secret whose value is the password. The operator never logs it."""


class Coordinates(CamfleetModel):
    """WGS 84 position of the camera."""

    latitude: StrictFloat = Field(ge=-90, le=90)
    """Degrees north (negative: south)."""
    longitude: StrictFloat = Field(ge=-180, le=180)
    """Degrees east (negative: west)."""


class CameraLocation(CamfleetModel):
    """Where the camera is and what kind of place it watches."""

    category: Annotated[LocationCategory, Cel(*PRIVACY_RULES)]
    """Kind of place. Privacy rule R1 refuses hotelGuestRoom, dormitory, bathhouse, toilet, changingRoom,
    nursingRoom and fittingRoom."""
    description: Text
    """Where exactly, in words, e.g. "north-east corner of Zhongshan Road and Hubei Road"."""
    address: Text | None = None
    """Postal address, when there is one."""
    coordinates: Coordinates | None = None
    """GPS position."""


class TimeSettings(CamfleetModel):
    """Clock settings pushed to the device (R7: the clock must be accurate)."""

    ntp_servers: Annotated[list[Hostname], Field(max_length=4)] = Field(default_factory=list)
    """NTP servers (host names or IPv4 addresses), most preferred first. Empty: leave the device's own."""
    timezone: Token = "UTC0"
    """POSIX TZ string as ONVIF expects it, e.g. CST-8 for China Standard Time."""
    max_drift_seconds: Integer = Field(default=2, ge=1, le=3600)
    """Largest clock drift, in seconds, still counted as TimeSynced."""


class Point(CamfleetModel):
    """A point on the picture, as fractions of its width and height.

    Not named x and y: YAML 1.1, which kubectl reads, takes a bare `y` key for the boolean true.
    """

    left: StrictFloat = Field(ge=0, le=1)
    """Distance from the left edge as a fraction of the width: 0 is the left edge, 1 the right edge."""
    top: StrictFloat = Field(ge=0, le=1)
    """Distance from the top edge as a fraction of the height: 0 is the top edge, 1 the bottom edge."""


class PrivacyMask(CamfleetModel):
    """An area blanked on the device, e.g. the windows of homes facing the street (R17)."""

    name: DnsLabel
    """Name of the mask, unique within the camera."""
    polygon: Annotated[list[Point], Field(min_length=3, max_length=16)]
    """Corners of the masked area, in order."""


class PtzHome(CamfleetModel):
    """Where a PTZ camera returns when nobody controls it, in ONVIF's generic position spaces.

    A position rather than a device preset token: tokens differ between devices and are lost on a
    factory reset, a position means the same on every camera. The operator stores it on the device as
    the preset named "home" and as the device's home position.
    """

    pan: StrictFloat = Field(ge=-1, le=1)
    """Pan, from -1 (full left) to 1 (full right)."""
    tilt: StrictFloat = Field(ge=-1, le=1)
    """Tilt, from -1 (full down) to 1 (full up)."""
    zoom: StrictFloat = Field(default=0.0, ge=0, le=1)
    """Zoom, from 0 (widest) to 1 (closest)."""


class DeviceSettings(CamfleetModel):
    """Settings the operator keeps on the device over ONVIF."""

    time: TimeSettings = Field(default={}, validate_default=True)
    """Clock and NTP."""
    video_encoder: VideoProfile = Field(default={}, validate_default=True)
    """Profile of the main (recorded) stream."""
    privacy_masks: Annotated[list[PrivacyMask], Field(max_length=8), ListMap("name")] = Field(default_factory=list)
    """Areas blanked on the device itself."""
    ptz_home: PtzHome | None = None
    """Home position of a PTZ camera; leave out for fixed cameras."""


class Signage(CamfleetModel):
    """Visible warning signs at the camera (R6)."""

    confirmed: Flag = False
    """True once someone has checked that the sign is in place; until then the camera reports a warning."""


class TransportSettings(CamfleetModel):
    """How camfleet talks to the device (R17: data encrypted in transit)."""

    require_tls: Flag = False
    """True: ONVIF only over https:// (the endpoint and every service address the device advertises) and streams
    only over rtsps://. A plain endpoint, service address or stream URI then stops the camera with the reason
    UntrustedAddress instead of being used."""


class CameraSpec(CamfleetModel):
    """Desired state of a camera: where it is, why it is there, how it is shared and how it is configured."""

    endpoint: Annotated[str, StringConstraints(strict=True, max_length=2048, pattern=ENDPOINT_PATTERN)]
    """ONVIF device service URL, e.g. http://10.20.0.11/onvif/device_service."""
    credentials_secret_ref: CredentialsSecretRef
    """Secret with the device username and password."""
    site: ShortText
    """Site the camera belongs to, e.g. a road section or a building."""
    location: Annotated[
        CameraLocation,
        Cel(immutable("a camera's location cannot change after creation; a move is a new Camera (rule R9)")),
    ]
    """Where the camera is. Immutable (R9): moving a camera means creating a new Camera."""
    purpose: Annotated[
        Text,
        Cel(immutable("a camera's purpose cannot change after creation; a new use is a new Camera (rule R9)")),
    ]
    """What the camera is for, e.g. "traffic enforcement at the junction". Immutable (R9)."""
    security_level: SecurityLevel = SecurityLevel.STANDARD
    """Standard or Restricted. Restricted cameras form the restricted zones of R13: only level-1 access tiers
    (and the owning department) may view, control or export them."""
    share_class: ShareClass = ShareClass.CONDITIONAL
    """Unconditional: shared on request. Conditional: shared on an application that is approved (R11).
    NotShared: shared only through an emergency grant (R10, R12). Set or changed only by the classification
    authority (CamfleetAuthorities), like `securityLevel`."""
    legal_basis: Text | None = None
    """The law, regulation or decision that puts the camera in its share class (ZY-2024 art. 14), e.g.
    "Qingdao PSB decision 2030-17, art. 3". Required for Conditional and NotShared cameras."""
    acceptance_date: CalendarDate | None = None
    """Day the installation was accepted; the system must be filed with the police within 30 days (R5).
    Leave out until accepted."""
    filing_reference: ShortText | None = None
    """Reference of the police filing (R5). Without it, Filed turns False 30 days after acceptance."""
    signage: Signage = Field(default={}, validate_default=True)
    """Warning signs at the camera (R6)."""
    transport: TransportSettings = Field(default={}, validate_default=True)
    """Transport security towards the device. Whatever this says, credentials go only to the endpoint's host or
    inside the operator's device networks: service addresses, stream URIs and redirects elsewhere are refused."""
    device: DeviceSettings = Field(default={}, validate_default=True)
    """Settings the operator keeps on the device."""
    recording_policy_ref: LocalObjectReference | None = None
    """RecordingPolicy in this namespace that records this camera. Leave out to let policies select the camera
    by its labels (the selecting policy with the highest priority wins)."""
    decommission: Flag = False
    """Set to true before deleting a camera that is recording (R19): without it, deletion waits. Recordings stay
    until their retention has passed (R3)."""

    cel_rules = (
        CelRule(
            rule="self.shareClass == 'Unconditional' || has(self.legalBasis)",
            message="a camera classed Conditional or NotShared must state the legal basis of its class in legalBasis"
            " (share class rule R10)",
            check=lambda spec: spec.share_class == ShareClass.UNCONDITIONAL or spec.legal_basis is not None,
            reason="FieldValueRequired",
            field_path=".legalBasis",
        ),
    )


class DeviceInfo(StatusModel):
    """What the device reports about itself (ONVIF GetDeviceInformation)."""

    maker: str | None = None
    """Manufacturer."""
    model: str | None = None
    """Model name."""
    firmware: str | None = None
    """Firmware version."""
    serial: str | None = None
    """Serial number."""
    hardware_id: str | None = None
    """Hardware identifier."""


class StreamUri(StatusModel):
    """A stream the device serves."""

    profile: str
    """ONVIF media profile token."""
    uri: str
    """RTSP URI of the stream (without credentials)."""


class CapabilityFeature(StrEnum):
    """A part of the device configuration camfleet manages (the same names as the ONVIF client's features)."""

    NTP = "ntp"
    TIMEZONE = "timezone"
    ENCODER = "encoder"
    PRIVACY_MASKS = "privacyMasks"
    PTZ_HOME = "ptzHome"
    MEDIA2 = "media2"


class CapabilityGap(StatusModel):
    """Something the spec asks for that the device cannot do; recorded once, not retried on every pass."""

    feature: CapabilityFeature
    """The feature, e.g. ntp or privacyMasks."""
    reason: str
    """Why, as learned from the device, e.g. "device does not support NTP (GetNTP)"."""


class OnvifFault(StatusModel):
    """A SOAP fault returned by the device."""

    code: str | None = None
    """SOAP fault code, e.g. env:Sender."""
    subcode: str | None = None
    """ONVIF subcode, e.g. ter:NotAuthorized."""
    reason: str | None = None
    """Fault reason text."""


class LastError(StatusModel):
    """The most recent error talking to the device."""

    message: str
    """What went wrong."""
    operation: str | None = None
    """ONVIF operation that failed, e.g. SetNTP."""
    time: Rfc3339Time | None = None
    """When it happened."""
    onvif_fault: OnvifFault | None = None
    """The SOAP fault, when the device returned one."""


class PtzRank(StrEnum):
    """The rank a PTZ control holder holds the camera at (R13): its level, or ownership; emergency need (an
    emergency grant) breaks ties within one rank."""

    LEVEL_1 = "Level1"
    LEVEL_1_EMERGENCY = "Level1Emergency"
    LEVEL_2 = "Level2"
    LEVEL_2_EMERGENCY = "Level2Emergency"
    OWNER = "Owner"
    LEVEL_3 = "Level3"
    LEVEL_3_EMERGENCY = "Level3Emergency"
    LEVEL_4_EMERGENCY = "Level4Emergency"


class PtzControl(StatusModel):
    """Who steers the camera now through the operator's PTZ control service (R13). This is also the record a new
    active operator replica reads back after a failover: holder and lock survive it."""

    department: DnsLabel
    """Namespace of the department holding control."""
    person: ShortText | None = None
    """The person steering for the department (as the request named them)."""
    rank: PtzRank
    """The rank it holds control at: a higher rank pre-empts it, a lower one is refused."""
    since: Rfc3339Time
    """When it took control."""
    lock_until: Rfc3339Time | None = None
    """A level-1 lock: until then nobody below level 1 takes control. Absent without a lock."""


class AuthMode(StrEnum):
    """How the operator authenticates to the device."""

    WS_USERNAME_TOKEN = "WSUsernameToken"
    HTTP_DIGEST = "HTTPDigest"
    NONE = "None"


class CameraStatus(ObjectStatus):
    """Observed state of a camera: conditions Reachable, Authenticated, TimeSynced, Configured, Recording, Filed,
    Signage and the summary Ready."""

    condition_types = CameraCondition

    device: DeviceInfo | None = None
    """Device information."""
    clock_drift_seconds: float | None = None
    """Device clock minus operator clock, in seconds, at the last check."""
    stream_uris: Annotated[list[StreamUri], Field(max_length=16)] = Field(default_factory=list)
    """Streams the device serves."""
    auth_mode: AuthMode | None = None
    """Authentication that worked at the last contact."""
    last_error: LastError | None = None
    """The most recent error; cleared when the camera is Ready again."""
    capability_gaps: Annotated[list[CapabilityGap], Field(min_length=1, max_length=16)] | None = None
    """What the spec asks for that the device cannot do (one entry per feature), as of the last pass that
    reached the settings; the Configured message names them too. Absent when there is none."""
    recording_policy: ObjectName | None = None
    """RecordingPolicy currently recording this camera."""
    ptz_control: PtzControl | None = None
    """The current PTZ control holder; absent while nobody holds the camera."""


class Camera(CustomResource):
    """A city camera: an ONVIF device the operator configures, records and shares under the city's rules."""

    kind: Literal["Camera"] = "Camera"
    """Kind of the object: Camera."""
    spec: CameraSpec
    """Desired state of the camera."""
    status: CameraStatus | None = None
    """Observed state, written by the operator."""
