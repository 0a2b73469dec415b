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
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from camfleet.onvif.errors import NotSupported, ProtocolError, RequestNotBuilt, UnexpectedReply, UntrustedAddress
from camfleet.onvif.models import (
    AuthMode,
    Capabilities,
    CapabilityGap,
    ClockReading,
    DeviceInfo,
    EncoderOptions,
    EncoderSettings,
    Feature,
    LeanPlan,
    NumericRange,
    PrivacyMask,
    PtzPosition,
    StreamUri,
    StreamUris,
    TimeSettings,
)
from camfleet.onvif.replies import Reader, attribute, child, children, items, scalar
from camfleet.onvif.session import (
    DEFAULT_AUTH_ORDER,
    DEFAULT_TIMEOUT_SECONDS,
    SERVICE_BY_NAMESPACE,
    SoapSession,
)
from camfleet.onvif.transport import DEFAULT_MAX_REPLY_BYTES
from camfleet.onvif.trust import STREAM_SCHEMES, AddressPolicy

# The PTZ preset that holds the desired home position; read back through GetPresets because ONVIF has
# no "GetHomePosition" (and GotoHomePosition would move the camera just to look).
HOME_PRESET_NAME = "home"
_PTZ_SETTLE_POLLS = 20
_PTZ_SETTLE_INTERVAL = 0.25
_SCHEMA_NS = "http://www.onvif.org/ver10/schema"
_ENCODER_TYPE = f"{{{_SCHEMA_NS}}}VideoEncoderConfiguration"


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
        known_unsupported: Mapping[tuple[str, str], NotSupported] | None = None,
        policy: AddressPolicy | None = None,
    ) -> None:
        self._session = SoapSession(
            device_url,
            username,
            password,
            timeout=timeout,
            max_reply_bytes=max_reply_bytes,
            strict_schema=strict_schema,
            known_unsupported=known_unsupported,
            policy=policy,
        )
        self._auth_order = tuple(auth_order)
        self._capabilities: Capabilities | None = None
        self._ptz_token: str | None = None
        # Tokens read during this client's life, for the lean passes that follow a full one (see `lean_plan`).
        self._encoder_token: str | None = None
        self._video_source: str | None = None
        self._ptz_profile: str | None = None

    async def __aenter__(self) -> OnvifClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._session.close()

    @property
    def unsupported(self) -> dict[tuple[str, str], NotSupported]:
        """(service, operation) the device does not support, as learned so far; not asked again by this client."""
        return dict(self._session.unsupported)

    def forget_unsupported(self) -> None:
        """Ask the device again about every operation it said it does not support (e.g. new firmware)."""
        self._session.unsupported.clear()

    @property
    def auth_mode(self) -> AuthMode | None:
        """The authentication mode the device accepted, once `authenticate` succeeded."""
        return self._session.auth_mode

    def lean_plan(self) -> LeanPlan | None:
        """Where a lean pass finds what this client read (None before authentication)."""
        if self._session.auth_mode is None:
            return None
        xaddrs = self._session.xaddrs
        return LeanPlan(
            device_url=self._session.device_url,
            auth_mode=self._session.auth_mode,
            media_url=xaddrs.get("media"),
            encoder_token=self._encoder_token,
            media2_url=xaddrs.get("media2"),
            video_source_token=self._video_source,
            ptz_url=xaddrs.get("ptz"),
            ptz_profile_token=self._ptz_profile,
        )

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
        """Time source, zone and NTP servers; what the device does not report is None."""
        reply = await self._session.call("device", "GetSystemDateAndTime")
        reader = Reader("GetSystemDateAndTime", self._session.device_url)
        gaps: list[CapabilityGap] = []
        from_dhcp: bool | None = None
        servers: tuple[str, ...] | None = None
        try:
            ntp = await self._session.call("device", "GetNTP")
        except NotSupported as exc:
            gaps.append(CapabilityGap(Feature.NTP, "device does not support NTP (GetNTP)", exc.fault_code))
        else:
            from_dhcp, servers = _ntp_information(ntp, Reader("GetNTP", self._session.device_url))
            if from_dhcp is None:  # cannot be verified, so it is not set again on every pass either
                gaps.append(CapabilityGap(Feature.NTP, "device does not report its NTP settings"))
        return (
            TimeSettings(
                time_source=reader.text(reply, "DateTimeType") or "Manual",
                timezone=reader.text(child(reply, "TimeZone"), "TZ"),
                daylight_savings=bool(reader.flag(reply, "DaylightSavings")),
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
        reader = Reader("GetStreamUri", self._session.device_url)
        if capabilities.has("media2"):
            profiles = items(await self._session.call("media2", "GetProfiles", {"Type": ["VideoEncoder"]}))
            for profile in profiles:
                token = _token(reader, profile)
                uri = scalar(
                    await self._session.call("media2", "GetStreamUri", {"Protocol": "RTSP", "ProfileToken": token})
                )
                if uri is None:
                    raise reader.fail("Uri", "is missing")
                streams.append(StreamUri(token, reader.text(profile, "Name") or token, str(uri), "media2"))
        else:
            for profile in await self._media_profiles():
                token = _token(reader, profile)
                reply = await self._session.call(
                    "media",
                    "GetStreamUri",
                    {
                        "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                        "ProfileToken": token,
                    },
                )
                uri = reader.text(reply, "Uri")
                if uri is None:
                    raise reader.fail("Uri", "is missing")
                streams.append(StreamUri(token, reader.text(profile, "Name") or token, uri, "media"))
        self._check_stream_uris(streams)
        return StreamUris(tuple(streams))

    def _check_stream_uris(self, streams: Sequence[StreamUri]) -> None:
        """A stream URI elsewhere than the camera's host (or device networks) is refused: no recorder gets it."""
        for stream in streams:
            refusal = self._session.policy.refusal(stream.uri, STREAM_SCHEMES)
            if refusal is not None:
                raise UntrustedAddress(
                    f"stream URI of profile {stream.profile_token} refused: {refusal}",
                    untrusted=stream.uri,
                    address=self._session.device_url,
                    operation="GetStreamUri",
                )

    async def read_encoder(self) -> EncoderSettings:
        """The main (first) profile's video encoder configuration."""
        configuration = await self._main_encoder_configuration()
        return _encoder_settings(configuration, Reader("GetVideoEncoderConfiguration", self._session.device_url))

    async def encoder_options(self) -> EncoderOptions:
        profile, encoder_token = await self._main_profile()
        options = await self._session.call(
            "media",
            "GetVideoEncoderConfigurationOptions",
            {"ConfigurationToken": encoder_token, "ProfileToken": profile},
        )
        reader = Reader("GetVideoEncoderConfigurationOptions", self._session.device_url)
        return reader.convert("Options", lambda: _encoder_options(options, reader))

    async def set_encoder(self, desired: EncoderSettings) -> None:
        """Re-send the current configuration with the managed fields replaced, persistently."""
        configuration = await self._main_encoder_configuration()
        encoding = desired.encoding.upper()
        configuration.Encoding = encoding
        configuration.Resolution = {"Width": desired.width, "Height": desired.height}
        if configuration.RateControl is None:  # optional in the schema; some firmware leaves it out
            configuration.RateControl = {
                "FrameRateLimit": desired.fps,
                "EncodingInterval": 1,
                "BitrateLimit": desired.bitrate_kbps,
            }
        else:
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
        try:
            await self._session.call(
                "media", "SetVideoEncoderConfiguration", {"Configuration": configuration, "ForcePersistence": True}
            )
        except RequestNotBuilt as exc:
            # The configuration is re-sent as the device gave it: an element it left out that the Set requires
            # is the device's incomplete reply, not our bug.
            raise UnexpectedReply(
                f"GetVideoEncoderConfiguration reply cannot be sent back ({exc.message})",
                element="Configuration",
                operation="GetVideoEncoderConfiguration",
                address=exc.address,
            ) from None

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
        masks = items(await self._session.call("media2", "GetMasks", {"ConfigurationToken": source}))
        reader = Reader("GetMasks", self._session.device_url)
        return tuple(_mask(reader, mask) for mask in masks if reader.flag(mask, "Enabled"))

    async def max_masks(self) -> int | None:
        source = await self._video_source_token()
        options = await self._session.call("media2", "GetMaskOptions", {"ConfigurationToken": source})
        reader = Reader("GetMaskOptions", self._session.device_url)
        return reader.integer(options, "MaxMasks") if child(options, "MaxMasks") is not None else None

    async def set_masks(self, masks: Sequence[PrivacyMask]) -> None:
        """Replace all masks on the main video source with `masks` (solid colour)."""
        source = await self._video_source_token()
        reader = Reader("GetMasks", self._session.device_url)
        for existing in items(await self._session.call("media2", "GetMasks", {"ConfigurationToken": source})):
            await self._session.call("media2", "DeleteMask", {"Token": _token(reader, existing)})
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
        reader = Reader("GetPresets", self._session.device_url)
        for preset in items(await self._session.call("ptz", "GetPresets", {"ProfileToken": token})):
            position = child(preset, "PTZPosition")
            if reader.text(preset, "Name") == HOME_PRESET_NAME and position is not None:
                return _ptz_position(reader, position)
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
        reader = Reader("GetPresets", self._session.device_url)
        presets = items(await self._session.call("ptz", "GetPresets", {"ProfileToken": token}))
        existing = next((_token(reader, p) for p in presets if reader.text(p, "Name") == HOME_PRESET_NAME), None)
        params: dict[str, Any] = {"ProfileToken": token, "PresetName": HOME_PRESET_NAME}
        if existing is not None:
            params["PresetToken"] = existing
        await self._session.call("ptz", "SetPreset", params)
        await self._session.call("ptz", "SetHomePosition", {"ProfileToken": token})

    # -- PTZ moves (relayed by the control service, R13) -------------------------------------------

    async def continuous_move(self, pan: float, tilt: float, zoom: float, timeout_seconds: float | None = None) -> None:
        """Move at the given velocities (generic space, -1..1) until Stop or the device's timeout."""
        params: dict[str, Any] = {
            "ProfileToken": await self._moving_profile(),
            "Velocity": {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}},
        }
        if timeout_seconds is not None:
            params["Timeout"] = f"PT{timeout_seconds:g}S"
        await self._session.call("ptz", "ContinuousMove", params)

    async def relative_move(self, pan: float, tilt: float, zoom: float) -> None:
        """Move by a translation; a device without a translation space answers NotSupported."""
        translation = {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}}
        await self._session.call(
            "ptz", "RelativeMove", {"ProfileToken": await self._moving_profile(), "Translation": translation}
        )

    async def stop_ptz(self) -> None:
        await self._session.call(
            "ptz", "Stop", {"ProfileToken": await self._moving_profile(), "PanTilt": True, "Zoom": True}
        )

    async def goto_preset(self, preset: str) -> None:
        """Go to a preset named by its token or, failing that, by its name."""
        token = await self._moving_profile()
        reader = Reader("GetPresets", self._session.device_url)
        presets = items(await self._session.call("ptz", "GetPresets", {"ProfileToken": token}))
        tokens: dict[str, str] = {}
        for p in presets:
            preset_token, name = _token(reader, p), reader.text(p, "Name")
            tokens[preset_token] = preset_token
            if name:
                tokens.setdefault(name, preset_token)
        if preset not in tokens:
            raise NotSupported(f"the device has no preset {preset!r}", operation="GotoPreset")
        await self._session.call("ptz", "GotoPreset", {"ProfileToken": token, "PresetToken": tokens[preset]})

    async def goto_home(self) -> None:
        await self._session.call("ptz", "GotoHomePosition", {"ProfileToken": await self._moving_profile()})

    async def _moving_profile(self) -> str:
        """The PTZ profile token, learned once per client (with the auth mode) so that a held client moves the
        camera in one round trip."""
        if self._ptz_token is None:
            if self._session.auth_mode is None:
                await self._session.read_clock()
                await self._session.authenticate(self._auth_order)
            self._ptz_token = await self._ptz_profile_token()
        return self._ptz_token

    # -- internals -----------------------------------------------------------------------------

    async def _service_addresses(self) -> dict[str, str]:
        try:
            services = await self._session.call("device", "GetServices", {"IncludeCapability": False})
        except ProtocolError:
            services = None
        xaddrs: dict[str, str] = {}
        for service in items(services):
            name = SERVICE_BY_NAMESPACE.get(str(scalar(child(service, "Namespace"))))
            address = scalar(child(service, "XAddr"))
            if name and address:
                xaddrs[name] = str(address)
        if xaddrs:
            return xaddrs
        # Older devices: GetCapabilities knows Media, PTZ and Imaging (never Media2).
        reply = await self._session.call("device", "GetCapabilities", {"Category": "All"})
        for name, element in (("media", "Media"), ("ptz", "PTZ"), ("imaging", "Imaging")):
            address = scalar(child(child(reply, element), "XAddr"))
            if address:
                xaddrs[name] = str(address)
        return xaddrs

    async def _media2_masks_supported(self) -> bool:
        try:
            reply = await self._session.call("media2", "GetServiceCapabilities")
        except ProtocolError:
            return False
        return bool(Reader("GetServiceCapabilities").convert("Mask", lambda: _truthy(child(reply, "Mask"))))

    async def _ptz_home_supported(self) -> bool:
        try:
            nodes = items(await self._session.call("ptz", "GetNodes"))
        except ProtocolError:
            return False
        reader = Reader("GetNodes", self._session.device_url)
        return any(reader.flag(node, "HomeSupported") for node in nodes)

    async def _media_profiles(self) -> list[Any]:
        await self.capabilities()
        profiles = items(await self._session.call("media", "GetProfiles"))
        if not profiles:
            raise ProtocolError("device has no media profiles", operation="GetProfiles")
        return profiles

    async def _main_profile(self) -> tuple[str, str]:
        """Tokens of the main profile and of its video encoder configuration."""
        reader = Reader("GetProfiles", self._session.device_url)
        profile = (await self._media_profiles())[0]
        encoder = child(profile, "VideoEncoderConfiguration")
        if encoder is None:
            raise ProtocolError("main profile has no video encoder configuration", operation="GetProfiles")
        self._encoder_token = _token(reader, encoder)
        return _token(reader, profile), self._encoder_token

    async def _main_encoder_configuration(self) -> Any:
        """The zeep configuration object, also when the device wrapped it in another element."""
        _, encoder_token = await self._main_profile()
        operation = "GetVideoEncoderConfiguration"
        reply = await self._session.call("media", operation, {"ConfigurationToken": encoder_token})
        if child(reply, "Encoding") is not None and not _is_raw(reply):
            return reply  # zeep unwrapped the single Configuration part
        configuration = child(reply, "Configuration")
        if configuration is None:
            configuration = next((c for c in _raw(reply) if child(c, "Encoding") is not None), None)
        if configuration is None:
            raise Reader(operation, self._session.device_url).fail("Configuration", "is missing")
        if _is_raw(configuration):
            configuration = await self._session.parse_element("media", _ENCODER_TYPE, configuration, operation)
        return configuration

    async def _video_source_token(self) -> str:
        profiles = items(await self._session.call("media2", "GetProfiles", {"Type": ["VideoSource"]}))
        reader = Reader("GetProfiles", self._session.device_url)
        for profile in profiles:
            source = child(child(profile, "Configurations"), "VideoSource")
            if source is not None:
                self._video_source = _token(reader, source)
                return self._video_source
        raise ProtocolError("no Media2 profile has a video source", operation="GetProfiles")

    async def _ptz_profile_token(self) -> str:
        capabilities = await self.capabilities()
        if not capabilities.has("ptz"):
            raise NotSupported("device advertises no PTZ service", operation="GetPresets")
        reader = Reader("GetProfiles", self._session.device_url)
        for profile in await self._media_profiles():
            if child(profile, "PTZConfiguration") is not None:
                self._ptz_profile = _token(reader, profile)
                return self._ptz_profile
        raise NotSupported("no media profile has a PTZ configuration", operation="GetProfiles")

    async def _wait_ptz_idle(self, token: str) -> None:
        # AbsoluteMove returns before the move ends; a preset stored mid-move would be wrong.
        for _ in range(_PTZ_SETTLE_POLLS):
            status = await self._session.call("ptz", "GetStatus", {"ProfileToken": token})
            move = child(status, "MoveStatus")
            states = {str(scalar(child(move, axis)) or "IDLE") for axis in ("PanTilt", "Zoom")}
            if states <= {"IDLE", "None"}:
                return
            await asyncio.sleep(_PTZ_SETTLE_INTERVAL)


