"""Broken and hostile devices: typed errors, within the timeout, with nothing expanded."""

from __future__ import annotations

import socket
import time

import pytest

from camfleet.onvif import CallTimeout, DeviceError, OnvifClient, ProtocolError, Unreachable
from camfleet.sim import Camera, Fault, Simulator

from .conftest import ClientFactory, connect

TIMEOUT = 1.0
MARGIN = 2.0


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.UNREACHABLE, Unreachable),
        (Fault.SLOW, CallTimeout),
        (Fault.HTTP_500, ProtocolError),
        (Fault.MALFORMED, ProtocolError),
        (Fault.OVERSIZED, ProtocolError),
    ],
)
async def test_fault_gives_a_typed_error_within_the_timeout(
    make_client: ClientFactory, camera: Camera, fault: Fault, error: type[DeviceError]
) -> None:
    camera.fault = fault
    camera.slow_seconds = 30
    client = make_client(timeout=TIMEOUT, strict_schema=False)  # the production parsing path
    started = time.monotonic()
    with pytest.raises(error) as raised:
        await client.read_clock()
    assert time.monotonic() - started < TIMEOUT + MARGIN
    assert raised.value.operation == "GetSystemDateAndTime"


async def test_http_500_carries_the_status_as_fault_code(make_client: ClientFactory, camera: Camera) -> None:
    camera.fault = Fault.HTTP_500
    with pytest.raises(ProtocolError) as raised:
        await make_client().read_clock()
    assert raised.value.fault_code == "HTTP 500"


@pytest.mark.parametrize("fault", [Fault.XXE, Fault.ENTITY_BOMB])
async def test_entity_tricks_are_refused_unexpanded(make_client: ClientFactory, camera: Camera, fault: Fault) -> None:
    client = make_client(strict_schema=False)
    await connect(client)
    camera.fault = fault
    with pytest.raises(ProtocolError, match="document type declaration") as raised:
        await client.device_info()
    assert "lol" not in str(raised.value)


async def test_a_failing_camera_does_not_disturb_its_neighbours(
    make_client: ClientFactory, sim: Simulator, camera: Camera
) -> None:
    camera.fault = Fault.UNREACHABLE
    with pytest.raises(Unreachable):
        await make_client().read_clock()
    assert (await connect(make_client("cam-0002"))).serial_number == "SIM-cam-0002"


async def test_camera_recovers_when_the_fault_is_cleared(make_client: ClientFactory, camera: Camera) -> None:
    camera.fault = Fault.UNREACHABLE
    with pytest.raises(Unreachable):
        await make_client().read_clock()
    camera.fault = Fault.NONE
    assert (await connect(make_client())).serial_number


async def test_refused_connection_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    async with OnvifClient(f"http://127.0.0.1:{port}/onvif/device_service", "admin", "x", timeout=TIMEOUT) as client:
        with pytest.raises(Unreachable, match="ClientConnectorError"):
            await client.read_clock()
