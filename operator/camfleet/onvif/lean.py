"""Lean re-verification of a healthy device: a few fixed SOAP requests, replies read with lxml, no zeep.

A full pass (`client`, `apply`, through zeep) learns where everything is and corrects what differs; most later
passes only need to know whether anything drifted since. Those read just what can drift: the clock, time zone
and time source (one unauthenticated GetSystemDateAndTime), and one authenticated read per managed setting
(GetNTP, GetVideoEncoderConfiguration, and for masks and PTZ home GetMasks and GetPresets), addressed with the
tokens the full pass found (`LeanPlan`). Serialising and parsing those through zeep cost most of a pass's CPU
(bench/RESULTS.md), so the requests are fixed envelopes and the replies are read by local name with the same
readers the full pass uses (`camfleet.onvif.replies`), under the same reply guards (size, no DTD).

Anything unexpected (a fault, a 401, a reply that does not read) is `LeanUnusable`: the caller runs a full pass,
which finds and reports what is wrong exactly as before. The password is only ever hashed into a digest here.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import aiohttp
from lxml import etree

from camfleet.onvif.client import HOME_PRESET_NAME, _encoder_settings, _mask, _ntp_information, _ptz_position, _token
from camfleet.onvif.clock import clock_reading
from camfleet.onvif.errors import UnexpectedReply
from camfleet.onvif.models import (
    AuthMode,
    CapabilityGap,
    ClockReading,
    DesiredDeviceSettings,
    EncoderSettings,
    Feature,
    LeanPlan,
    ObservedDeviceSettings,
    PrivacyMask,
    PtzPosition,
    TimeSettings,
)
from camfleet.onvif.replies import Reader, child, children, scalar
from camfleet.onvif.session import SERVICE_BY_NAMESPACE, read_utc_date_time
from camfleet.onvif.transport import DEFAULT_MAX_REPLY_BYTES, ReplyRejected, read_bounded
from camfleet.onvif.trust import AddressPolicy

T = TypeVar("T")
_SOAP = "http://www.w3.org/2003/05/soap-envelope"
_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
_BASE64_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
_DEVICE = "http://www.onvif.org/ver10/device/wsdl"
_MEDIA = "http://www.onvif.org/ver10/media/wsdl"
_MEDIA2 = "http://www.onvif.org/ver20/media/wsdl"
_PTZ = "http://www.onvif.org/ver20/ptz/wsdl"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False)


class LeanUnusable(Exception):
    """The lean pass cannot tell (a fault, a refusal, a reply it cannot read): run a full pass. No secrets inside."""


@dataclass(frozen=True, slots=True)
class LeanReading:
    """What a lean pass read, and how many ONVIF requests it took."""

    clock: ClockReading
    observed: ObservedDeviceSettings
    calls: int
    plan: LeanPlan  # with what this pass had to find out (after a restart: service addresses, encoder token)


@dataclass(frozen=True, slots=True)
class _Request:
    url: str
    namespace: str
    operation: str
    body: str  # the operation element's children, already escaped


def _security_header(username: str, password: str, offset: dt.timedelta) -> str:
    """WS-Security UsernameToken with PasswordDigest, Created on the device's clock (local time + offset)."""
    nonce = os.urandom(16)
    created = (dt.datetime.now(dt.UTC) + offset).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (
        f'<s:Header><wsse:Security xmlns:wsse="{_WSSE}" xmlns:wsu="{_WSU}" s:mustUnderstand="1"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{_DIGEST_TYPE}">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{_BASE64_TYPE}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
    )


def envelope(request: _Request, header: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{_SOAP}">{header}<s:Body>'
        f'<o:{request.operation} xmlns:o="{request.namespace}">{request.body}</o:{request.operation}>'
        "</s:Body></s:Envelope>"
    ).encode()


def reply_body(content: bytes, operation: str) -> Any:
    """The response element of a SOAP reply; LeanUnusable for a fault, a DTD or anything not well-formed."""
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise LeanUnusable(f"{operation}: reply contains a document type declaration")
    try:
        root = etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError:
        raise LeanUnusable(f"{operation}: reply is not well-formed XML") from None
    body = child(root, "Body")
    response = body[0] if body is not None and len(body) else None
    if response is None or etree.QName(response).localname == "Fault":
        raise LeanUnusable(f"{operation}: answered with a fault or without a body")
    return response