def _text(value: Any) -> str:
    value = scalar(value)
    return "" if value is None else str(value)


def _device_info(reply: Any) -> DeviceInfo:
    return DeviceInfo(
        manufacturer=_text(child(reply, "Manufacturer")),
        model=_text(child(reply, "Model")),
        firmware_version=_text(child(reply, "FirmwareVersion")),
        serial_number=_text(child(reply, "SerialNumber")),
        hardware_id=_text(child(reply, "HardwareId")),
    )


def _is_raw(value: Any) -> bool:
    return isinstance(getattr(value, "tag", None), str) and hasattr(value, "findtext")


def _raw(reply: Any) -> list[Any]:
    return [element for element in getattr(reply, "_raw_elements", None) or () if _is_raw(element)]


def _truthy(value: Any) -> bool:
    value = scalar(value)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _token(reader: Reader, node: Any) -> str:
    token = scalar(attribute(node, "token"))
    if not token:
        raise reader.fail("token", "is missing")
    return str(token)


def _ntp_information(ntp: Any, reader: Reader) -> tuple[bool | None, tuple[str, ...] | None]:
    """(from DHCP, servers); an empty NTPInformation reports neither."""
    from_dhcp = reader.flag(ntp, "FromDHCP")
    if from_dhcp is None:
        return None, None
    hosts = children(ntp, "NTPFromDHCP" if from_dhcp else "NTPManual")
    return from_dhcp, tuple(host for host in (_network_host(h) for h in hosts) if host)


