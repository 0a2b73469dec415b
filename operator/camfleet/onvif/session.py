"""One camera's SOAP session: service proxies, authentication modes, timeouts and error mapping.

Built from onvif-zeep-async's pieces (its WSDL loader, zeep client subclass, clock-adjusted
UsernameToken and WS-Addressing plugin) rather than its `ONVIFCamera`, because that class fixes the
device service at `/onvif/device_service` on the host root, cannot do HTTP digest, logs envelopes and
parses with `xml_huge_tree=True`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import onvif
import zeep.exceptions
from onvif.client import UsernameDigestTokenDtDiff, ZeepAsyncClient, _cached_document
from onvif.transport import ASYNC_TRANSPORT
from onvif.wsa import WsAddressingIfMissingPlugin
from zeep.wsdl import Document

from camfleet.onvif.clock import clock_reading, device_utc
from camfleet.onvif.errors import (
    AuthFailed,
    CallTimeout,
    DeviceError,
    NotSupported,
    ProtocolError,
    RequestNotBuilt,
    Unreachable,
    UntrustedAddress,
    redact,
)
from camfleet.onvif.models import AuthMode, ClockReading
from camfleet.onvif.replies import Reader
from camfleet.onvif.transport import (
    DEFAULT_MAX_REPLY_BYTES,
    REQUEST_SENT,
    BoundedTransport,
    HttpRedirect,
    HttpStatusError,
    HttpUnauthorized,
    ReplyRejected,
    hardened_settings,
)
from camfleet.onvif.trust import AddressPolicy

log = logging.getLogger(__name__)

_LIBRARY_WSDL = Path(onvif.__file__).parent / "wsdl"
# onvif-zeep-async ships ONVIF 2.4 WSDLs, which predate Media2; the official Media2 WSDL and the
# schemas it needs are vendored unmodified next to this module.
_OWN_WSDL = Path(__file__).parent / "wsdl"

DEFAULT_TIMEOUT_SECONDS = 10.0
# An offset change smaller than this cannot explain a rejected UsernameToken; anything larger can.
_CLOCK_JUMP = dt.timedelta(seconds=1)
DEFAULT_AUTH_ORDER: tuple[AuthMode, ...] = (AuthMode.WS_USERNAME_TOKEN, AuthMode.HTTP_DIGEST)

_SOAP_ENV_NAMESPACES = {"http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/"}
_ONVIF_ERROR_NAMESPACE = "http://www.onvif.org/ver10/error"
# HTTP statuses that, with a body that is not SOAP, mean "this operation is not here" on real cameras.
NOT_SUPPORTED_HTTP_STATUSES = frozenset({400, 405, 501})
# A fault without an ONVIF subcode whose reason says the operation is unknown (vendors word it freely).
_UNKNOWN_OPERATION = re.compile(
    r"not (?:be )?(?:supported|implemented)|unsupported|unknown (?:operation|action|method|request)"
    r"|no such (?:operation|action|method)|(?:operation|action|method) not found|unrecogni[sz]ed|not available",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    wsdl: Path
    binding: str
    namespace: str


SERVICES: dict[str, ServiceSpec] = {
    "device": ServiceSpec(
        _LIBRARY_WSDL / "devicemgmt.wsdl",
        "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding",
        "http://www.onvif.org/ver10/device/wsdl",
    ),
    "media": ServiceSpec(
        _LIBRARY_WSDL / "media.wsdl",
        "{http://www.onvif.org/ver10/media/wsdl}MediaBinding",
        "http://www.onvif.org/ver10/media/wsdl",
    ),
    "media2": ServiceSpec(
        _OWN_WSDL / "ver20" / "media" / "wsdl" / "media.wsdl",
        "{http://www.onvif.org/ver20/media/wsdl}Media2Binding",
        "http://www.onvif.org/ver20/media/wsdl",
    ),
    "ptz": ServiceSpec(
        _LIBRARY_WSDL / "ptz.wsdl",
        "{http://www.onvif.org/ver20/ptz/wsdl}PTZBinding",
        "http://www.onvif.org/ver20/ptz/wsdl",
    ),
    "imaging": ServiceSpec(
        _LIBRARY_WSDL / "imaging.wsdl",
        "{http://www.onvif.org/ver20/imaging/wsdl}ImagingBinding",
        "http://www.onvif.org/ver20/imaging/wsdl",
    ),
}
SERVICE_BY_NAMESPACE = {spec.namespace: name for name, spec in SERVICES.items()}


_STRICT_DOCUMENTS: dict[str, Any] = {}


async def _strict_document(path: str) -> Any:
    """The WSDL parsed with strict settings, so replies must match the schema element for element.

    zeep checks a reply against the settings its WSDL was loaded with, and onvif-zeep-async loads
    (and caches) every WSDL leniently; conformance checks need their own copy.
    """
    document = _STRICT_DOCUMENTS.get(path)
    if document is None:
        settings = hardened_settings(strict_schema=True)
        document = await asyncio.to_thread(Document, path, ASYNC_TRANSPORT, settings=settings)
        _STRICT_DOCUMENTS[path] = document
    return document


_LOAD_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def load_document(service: str, *, strict_schema: bool = False) -> Any:
    """The parsed WSDL of `service`, loaded once per process.

    Serialized so that thousands of cameras reconciled at start-up do not each parse the same WSDL
    (onvif-zeep-async's cache has no lock). Call it for every service at start-up to warm the cache.
    """
    lock = _LOAD_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    path = str(SERVICES[service].wsdl)
    async with lock:
        return await (_strict_document if strict_schema else _cached_document)(path)


class SoapSession:
    """Calls ONVIF operations on one device. Use as an async context manager.

    Every call has a timeout; every failure becomes a `DeviceError` subclass whose message never
    contains the password. `strict_schema=True` makes any reply that deviates from the ONVIF schema
    a ProtocolError (used to prove the simulator conforms; real cameras need the lenient default).
    """

    def __init__(
        self,
        device_url: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        strict_schema: bool = False,
        known_unsupported: Mapping[tuple[str, str], NotSupported] | None = None,
        policy: AddressPolicy | None = None,
    ) -> None:
        self.xaddrs: dict[str, str] = {"device": device_url}
        # Where the device may send us (see camfleet.onvif.trust); by default only its own host.
        self.policy = policy or AddressPolicy.for_endpoint(device_url)
        # (service, operation) the device said it does not support, learned now or in an earlier pass:
        # answered from here without a request (see `call`).
        self.unsupported: dict[tuple[str, str], NotSupported] = dict(known_unsupported or {})
        self.auth_mode: AuthMode | None = None
        self._username = username
        self._password = password
        self._timeout = timeout
        self._max_reply_bytes = max_reply_bytes
        self._strict_schema = strict_schema
        self._settings = hardened_settings(strict_schema)
        self._clock_offset = dt.timedelta(0)
        self._http: aiohttp.ClientSession | None = None
        self._transports: dict[bool, BoundedTransport] = {}
        self._proxies: dict[tuple[str, AuthMode | None], Any] = {}
        self._retired: list[Any] = []  # proxies replaced during the session (see `close`)

    @property
    def device_url(self) -> str:
        return self.xaddrs["device"]

    @property
    def timeout(self) -> float:
        return self._timeout

    async def __aenter__(self) -> SoapSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._transports.clear()
        # A zeep service proxy and each of its ~60 operation proxies refer to each other: a reference cycle, which
        # only a full garbage collection frees, and the operator freezes the heap every second (event_loop.py). Left
        # to that, a fleet's start kept ~190 such objects per device pass, most of the collectable heap. Emptied
        # here, the proxy, its zeep client, transport and HTTP session go as soon as the session does.
        for proxy in (*self._proxies.values(), *self._retired):
            proxy._operations.clear()
        self._proxies.clear()
        self._retired.clear()

    def _retire_proxies(self, keep: Callable[[tuple[str, AuthMode | None]], bool]) -> None:
        """Stop using the proxies `keep` refuses (built for an old clock or address); emptied at `close`, not now:
        a call may still be on its way through one."""
        self._retired += [proxy for key, proxy in self._proxies.items() if not keep(key)]
        self._proxies = {key: proxy for key, proxy in self._proxies.items() if keep(key)}

    def set_clock_offset(self, offset: dt.timedelta) -> None:
        """Sign WS-UsernameTokens with local time + offset (the device's clock) from now on."""
        self._clock_offset = offset
        self._retire_proxies(lambda key: key[1] is not AuthMode.WS_USERNAME_TOKEN)

    def set_service_addresses(self, xaddrs: Mapping[str, str]) -> None:
        """Use the addresses the device advertised (the device service keeps the configured one).

        Every advertised address must pass the address policy, or none is used: credentials go only to the
        endpoint's host or inside the device networks, whatever the device claims.
        """
        for service, address in sorted(xaddrs.items()):
            refusal = self.policy.refusal(address)
            if refusal is not None:
                raise UntrustedAddress(
                    f"advertised {service} service refused: {refusal}",
                    untrusted=address,
                    address=self.device_url,
                    operation="GetServices",
                )
        self.xaddrs = {**xaddrs, "device": self.device_url}
        self._retire_proxies(lambda key: False)

    async def call(self, service: str, operation: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call an operation with the negotiated auth mode (or none before `authenticate`).

        A UsernameToken rejected after the device's clock jumped (NTP just applied, a reboot reset
        it) is retried once, signed with the re-read clock. An operation the device said it does not
        support raises the same NotSupported again without asking.
        """
        known = self.unsupported.get((service, operation))
        if known is not None:
            raise known
        try:
            return await self._call(service, operation, params, self.auth_mode)
        except NotSupported as exc:
            self.unsupported[(service, operation)] = exc
            raise
        except AuthFailed:
            if self.auth_mode is not AuthMode.WS_USERNAME_TOKEN:
                raise
            previous = self._clock_offset
            if abs((await self.read_clock()).offset - previous) < _CLOCK_JUMP:
                raise
            log.debug("clock of %s jumped; retrying %s with the new offset", self.device_url, operation)
            return await self._call(service, operation, params, self.auth_mode)

    async def read_clock(self) -> ClockReading:
        """Read the device clock without credentials and sign future UsernameTokens with it."""
        sent_at = dt.datetime.now(dt.UTC)
        reply = await self._call("device", "GetSystemDateAndTime", None, None)
        received_at = dt.datetime.now(dt.UTC)
        reading = clock_reading(read_utc_date_time(reply, self.device_url), sent_at, received_at)
        self.set_clock_offset(reading.offset)
        return reading

    async def call_unauthenticated(self, service: str, operation: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._call(service, operation, params, None)

    async def authenticate(
        self,
        order: Sequence[AuthMode] = DEFAULT_AUTH_ORDER,
        probe: tuple[str, str] = ("device", "GetDeviceInformation"),
    ) -> Any:
        """Find the first auth mode in `order` the device accepts; returns the probe's reply.

        Falls through to the next mode only on authentication failures (a digest-only device answers
        a UsernameToken with 401; some devices answer a bare request with a NotAuthorized fault
        instead of a digest challenge). Any other failure is raised at once.
        """
        failures: list[str] = []
        last_fault: str | None = None
        for mode in order:
            try:
                reply = await self._call(probe[0], probe[1], None, mode)
            except AuthFailed as exc:
                failures.append(f"{mode}: {exc.fault_code or exc.message}")
                last_fault = exc.fault_code
                log.debug("auth mode %s rejected by %s (%s)", mode, self.device_url, exc.fault_code)
                continue
            self.auth_mode = mode
            log.debug("auth mode %s accepted by %s", mode, self.device_url)
            return reply
        raise AuthFailed(
            "device rejected the credentials in every authentication mode (" + "; ".join(failures) + ")",
            fault_code=last_fault,
            address=self.device_url,
            operation=probe[1],
        )

    async def _call(self, service: str, operation: str, params: Mapping[str, Any] | None, mode: AuthMode | None) -> Any:
        address = self.xaddrs.get(service, "")
        refusal = self.policy.endpoint_refusal()
        if refusal is not None:
            raise UntrustedAddress(refusal, untrusted=self.device_url, address=self.device_url, operation=operation)
        REQUEST_SENT.set(False)
        try:
            # Outside the timeout: the first use of a WSDL parses it locally, which is not the device's fault.
            proxy = await self._proxy(service, mode)
            async with asyncio.timeout(self._timeout):
                return await getattr(proxy, operation)(**dict(params or {}))
        except DeviceError:
            raise
        except Exception as exc:  # every failure leaves as a typed error, see _translate
            if not REQUEST_SENT.get() and not isinstance(exc, TimeoutError):
                detail = redact(str(exc), (self._password,))[:200]
                raise RequestNotBuilt(
                    f"camfleet could not build the request ({type(exc).__name__}: {detail})",
                    address=address,
                    operation=operation,
                ) from None
            raise self._translate(exc, address, operation) from None

    async def parse_element(self, service: str, type_name: str, element: Any, operation: str) -> Any:
        """Parse a raw reply element as the schema type `type_name` ("{namespace}Name"), as zeep would have."""
        proxy = await self._proxy(service, self.auth_mode)
        client = proxy._client
        try:
            return client.get_type(type_name).parse_xmlelement(element, client.wsdl.types)
        except Exception as exc:  # zeep raises many types for a document it cannot map
            raise ProtocolError(
                f"{operation} reply: unusable {type_name.rsplit('}', 1)[-1]} ({type(exc).__name__})",
                address=self.xaddrs.get(service, ""),
                operation=operation,
            ) from None

    async def _proxy(self, service: str, mode: AuthMode | None) -> Any:
        key = (service, mode)
        proxy = self._proxies.get(key)
        if proxy is not None:
            return proxy
        spec = SERVICES[service]
        if service not in self.xaddrs:
            raise NotSupported(f"device advertises no {service} service", address=self.device_url)
        document = await load_document(service, strict_schema=self._strict_schema)
        wsse = None
        if mode is AuthMode.WS_USERNAME_TOKEN:
            # use_digest=True is essential: the class defaults to PasswordText, which would put the
            # password on the wire in clear.
            wsse = UsernameDigestTokenDtDiff(
                self._username, self._password, dt_diff=self._clock_offset, use_digest=True
            )
        client = ZeepAsyncClient(
            wsdl=document,
            wsse=wsse,
            transport=self._transport(digest=mode is AuthMode.HTTP_DIGEST),
            settings=self._settings,
            plugins=[WsAddressingIfMissingPlugin()],
        )
        proxy = client.create_service(spec.binding, self.xaddrs[service])
        self._proxies[key] = proxy
        return proxy

    def _transport(self, *, digest: bool) -> BoundedTransport:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit_per_host=4, keepalive_timeout=4),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        transport = self._transports.get(digest)
        if transport is None:
            middlewares = (aiohttp.DigestAuthMiddleware(self._username, self._password),) if digest else ()
            transport = BoundedTransport(self._http, max_reply_bytes=self._max_reply_bytes, middlewares=middlewares)
            self._transports[digest] = transport
        return transport

    def _translate(self, exc: Exception, address: str, operation: str) -> DeviceError:
        """Map a library exception to our hierarchy, with a message that cannot carry the password."""
        where = {"address": address, "operation": operation}
        secrets = (self._password,)
        if isinstance(exc, TimeoutError):
            return CallTimeout(f"no reply within {self._timeout:g}s", **where)
        if isinstance(exc, HttpUnauthorized):
            return AuthFailed(str(exc), fault_code="HTTP 401", **where)
        if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
            return Unreachable(f"connection failed: {type(exc).__name__}", **where)
        if isinstance(exc, HttpRedirect):
            return UntrustedAddress(str(exc), untrusted=exc.location, **where)
        if isinstance(exc, HttpStatusError):
            kind = NotSupported if exc.status in NOT_SUPPORTED_HTTP_STATUSES else ProtocolError
            return kind(str(exc), fault_code=f"HTTP {exc.status}", **where)
        if isinstance(exc, ReplyRejected):
            return ProtocolError(str(exc), **where)
        if isinstance(exc, zeep.exceptions.Fault):
            return translate_fault(exc, secrets, where)
        if isinstance(exc, zeep.exceptions.TransportError):
            return ProtocolError(f"HTTP {exc.status_code}", fault_code=f"HTTP {exc.status_code}", **where)
        detail = redact(str(exc), secrets)[:200]
        return ProtocolError(f"unusable reply ({type(exc).__name__}: {detail})", **where)


def translate_fault(fault: zeep.exceptions.Fault, secrets: Sequence[str], where: dict[str, str]) -> DeviceError:
    code = fault_code(fault)
    reason = redact(str(fault.message or ""), secrets)[:200]
    local_names = {part.rsplit(":", 1)[-1] for part in code.split("/")}
    if "NotAuthorized" in local_names or "not authorized" in reason.lower():
        return AuthFailed(f"SOAP fault {code}: {reason}", fault_code=code, **where)
    if any(name.endswith("NotSupported") for name in local_names):
        return NotSupported(f"SOAP fault {code}: {reason}", fault_code=code, **where)
    # No ONVIF subcode at all: vendors that skip ter:ActionNotSupported still say so in the reason.
    if "ter:" not in code and _UNKNOWN_OPERATION.search(reason):
        return NotSupported(f"SOAP fault {code}: {reason}", fault_code=code, **where)
    return ProtocolError(f"SOAP fault {code}: {reason}", fault_code=code, **where)


def read_utc_date_time(reply: Any, address: str = "") -> dt.datetime:
    """The UTCDateTime of a GetSystemDateAndTime reply: Date and Time in any order, in any namespace.

    Values must still be a real date and time: the offset signs every request.
    """
    reader = Reader("GetSystemDateAndTime", address)
    utc = reader.required(reply, "UTCDateTime")
    date = reader.required(utc, "Date")
    time = reader.required(utc, "Time")
    parts = [reader.integer(date, name) for name in ("Year", "Month", "Day")]
    parts += [reader.integer(time, name) for name in ("Hour", "Minute", "Second")]
    return reader.convert("UTCDateTime", lambda: device_utc(*parts))


def fault_code(fault: zeep.exceptions.Fault) -> str:
    """Render a fault's code and subcodes as ONVIF documents them, e.g. `env:Sender/ter:NotAuthorized`."""
    parts = [_prefixed(str(fault.code or ""))] if fault.code else []
    for subcode in getattr(fault, "subcodes", None) or []:
        namespace = getattr(subcode, "namespace", None)
        local = getattr(subcode, "localname", str(subcode))
        if namespace == _ONVIF_ERROR_NAMESPACE:
            parts.append(f"ter:{local}")
        elif namespace in _SOAP_ENV_NAMESPACES:
            parts.append(f"env:{local}")
        else:
            parts.append(local)
    return "/".join(parts) or "unknown"


def _prefixed(code: str) -> str:
    # SOAP 1.2 codes arrive as the raw element text ("env:Sender", "s:Sender", "SOAP-ENV:Client"...).
    local = code.rsplit(":", 1)[-1]
    return f"env:{local}"
