"""The ONVIF device client: typed reads and writes on one camera.

Typical use (each step maps to one Camera condition)::

    async with OnvifClient(url, user, password, timeout=5) as camera:
        clock = await camera.read_clock()          # Reachable; unauthenticated
        info = await camera.authenticate()         # Authenticated; signs with the camera's clock
        report = await apply_settings(camera, desired)   # Configured (see camfleet.onvif.apply)
        streams = await camera.stream_uris()

Replies are converted to the plain values of `camfleet.onvif.models` here, so zeep objects never leave
this module (except the raw encoder configuration, which is re-sent as read).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from camfleet.onvif.errors import NotSupported, ProtocolError
from camfleet.onvif.models import (
    AuthMode,
    Capabilities,
    CapabilityGap,
    ClockReading,
    DeviceInfo,
    EncoderOptions,
    EncoderSettings,
    Feature,
    NumericRange,
    PrivacyMask,
    PtzPosition,
    StreamUri,
    StreamUris,
    TimeSettings,
)
from camfleet.onvif.session import (
    DEFAULT_AUTH_ORDER,
    DEFAULT_TIMEOUT_SECONDS,
    SERVICE_BY_NAMESPACE,
    SoapSession,
)
from camfleet.onvif.transport import DEFAULT_MAX_REPLY_BYTES

# The PTZ preset that holds the desired home position; read back through GetPresets because ONVIF has
# no "GetHomePosition" (and GotoHomePosition would move the camera just to look).
HOME_PRESET_NAME = "home"
_PTZ_SETTLE_POLLS = 20
_PTZ_SETTLE_INTERVAL = 0.25
_SCHEMA_NS = "http://www.onvif.org/ver10/schema"


class OnvifClient:
    """Async client for one device, addressed by its device service URL."""

    def __init__(
        self,
        device_url: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        auth_order: Sequence[AuthMode] = DEFAULT_AUTH_ORDER,
        strict_schema: bool = False,
    ) -> None:
        self._session = SoapSession(
            device_url,
            username,
            password,
            timeout=timeout,
            max_reply_bytes=max_reply_bytes,
            strict_schema=strict_schema,
        )
        self._auth_order = tuple(auth_order)
        self._capabilities: Capabilities | None = None

    async def __aenter__(self) -> OnvifClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._session.close()

    @property
    def auth_mode(self) -> AuthMode | None:
        """The authentication mode the device accepted, once `authenticate` succeeded."""
        return self._session.auth_mode

    # -- connection ---------------------------------------------------------------------------

    async def read_clock(self) -> ClockReading:
        """Read the device clock without credentials and sign future UsernameTokens with it."""
        return await self._session.read_clock()

    async def authenticate(self) -> DeviceInfo:
        """Find an accepted auth mode (see `SoapSession.authenticate`); returns GetDeviceInformation."""
        return _device_info(await self._session.authenticate(self._auth_order))

    async def device_info(self) -> DeviceInfo:
        return _device_info(await self._session.call("device", "GetDeviceInformation"))

    async def capabilities(self) -> Capabilities:
        """Service addresses (GetServices, else GetCapabilities) and the features camfleet manages.

        Read once per client; until it has run only the device service is known.
        """
        if self._capabilities is None:
            xaddrs = await self._service_addresses()
            self._session.set_service_addresses(xaddrs)
            self._capabilities = Capabilities(
                xaddrs=dict(self._session.xaddrs),
                media2_masks=await self._media2_masks_supported() if "media2" in xaddrs else False,
                ptz_home="ptz" in xaddrs and await self._ptz_home_supported(),
            )
        return self._capabilities

    # -- time ---------------------------------------------------------------------------------

    async def read_time(self) -> tuple[TimeSettings, list[CapabilityGap]]:
        reply = await self._session.call("device", "GetSystemDateAndTime")
        timezone = getattr(getattr(reply, "TimeZone", None), "TZ", None)
        gaps: list[CapabilityGap] = []
        from_dhcp: bool | None = None
        servers: tuple[str, ...] | None = None
        try:
            ntp = await self._session.call("device", "GetNTP")
        except NotSupported as exc:
            gaps.append(CapabilityGap(Feature.NTP, "device does not support NTP (GetNTP)", exc.fault_code))
        else:
            from_dhcp = bool(ntp.FromDHCP)
            hosts = ntp.NTPFromDHCP if from_dhcp else ntp.NTPManual
            servers = tuple(_network_host(host) for host in hosts or [])
        return (
            TimeSettings(
                time_source=str(reply.DateTimeType),
                timezone=timezone,
                daylight_savings=bool(reply.DaylightSavings),
                ntp_from_dhcp=from_dhcp,
                ntp_servers=servers,
            ),
            gaps,
        )

    async def set_ntp_servers(self, servers: Sequence[str]) -> None:
        await self._session.call(
            "device", "SetNTP", {"FromDHCP": False, "NTPManual": [_network_host_param(s) for s in servers]}
        )

    async def set_time_source(self, time_source: str, timezone: str | None, daylight_savings: bool) -> None:
        """SetSystemDateAndTime with DateTimeType NTP or Manual (keeping the device's time) and a POSIX TZ."""
        params: dict[str, Any] = {"DateTimeType": time_source, "DaylightSavings": daylight_savings}
        if timezone is not None:
            params["TimeZone"] = {"TZ": timezone}
        await self._session.call("device", "SetSystemDateAndTime", params)

    # -- media: profiles, streams, encoder -----------------------------------------------------

    async def stream_uris(self) -> StreamUris:
        """RTSP URIs of every profile, through Media2 when the device has it, else Media."""
        capabilities = await self.capabilities()
        streams: list[StreamUri] = []
        if capabilities.has("media2"):
            for profile in await self._session.call("media2", "GetProfiles", {"Type": ["VideoEncoder"]}) or []:
                uri = await self._session.call(
                    "media2", "GetStreamUri", {"Protocol": "RTSP", "ProfileToken": profile.token}
                )
                streams.append(StreamUri(str(profile.token), str(profile.Name), str(uri), "media2"))
        else:
            for profile in await self._media_profiles():
                reply = await self._session.call(
                    "media",
                    "GetStreamUri",
                    {
                        "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                        "ProfileToken": profile.token,
                    },
                )
                streams.append(StreamUri(str(profile.token), str(profile.Name), str(reply.Uri), "media"))
        return StreamUris(tuple(streams))

    async def read_encoder(self) -> EncoderSettings:
        """The main (first) profile's video encoder configuration."""
        return _encoder_settings(await self._main_encoder_configuration())

    async def encoder_options(self) -> EncoderOptions:
        profile = await self._main_profile()
        options = await self._session.call(
            "media",
            "GetVideoEncoderConfigurationOptions",
            {"ConfigurationToken": profile.VideoEncoderConfiguration.token, "ProfileToken": profile.token},
        )
        return _encoder_options(options)

    async def set_encoder(self, desired: EncoderSettings) -> None:
        """Re-send the current configuration with the managed fields replaced, persistently."""
        configuration = await self._main_encoder_configuration()
        encoding = desired.encoding.upper()
        configuration.Encoding = encoding
        configuration.Resolution.Width = desired.width
        configuration.Resolution.Height = desired.height
        configuration.RateControl.FrameRateLimit = desired.fps
        configuration.RateControl.BitrateLimit = desired.bitrate_kbps
        if encoding == "H264":
            if configuration.H264 is None:
                configuration.H264 = {"GovLength": desired.gop, "H264Profile": "Main"}
            else:
                configuration.H264.GovLength = desired.gop
        elif encoding == "MPEG4":
            if configuration.MPEG4 is None:
                configuration.MPEG4 = {"GovLength": desired.gop, "Mpeg4Profile": "SP"}
            else:
                configuration.MPEG4.GovLength = desired.gop
        # Without ForcePersistence many devices forget the change at the next reboot.
        await self._session.call(
            "media", "SetVideoEncoderConfiguration", {"Configuration": configuration, "ForcePersistence": True}
        )

    # -- privacy masks (Media2) ----------------------------------------------------------------

    async def masks_gap(self) -> CapabilityGap | None:
        """Why masks cannot be set on the device (so the transcoder must apply them), or None."""
        capabilities = await self.capabilities()
        if not capabilities.has("media2"):
            return CapabilityGap(Feature.PRIVACY_MASKS, "device has no Media2 service; masks handled by transcoder")
        if not capabilities.media2_masks:
            return CapabilityGap(Feature.PRIVACY_MASKS, "device does not support Media2 masks; handled by transcoder")
        return None

    async def read_masks(self) -> tuple[PrivacyMask, ...]:
        source = await self._video_source_token()
        masks = await self._session.call("media2", "GetMasks", {"ConfigurationToken": source}) or []
        return tuple(
            PrivacyMask(tuple((float(p.x), float(p.y)) for p in mask.Polygon.Point)) for mask in masks if mask.Enabled
        )

    async def max_masks(self) -> int | None:
        source = await self._video_source_token()
        options = await self._session.call("media2", "GetMaskOptions", {"ConfigurationToken": source})
        value = getattr(options, "MaxMasks", None)
        return int(value) if value is not None else None

    async def set_masks(self, masks: Sequence[PrivacyMask]) -> None:
        """Replace all masks on the main video source with `masks` (solid colour)."""
        source = await self._video_source_token()
        for existing in await self._session.call("media2", "GetMasks", {"ConfigurationToken": source}) or []:
            await self._session.call("media2", "DeleteMask", {"Token": existing.token})
        for mask in masks:
            await self._session.call(
                "media2",
                "CreateMask",
                {
                    "Mask": {
                        "ConfigurationToken": source,
                        "Polygon": {"Point": [{"x": x, "y": y} for x, y in mask.polygon]},
                        "Type": "Color",
                        "Enabled": True,
                    }
                },
            )

    # -- PTZ home ----------------------------------------------------------------------------

    async def read_ptz_home(self) -> PtzPosition | None:
        token = await self._ptz_profile_token()
        for preset in await self._session.call("ptz", "GetPresets", {"ProfileToken": token}) or []:
            if preset.Name == HOME_PRESET_NAME and preset.PTZPosition is not None:
                return _ptz_position(preset.PTZPosition)
        return None

    async def set_ptz_home(self, position: PtzPosition) -> None:
        """Move to `position`, store it as the "home" preset and as the device's home position."""
        token = await self._ptz_profile_token()
        await self._session.call(
            "ptz",
            "AbsoluteMove",
            {
                "ProfileToken": token,
                "Position": {"PanTilt": {"x": position.pan, "y": position.tilt}, "Zoom": {"x": position.zoom}},
            },
        )
        await self._wait_ptz_idle(token)
        presets = await self._session.call("ptz", "GetPresets", {"ProfileToken": token}) or []
        existing = next((p.token for p in presets if p.Name == HOME_PRESET_NAME), None)
        params: dict[str, Any] = {"ProfileToken": token, "PresetName": HOME_PRESET_NAME}
        if existing is not None:
            params["PresetToken"] = existing
        await self._session.call("ptz", "SetPreset", params)
        await self._session.call("ptz", "SetHomePosition", {"ProfileToken": token})

    # -- internals -----------------------------------------------------------------------------

    async def _service_addresses(self) -> dict[str, str]:
        try:
            services = await self._session.call("device", "GetServices", {"IncludeCapability": False})
        except ProtocolError:
            services = None
        xaddrs: dict[str, str] = {}
        for service in services or []:
            name = SERVICE_BY_NAMESPACE.get(str(service.Namespace))
            if name and service.XAddr:
                xaddrs[name] = str(service.XAddr)
        if xaddrs:
            return xaddrs
        # Older devices: GetCapabilities knows Media, PTZ and Imaging (never Media2).
        reply = await self._session.call("device", "GetCapabilities", {"Category": "All"})
        for name, attribute in (("media", "Media"), ("ptz", "PTZ"), ("imaging", "Imaging")):
            capability = getattr(reply, attribute, None)
            if capability is not None and capability.XAddr:
                xaddrs[name] = str(capability.XAddr)
        return xaddrs

    async def _media2_masks_supported(self) -> bool:
        try:
            reply = await self._session.call("media2", "GetServiceCapabilities")
        except ProtocolError:
            return False
        return bool(getattr(reply, "Mask", False))

    async def _ptz_home_supported(self) -> bool:
        try:
            nodes = await self._session.call("ptz", "GetNodes") or []
        except ProtocolError:
            return False
        return any(bool(getattr(node, "HomeSupported", False)) for node in nodes)

    async def _media_profiles(self) -> list[Any]:
        await self.capabilities()
        profiles = await self._session.call("media", "GetProfiles") or []
        if not profiles:
            raise ProtocolError("device has no media profiles", operation="GetProfiles")
        return list(profiles)

    async def _main_profile(self) -> Any:
        profile = (await self._media_profiles())[0]
        if profile.VideoEncoderConfiguration is None:
            raise ProtocolError("main profile has no video encoder configuration", operation="GetProfiles")
        return profile

    async def _main_encoder_configuration(self) -> Any:
        profile = await self._main_profile()
        return await self._session.call(
            "media",
            "GetVideoEncoderConfiguration",
            {"ConfigurationToken": profile.VideoEncoderConfiguration.token},
        )

    async def _video_source_token(self) -> str:
        profiles = await self._session.call("media2", "GetProfiles", {"Type": ["VideoSource"]}) or []
        for profile in profiles:
            source = getattr(profile.Configurations, "VideoSource", None) if profile.Configurations else None
            if source is not None:
                return str(source.token)
        raise ProtocolError("no Media2 profile has a video source", operation="GetProfiles")

    async def _ptz_profile_token(self) -> str:
        capabilities = await self.capabilities()
        if not capabilities.has("ptz"):
            raise NotSupported("device advertises no PTZ service", operation="GetPresets")
        for profile in await self._media_profiles():
            if profile.PTZConfiguration is not None:
                return str(profile.token)
        raise NotSupported("no media profile has a PTZ configuration", operation="GetProfiles")

    async def _wait_ptz_idle(self, token: str) -> None:
        # AbsoluteMove returns before the move ends; a preset stored mid-move would be wrong.
        for _ in range(_PTZ_SETTLE_POLLS):
            status = await self._session.call("ptz", "GetStatus", {"ProfileToken": token})
            move = getattr(status, "MoveStatus", None)
            states = {str(getattr(move, axis, "IDLE")) for axis in ("PanTilt", "Zoom")} if move else {"IDLE"}
            if states <= {"IDLE", "None"}:
                return
            await asyncio.sleep(_PTZ_SETTLE_INTERVAL)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _device_info(reply: Any) -> DeviceInfo:
    return DeviceInfo(
        manufacturer=_text(reply.Manufacturer),
        model=_text(reply.Model),
        firmware_version=_text(reply.FirmwareVersion),
        serial_number=_text(reply.SerialNumber),
        hardware_id=_text(reply.HardwareId),
    )


def _network_host(host: Any) -> str:
    kind = str(host.Type)
    if kind == "IPv4":
        return _text(host.IPv4Address)
    if kind == "IPv6":
        return _text(host.IPv6Address)
    return _text(host.DNSname)


def _network_host_param(server: str) -> dict[str, str]:
    try:
        address = ipaddress.ip_address(server)
    except ValueError:
        return {"Type": "DNS", "DNSname": server}
    if address.version == 4:
        return {"Type": "IPv4", "IPv4Address": server}
    return {"Type": "IPv6", "IPv6Address": server}


def _encoder_settings(configuration: Any) -> EncoderSettings:
    encoding = str(configuration.Encoding).upper()
    gop = 1  # every JPEG frame is a key frame
    if encoding == "H264" and configuration.H264 is not None:
        gop = int(configuration.H264.GovLength)
    elif encoding == "MPEG4" and configuration.MPEG4 is not None:
        gop = int(configuration.MPEG4.GovLength)
    rate = configuration.RateControl
    return EncoderSettings(
        encoding=encoding,
        width=int(configuration.Resolution.Width),
        height=int(configuration.Resolution.Height),
        fps=int(rate.FrameRateLimit) if rate is not None else 0,
        bitrate_kbps=int(rate.BitrateLimit) if rate is not None else 0,
        gop=gop,
    )


def _range(value: Any) -> NumericRange | None:
    if value is None:
        return None
    return NumericRange(int(value.Min), int(value.Max))


def _encoder_options(options: Any) -> EncoderOptions:
    encodings: set[str] = set()
    resolutions: set[tuple[int, int]] = set()
    fps = gop = None
    for encoding in ("JPEG", "MPEG4", "H264"):
        codec = getattr(options, encoding, None)
        if codec is None:
            continue
        encodings.add(encoding)
        resolutions.update((int(r.Width), int(r.Height)) for r in codec.ResolutionsAvailable or [])
        if encoding == "H264":
            fps = _range(codec.FrameRateRange)
            gop = _range(codec.GovLengthRange)
    bitrate = _extension_bitrate_range(getattr(options, "Extension", None))
    return EncoderOptions(frozenset(encodings), frozenset(resolutions), fps=fps, gop=gop, bitrate_kbps=bitrate)


def _extension_bitrate_range(extension: Any) -> NumericRange | None:
    """H264 BitrateRange from the options Extension.

    The 2.4 schema opens VideoEncoderOptionsExtension with an `xs:any`, so zeep hands the typed
    children over as raw elements in `_value_1`; read those when the typed field is empty.
    """
    if extension is None:
        return None
    typed = getattr(extension, "H264", None)
    if typed is not None:
        return _range(getattr(typed, "BitrateRange", None))
    for element in getattr(extension, "_value_1", None) or []:
        if getattr(element, "tag", None) == f"{{{_SCHEMA_NS}}}H264":
            low = element.findtext(f"{{{_SCHEMA_NS}}}BitrateRange/{{{_SCHEMA_NS}}}Min")
            high = element.findtext(f"{{{_SCHEMA_NS}}}BitrateRange/{{{_SCHEMA_NS}}}Max")
            if low is not None and high is not None:
                return NumericRange(int(low), int(high))
    return None


def _ptz_position(vector: Any) -> PtzPosition:
    pan_tilt = vector.PanTilt
    zoom = vector.Zoom
    return PtzPosition(
        pan=float(pan_tilt.x) if pan_tilt is not None else 0.0,
        tilt=float(pan_tilt.y) if pan_tilt is not None else 0.0,
        zoom=float(zoom.x) if zoom is not None else 0.0,
    )