def _network_host(host: Any) -> str:
    kind = _text(child(host, "Type"))
    if kind == "IPv4":
        return _text(child(host, "IPv4Address"))
    if kind == "IPv6":
        return _text(child(host, "IPv6Address"))
    return _text(child(host, "DNSname"))


def _network_host_param(server: str) -> dict[str, str]:
    try:
        address = ipaddress.ip_address(server)
    except ValueError:
        return {"Type": "DNS", "DNSname": server}
    if address.version == 4:
        return {"Type": "IPv4", "IPv4Address": server}
    return {"Type": "IPv6", "IPv6Address": server}


def _encoder_settings(configuration: Any, reader: Reader) -> EncoderSettings:
    encoding = (reader.text(configuration, "Encoding") or "").upper()
    if not encoding:
        raise reader.fail("Encoding", "is missing")
    gop = 1  # every JPEG frame is a key frame
    codec = child(configuration, encoding) if encoding in ("H264", "MPEG4") else None
    if codec is not None:
        gop = reader.integer(codec, "GovLength", 1)
    resolution = reader.required(configuration, "Resolution")
    rate = child(configuration, "RateControl")
    return EncoderSettings(
        encoding=encoding,
        width=reader.integer(resolution, "Width"),
        height=reader.integer(resolution, "Height"),
        fps=reader.integer(rate, "FrameRateLimit", 0),
        bitrate_kbps=reader.integer(rate, "BitrateLimit", 0),
        gop=gop,
    )


