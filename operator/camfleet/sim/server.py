"""The simulator's HTTP server: many cameras on one aiohttp server, addressed by path.

    POST /cam/{id}/onvif/device_service | media_service | media2_service | ptz_service | imaging_service

Authentication follows real devices: GetSystemDateAndTime is open; everything else needs a valid HTTP
digest or WS-UsernameToken (checked against the camera's own, possibly skewed, clock). A request
without usable credentials gets a 401 digest challenge, or a SOAP NotAuthorized fault from cameras
with the `fault-not-digest` quirk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from enum import Enum
from types import TracebackType

from aiohttp import web

from camfleet.sim import hostile, ops_device, ops_media, ops_media2, ops_ptz
from camfleet.sim.auth import DigestAuthority, check_username_token
from camfleet.sim.control import ControlApi
from camfleet.sim.ops_device import Context, Handler
from camfleet.sim.soap import CONTENT_TYPE, NS, SoapFault, SoapRequest, action_not_supported, envelope, not_authorized
from camfleet.sim.soap import parse_request as parse_soap_request
from camfleet.sim.state import Camera, Fault, Quirk, Stats

log = logging.getLogger(__name__)

SERVICE_PATHS = {
    "device_service": NS["tds"],
    "media_service": NS["trt"],
    "media2_service": NS["tr2"],
    "ptz_service": NS["tptz"],
    "imaging_service": NS["timg"],
}
OPERATIONS: dict[str, dict[str, Handler]] = {
    NS["tds"]: ops_device.OPERATIONS,
    NS["trt"]: ops_media.OPERATIONS,
    NS["tr2"]: ops_media2.OPERATIONS,
    NS["tptz"]: ops_ptz.PTZ_OPERATIONS,
    NS["timg"]: ops_ptz.IMAGING_OPERATIONS,
}
# ONVIF's PRE_AUTH class holds more operations, but many cameras only leave this one open, and it is
# the one a client needs before it can sign anything.
UNAUTHENTICATED_OPERATIONS = {(NS["tds"], "GetSystemDateAndTime")}
WSSE_CLOCK_TOLERANCE = dt.timedelta(seconds=30)
MAX_REQUEST_BYTES = 256 * 1024
# A test hook: (operation, reply envelope) -> (HTTP status, content type, body) to send instead, or None.
ReplyMutator = Callable[[str, str], "tuple[int, str, bytes] | None"]


class _AuthOutcome(Enum):
    OK = "ok"
    CHALLENGE = "challenge"
    FAULT = "fault"


class Simulator:
    """Serves `cameras` until stopped. Use `async with Simulator(...) as sim:` in tests."""

    def __init__(
        self,
        cameras: dict[str, Camera],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rtsp_host: str = "127.0.0.1",
        rtsp_port: int = 8554,
    ) -> None:
        self.cameras = cameras
        self.stats = Stats()
        self.host = host
        self.port = port
        self.rtsp_host = rtsp_host
        self.rtsp_port = rtsp_port
        self._digest = DigestAuthority()
        self._runner: web.AppRunner | None = None
        # Set by property tests to mutate valid replies (see tests/device/test_reply_mutations.py).
        self.reply_mutator: ReplyMutator | None = None
        self.app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        self.app.router.add_post("/cam/{camera_id}/onvif/{service}", self._handle_soap)
        ControlApi(cameras, self.stats, self.device_url).register(self.app)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def device_url(self, camera_id: str) -> str:
        return f"{self.base_url}/cam/{camera_id}/onvif/device_service"

    def rtsp_url(self, camera_id: str, profile: str = "main") -> str:
        return f"rtsp://{self.rtsp_host}:{self.rtsp_port}/cam/{camera_id}/{profile}"

    async def start(self) -> None:
        # No access log: at 10,000 cameras it would cost more than the SOAP work.
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _handle_soap(self, request: web.Request) -> web.StreamResponse:
        camera = self.cameras.get(request.match_info["camera_id"])
        namespace = SERVICE_PATHS.get(request.match_info["service"])
        if camera is None or namespace is None or not _serves(camera, namespace):
            raise web.HTTPNotFound()
        self.stats.enter()
        try:
            return await self._answer(request, camera, namespace)
        finally:
            self.stats.leave()

    async def _answer(self, request: web.Request, camera: Camera, namespace: str) -> web.StreamResponse:
        data = await request.read()
        injected = await self._injected_fault(request, camera)
        if injected is not None:
            return injected
        try:
            soap = parse_soap_request(data)
            camera.count_request(soap.operation)
            handler = OPERATIONS[namespace].get(soap.operation) if soap.namespace == namespace else None
            if handler is None:
                raise action_not_supported(soap.operation)
            if (namespace, soap.operation) not in UNAUTHENTICATED_OPERATIONS:
                if camera.fault is Fault.REDIRECT:
                    return hostile.redirect(camera.foreign_url, request.path)
                outcome = self._authenticate(request, camera, soap)
                if outcome is _AuthOutcome.CHALLENGE:
                    return web.Response(
                        status=401,
                        headers={"WWW-Authenticate": self._digest.challenge()},
                        text="401 Unauthorized",
                    )
                if outcome is _AuthOutcome.FAULT:
                    raise not_authorized()
            context = self._context(request, camera)
            reply = envelope(handler(context, soap.body))
            mutated = self.reply_mutator(soap.operation, reply) if self.reply_mutator is not None else None
            if mutated is not None:
                status, content_type, body = mutated
                return web.Response(status=status, body=body, headers={"Content-Type": content_type})
            return _soap_response(200, reply)
        except SoapFault as fault:
            if fault.unsupported is not None:
                return _unsupported(camera, fault)
            return _soap_response(fault.http_status, fault.to_xml())

    def _context(self, request: web.Request, camera: Camera) -> Context:
        """Where this camera says its services and streams are (elsewhere, when hostile)."""
        service_host = f"http://{request.host}"
        if camera.fault is Fault.FOREIGN_XADDR:
            service_host = camera.foreign_url.rstrip("/")
        rtsp_host = f"rtsp://{self.rtsp_host}:{self.rtsp_port}"
        if camera.fault is Fault.FOREIGN_STREAM:
            rtsp_host = camera.foreign_rtsp.rstrip("/")
        return Context(
            camera,
            service_base=f"{service_host}/cam/{camera.camera_id}/onvif",
            rtsp_base=f"{rtsp_host}/cam/{camera.camera_id}",
        )

    def _authenticate(self, request: web.Request, camera: Camera, soap: SoapRequest) -> _AuthOutcome:
        authorization = request.headers.get("Authorization", "")
        digest_capable = not camera.has(Quirk.FAULT_NOT_DIGEST)
        if authorization.lower().startswith("digest ") and digest_capable:
            problem = self._digest.verify(
                authorization, request.method, request.raw_path, camera.username, camera.password
            )
            if problem is None:
                return _AuthOutcome.OK
            self.stats.auth_failures += 1
            log.debug("camera %s: digest rejected (%s)", camera.camera_id, problem)
            return _AuthOutcome.CHALLENGE
        if soap.token is not None and not camera.has(Quirk.DIGEST_ONLY):
            problem = check_username_token(
                soap.token, camera.username, camera.password, camera.reported_utc(), WSSE_CLOCK_TOLERANCE
            )
            if problem is None:
                return _AuthOutcome.OK
            self.stats.auth_failures += 1
            log.debug("camera %s: UsernameToken rejected (%s)", camera.camera_id, problem)
            return _AuthOutcome.FAULT
        return _AuthOutcome.CHALLENGE if digest_capable else _AuthOutcome.FAULT

    async def _injected_fault(self, request: web.Request, camera: Camera) -> web.StreamResponse | None:
        fault = camera.fault
        if fault in (Fault.NONE, Fault.FOREIGN_XADDR, Fault.REDIRECT, Fault.FOREIGN_STREAM):
            return None  # none or shaped into the reply itself (see _answer and _context)
        if fault is Fault.UNREACHABLE:
            # One server serves every camera, so "unreachable" is a connection dropped without a reply.
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if fault is Fault.SLOW:
            await asyncio.sleep(camera.slow_seconds)
            return None
        if fault is Fault.HTTP_500:
            return web.Response(status=500, text=hostile.HTTP_500_PAGE, content_type="text/html")
        if fault is Fault.MALFORMED:
            return _soap_response(200, hostile.malformed_reply())
        if fault is Fault.XXE:
            return _soap_response(200, hostile.xxe_reply())
        if fault is Fault.ENTITY_BOMB:
            return _soap_response(200, hostile.entity_bomb_reply())
        # Oversized: streamed without Content-Length, so only a reader that counts can stop it.
        response = web.StreamResponse(status=200, headers={"Content-Type": CONTENT_TYPE})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for chunk in hostile.oversized_chunks():
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up once it had enough, as it should
        return response


def _serves(camera: Camera, namespace: str) -> bool:
    if namespace == NS["tr2"]:
        return not camera.has(Quirk.NO_MEDIA2)
    if namespace == NS["tptz"]:
        return not camera.has(Quirk.NO_PTZ)
    return True


_UNSUPPORTED_HTTP = {
    Quirk.UNSUPPORTED_HTTP_400: 400,
    Quirk.UNSUPPORTED_HTTP_405: 405,
    Quirk.UNSUPPORTED_HTTP_501: 501,
}


def _unsupported(camera: Camera, fault: SoapFault) -> web.Response:
    """ "Not supported" as this camera says it: the standard fault, or one of the variants seen in the field."""
    for quirk, status in _UNSUPPORTED_HTTP.items():
        if camera.has(quirk):
            return web.Response(status=status, text=f"{status} {fault.unsupported}: not implemented\n")
    if camera.has(Quirk.UNSUPPORTED_PLAIN_FAULT):
        fault = SoapFault("Receiver", (), f"Unknown operation {fault.unsupported}")
    elif camera.has(Quirk.UNSUPPORTED_SUBCODE):
        fault = SoapFault("Sender", ("ter:NotSupported",), f"{fault.unsupported}: optional action not implemented")
    return _soap_response(fault.http_status, fault.to_xml())


def _soap_response(status: int, body: str) -> web.Response:
    return web.Response(status=status, body=body.encode(), headers={"Content-Type": CONTENT_TYPE})