class _Caller:
    """Posts the fixed requests of one lean pass on one keep-alive connection, signed as the full pass found."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        plan: LeanPlan,
        credentials: tuple[str, str],
        policy: AddressPolicy,
        max_reply_bytes: int,
    ) -> None:
        username, password = credentials
        self._http = http
        self.plan = plan
        self._policy = policy
        self._discovered = False
        self._username = username
        self._password = password
        self._max_reply_bytes = max_reply_bytes
        self._offset = dt.timedelta(0)
        # One middleware per pass: after the first challenge it answers the next requests preemptively.
        self._digest = (
            (aiohttp.DigestAuthMiddleware(username, password),) if plan.auth_mode is AuthMode.HTTP_DIGEST else ()
        )
        self.calls = 0

    async def read_clock(self) -> tuple[ClockReading, Any]:
        sent_at = dt.datetime.now(dt.UTC)
        reply = await self._post(_Request(self.plan.device_url, _DEVICE, "GetSystemDateAndTime", ""), signed=False)
        received_at = dt.datetime.now(dt.UTC)
        system = child(reply, "SystemDateAndTime")
        reading = _read(lambda: clock_reading(read_utc_date_time(system), sent_at, received_at))
        self._offset = reading.offset
        return reading, system

    async def url(self, service: str) -> str:
        """The service's address: from the plan, else (a plan restored after a restart) asked with GetServices."""
        url = self._known_url(service)
        if url is None and not self._discovered:
            await self._discover()
            url = self._known_url(service)
        if url is None:
            raise LeanUnusable(f"the device advertises no {service} service")
        return url

    def _known_url(self, service: str) -> str | None:
        plan = self.plan
        return {"device": plan.device_url, "media": plan.media_url, "media2": plan.media2_url, "ptz": plan.ptz_url}[
            service
        ]

    async def _discover(self) -> None:
        """Service addresses from GetServices, each under the address policy as in the full pass."""
        self._discovered = True
        body = f'<o:IncludeCapability xmlns:o="{_DEVICE}">false</o:IncludeCapability>'
        reply = await self.call(_Request(self.plan.device_url, _DEVICE, "GetServices", body))
        xaddrs: dict[str, str] = {}
        for service in children(reply, "Service"):
            name = SERVICE_BY_NAMESPACE.get(str(scalar(child(service, "Namespace"))))
            address = scalar(child(service, "XAddr"))
            if name and address:
                if self._policy.refusal(str(address)) is not None:
                    raise LeanUnusable(f"advertised {name} service refused by the address policy")
                xaddrs[name] = str(address)
        self.plan = replace(
            self.plan, media_url=xaddrs.get("media"), media2_url=xaddrs.get("media2"), ptz_url=xaddrs.get("ptz")
        )

    async def call(self, request: _Request) -> Any:
        return await self._post(request, signed=True)

    async def _post(self, request: _Request, *, signed: bool) -> Any:
        header = ""
        middlewares: Sequence[Any] = ()
        if signed and self.plan.auth_mode is AuthMode.WS_USERNAME_TOKEN:
            header = _security_header(self._username, self._password, self._offset)
        elif signed:
            middlewares = self._digest
        action = f"{request.namespace}/{request.operation}"
        self.calls += 1
        try:
            async with self._http.post(
                request.url,
                data=envelope(request, header),
                headers={"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'},
                middlewares=tuple(middlewares),
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise LeanUnusable(f"{request.operation}: HTTP {response.status}")
                content = await read_bounded(response, self._max_reply_bytes)
        except (aiohttp.ClientError, ConnectionError, ReplyRejected) as error:
            raise LeanUnusable(f"{request.operation}: {type(error).__name__}") from None
        return reply_body(content, request.operation)


def _read(conversion: Callable[[], T]) -> T:
    try:
        return conversion()
    except UnexpectedReply as error:
        raise LeanUnusable(error.message) from None


def unsupported_features(gaps: Sequence[CapabilityGap]) -> frozenset[Feature]:
    return frozenset(gap.feature for gap in gaps)


async def _read_time(caller: _Caller, system: Any, desired: DesiredDeviceSettings, skip: frozenset[Feature]) -> Any:
    reader = Reader("GetSystemDateAndTime")
    from_dhcp: bool | None = None
    servers: tuple[str, ...] | None = None
    if desired.ntp_servers and Feature.NTP not in skip:
        ntp = await caller.call(_Request(await caller.url("device"), _DEVICE, "GetNTP", ""))
        from_dhcp, servers = _read(lambda: _ntp_information(child(ntp, "NTPInformation"), Reader("GetNTP")))
    return _read(
        lambda: TimeSettings(
            time_source=reader.text(system, "DateTimeType") or "Manual",
            timezone=reader.text(child(system, "TimeZone"), "TZ"),
            daylight_savings=bool(reader.flag(system, "DaylightSavings")),
            ntp_from_dhcp=from_dhcp,
            ntp_servers=servers,
        )
    )


def _plan_token(value: str | None, what: str) -> str:
    if value is None:
        raise LeanUnusable(f"the last full pass did not read the {what}")
    return escape(value)


async def _read_encoder(caller: _Caller) -> EncoderSettings:
    if caller.plan.encoder_token is None:
        return await _read_main_profile_encoder(caller)
    token = escape(caller.plan.encoder_token)
    body = f'<o:ConfigurationToken xmlns:o="{_MEDIA}">{token}</o:ConfigurationToken>'
    reply = await caller.call(_Request(await caller.url("media"), _MEDIA, "GetVideoEncoderConfiguration", body))
    # The schema's Configuration, or another wrapper name some firmware uses: the element holding an Encoding.
    configuration = next((c for c in reply if child(c, "Encoding") is not None), None)
    if configuration is None:
        raise LeanUnusable("GetVideoEncoderConfiguration: no configuration in the reply")
    return _read(lambda: _encoder_settings(configuration, Reader("GetVideoEncoderConfiguration")))


async def _read_main_profile_encoder(caller: _Caller) -> EncoderSettings:
    """Without a token (a plan restored after a restart): the main (first) profile's encoder, as GetProfiles
    carries it whole; its token goes into the plan for the next lean passes."""
    reply = await caller.call(_Request(await caller.url("media"), _MEDIA, "GetProfiles", ""))
    profile = next(iter(children(reply, "Profiles")), None)
    configuration = child(profile, "VideoEncoderConfiguration")
    if configuration is None:
        raise LeanUnusable("GetProfiles: the main profile has no video encoder configuration")
    reader = Reader("GetProfiles")
    token = _read(lambda: _token(reader, configuration))
    caller.plan = replace(caller.plan, encoder_token=token)
    return _read(lambda: _encoder_settings(configuration, reader))


async def _read_masks(caller: _Caller) -> tuple[PrivacyMask, ...]:
    token = _plan_token(caller.plan.video_source_token, "video source token")
    body = f'<o:ConfigurationToken xmlns:o="{_MEDIA2}">{token}</o:ConfigurationToken>'
    reply = await caller.call(_Request(await caller.url("media2"), _MEDIA2, "GetMasks", body))
    reader = Reader("GetMasks")
    return _read(lambda: tuple(_mask(reader, m) for m in children(reply, "Masks") if reader.flag(m, "Enabled")))


async def _read_ptz_home(caller: _Caller) -> PtzPosition | None:
    token = _plan_token(caller.plan.ptz_profile_token, "PTZ profile token")
    body = f'<o:ProfileToken xmlns:o="{_PTZ}">{token}</o:ProfileToken>'
    reply = await caller.call(_Request(await caller.url("ptz"), _PTZ, "GetPresets", body))
    reader = Reader("GetPresets")
    for preset in children(reply, "Preset"):
        position = child(preset, "PTZPosition")
        if reader.text(preset, "Name") == HOME_PRESET_NAME and position is not None:
            return _read(lambda: _ptz_position(reader, position))  # noqa: B023 - called at once
    return None


async def _read_managed(
    caller: _Caller, system: Any, desired: DesiredDeviceSettings, skip: frozenset[Feature]
) -> ObservedDeviceSettings:
    time = encoder = masks = ptz_home = None
    if desired.ntp_servers or desired.timezone is not None:
        time = await _read_time(caller, system, desired, skip)
    if desired.encoder is not None and Feature.ENCODER not in skip:
        encoder = await _read_encoder(caller)
    if desired.privacy_masks is not None and Feature.PRIVACY_MASKS not in skip:
        masks = await _read_masks(caller)
    if desired.ptz_home is not None and Feature.PTZ_HOME not in skip:
        ptz_home = await _read_ptz_home(caller)
    return ObservedDeviceSettings(time=time, encoder=encoder, privacy_masks=masks, ptz_home=ptz_home)


async def lean_read(
    plan: LeanPlan,
    username: str,
    password: str,
    desired: DesiredDeviceSettings,
    gaps: Sequence[CapabilityGap],
    call_timeout_seconds: float,
    policy: AddressPolicy | None = None,
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
) -> LeanReading:
    """Read the clock and the managed settings `desired` names (not those the last full pass found the device
    cannot manage, `gaps`); LeanUnusable when the device does not answer as the full pass left it."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit_per_host=1, keepalive_timeout=4),
        timeout=aiohttp.ClientTimeout(total=call_timeout_seconds),
    ) as http:
        policy = policy or AddressPolicy.for_endpoint(plan.device_url)
        caller = _Caller(http, plan, (username, password), policy, max_reply_bytes)
        try:
            async with asyncio.timeout(call_timeout_seconds):
                clock, system = await caller.read_clock()
                observed = await _read_managed(caller, system, desired, unsupported_features(gaps))
        except TimeoutError:
            raise LeanUnusable(f"no reply within {call_timeout_seconds:g}s") from None
    return LeanReading(clock=clock, observed=observed, calls=caller.calls, plan=caller.plan)