def _range(reader: Reader, value: Any) -> NumericRange | None:
    if value is None or child(value, "Min") is None or child(value, "Max") is None:
        return None
    return NumericRange(reader.integer(value, "Min"), reader.integer(value, "Max"))


def _encoder_options(options: Any, reader: Reader) -> EncoderOptions:
    encodings: set[str] = set()
    resolutions: set[tuple[int, int]] = set()
    fps = gop = None
    for encoding in ("JPEG", "MPEG4", "H264"):
        codec = child(options, encoding)
        if codec is None:
            continue
        encodings.add(encoding)
        resolutions.update(
            (reader.integer(r, "Width"), reader.integer(r, "Height")) for r in children(codec, "ResolutionsAvailable")
        )
        if encoding == "H264":
            fps = _range(reader, child(codec, "FrameRateRange"))
            gop = _range(reader, child(codec, "GovLengthRange"))
    bitrate = _extension_bitrate_range(child(options, "Extension"))
    return EncoderOptions(frozenset(encodings), frozenset(resolutions), fps=fps, gop=gop, bitrate_kbps=bitrate)


def _extension_bitrate_range(extension: Any) -> NumericRange | None:
    """H264 BitrateRange from the options Extension.

    The 2.4 schema opens VideoEncoderOptionsExtension with an `xs:any`, so zeep hands the typed
    children over as raw elements in `_value_1` (or `_raw_elements`); read those when the typed field is empty.
    """
    if extension is None:
        return None
    reader = Reader("GetVideoEncoderConfigurationOptions")
    typed = child(extension, "H264")
    if typed is not None:
        return _range(reader, child(typed, "BitrateRange"))
    for element in getattr(extension, "_value_1", None) or []:
        if getattr(element, "tag", None) == f"{{{_SCHEMA_NS}}}H264":
            return _range(reader, child(element, "BitrateRange"))
    return None


def _mask(reader: Reader, mask: Any) -> PrivacyMask:
    points = children(reader.required(mask, "Polygon"), "Point")
    return PrivacyMask(tuple((reader.number(p, "x"), reader.number(p, "y")) for p in points))


def _ptz_position(reader: Reader, vector: Any) -> PtzPosition:
    pan_tilt = child(vector, "PanTilt")
    zoom = child(vector, "Zoom")
    return PtzPosition(
        pan=reader.number(pan_tilt, "x", 0.0) if pan_tilt is not None else 0.0,
        tilt=reader.number(pan_tilt, "y", 0.0) if pan_tilt is not None else 0.0,
        zoom=reader.number(zoom, "x", 0.0) if zoom is not None else 0.0,
    )
