"""A hostile camera tries to send camfleet's credentials to another host; nothing ever reaches it.

The foreign host is a listener on 127.0.0.2 (another loopback address, so "another host" as far as the client's
address policy is concerned) that records every byte it receives. For each trick the simulator plays (service
addresses on the foreign host, an HTTP 307 redirect to it, a stream URI on it) the client refuses with
`UntrustedAddress` naming the address, the device pass reports that reason on the Camera, and the listener
received no request at all: no WS-UsernameToken, no digest answer. With the foreign host inside the operator's
device networks the same addresses are used, which is what the networks are for.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import pytest

from camfleet.cameras.device_pass import Credentials, run_device_pass
from camfleet.cameras.endpoint_policy import parse_networks
from camfleet.cameras.observation import DeviceObservation, FailureKind
from camfleet.cameras.status import UNTRUSTED_ADDRESS, configured_condition
from camfleet.onvif import AddressPolicy, DesiredDeviceSettings, ProtocolError, UntrustedAddress
from camfleet.sim import Camera, Fault, Simulator

from .conftest import ClientFactory, connect

FOREIGN_HOST = "127.0.0.2"


class Listener:
    """A TCP listener on the foreign host that keeps everything it is sent and answers HTTP 500."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        with contextlib.suppress(TimeoutError):
            data = await asyncio.wait_for(reader.read(1 << 16), timeout=2)
        self.received.append(data)
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        writer.close()

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._serve, FOREIGN_HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://{FOREIGN_HOST}:{self.port}"

    def credentials_seen(self, camera: Camera) -> bool:
        everything = b"".join(self.received)
        return any(
            marker in everything
            for marker in (
                b"Authorization",
                b"UsernameToken",
                camera.password.encode(),
                base64.b64encode(f"{camera.username}:{camera.password}".encode()),
            )
        )


@pytest.fixture
async def foreign(camera: Camera) -> AsyncIterator[Listener]:
    async with Listener() as listener:
        camera.foreign_url = listener.url
        camera.foreign_rtsp = f"rtsp://{FOREIGN_HOST}:{listener.port}"
        yield listener


async def test_advertised_service_addresses_on_a_foreign_host_are_refused(
    make_client: ClientFactory, camera: Camera, foreign: Listener
) -> None:
    camera.fault = Fault.FOREIGN_XADDR
    client = make_client()
    with pytest.raises(UntrustedAddress) as raised:
        await connect(client)
    assert raised.value.untrusted.startswith(foreign.url)
    assert foreign.url in str(raised.value)
    with pytest.raises(UntrustedAddress):
        await client.stream_uris()  # still nothing is sent there on a later call
    assert foreign.received == []


async def test_advertised_addresses_inside_the_device_networks_are_used(
    make_client: ClientFactory, camera: Camera, foreign: Listener
) -> None:
    camera.fault = Fault.FOREIGN_XADDR
    policy = AddressPolicy.for_endpoint("http://127.0.0.1/", parse_networks([f"{FOREIGN_HOST}/32"]))
    client = make_client(policy=policy)
    await connect(client)  # accepted: the operator was told the camera network includes that host
    with pytest.raises(ProtocolError):  # the listener is no ONVIF service; that it was asked is the point
        await client.stream_uris()
    assert foreign.received, "an address inside the device networks should have been used"


async def test_an_http_redirect_is_never_followed(
    make_client: ClientFactory, camera: Camera, foreign: Listener
) -> None:
    camera.fault = Fault.REDIRECT
    client = make_client()
    await client.read_clock()  # unauthenticated, not redirected
    with pytest.raises(UntrustedAddress) as raised:
        await client.authenticate()
    assert "redirect" in str(raised.value)
    assert raised.value.untrusted.startswith(foreign.url)
    assert foreign.received == []


async def test_a_stream_uri_on_a_foreign_host_is_refused(
    make_client: ClientFactory, camera: Camera, foreign: Listener
) -> None:
    camera.fault = Fault.FOREIGN_STREAM
    client = make_client()
    await connect(client)
    with pytest.raises(UntrustedAddress) as raised:
        await client.stream_uris()
    assert raised.value.untrusted.startswith(f"rtsp://{FOREIGN_HOST}:{foreign.port}/")
    assert raised.value.operation == "GetStreamUri"


async def _pass(sim: Simulator, camera: Camera, policy: AddressPolicy | None = None) -> DeviceObservation:
    return await run_device_pass(
        sim.device_url(camera.camera_id),
        Credentials(camera.username, camera.password),
        DesiredDeviceSettings(),
        asyncio.Semaphore(1),
        5.0,
        policy=policy,
    )


@pytest.mark.parametrize("fault", [Fault.FOREIGN_XADDR, Fault.REDIRECT, Fault.FOREIGN_STREAM])
async def test_the_camera_reports_untrusted_address_and_no_stream_uri(
    sim: Simulator, camera: Camera, foreign: Listener, fault: Fault
) -> None:
    camera.fault = fault
    observation = await _pass(sim, camera)
    assert observation.failure is not None
    assert observation.failure.kind is FailureKind.UNTRUSTED_ADDRESS
    assert f"{FOREIGN_HOST}:{foreign.port}" in observation.failure.message
    assert observation.streams is None  # no recorder is given a URI from this pass
    if observation.authenticated:
        condition = configured_condition(observation)
        assert (condition.status, condition.reason) == ("False", UNTRUSTED_ADDRESS)
    assert not foreign.credentials_seen(camera)
    assert foreign.received == []


async def test_require_tls_refuses_a_plain_endpoint_before_any_request(sim: Simulator, camera: Camera) -> None:
    sim.stats.reset()
    policy = AddressPolicy.for_endpoint(sim.device_url(camera.camera_id), require_tls=True)
    observation = await _pass(sim, camera, policy)
    assert observation.failure is not None
    assert observation.failure.kind is FailureKind.UNTRUSTED_ADDRESS
    assert "requires TLS" in observation.failure.message
    assert not observation.reached
    assert sim.stats.total_requests == 0  # not even the unauthenticated clock read went out in clear


def test_require_tls_refuses_plain_service_addresses_and_streams() -> None:
    policy = AddressPolicy.for_endpoint("https://10.0.0.7/onvif/device_service", require_tls=True)
    assert policy.endpoint_refusal() is None
    assert policy.refusal("https://10.0.0.7:8443/onvif/media") is None
    assert "requires TLS" in (policy.refusal("http://10.0.0.7/onvif/media") or "")
    assert policy.refusal("rtsps://10.0.0.7:322/main", ("rtsps", "rtsp")) is None
    assert "requires TLS" in (policy.refusal("rtsp://10.0.0.7/main", ("rtsps", "rtsp")) or "")
