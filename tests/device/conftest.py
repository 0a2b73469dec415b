"""Client-versus-simulator fixtures: a real aiohttp server on 127.0.0.1, real sockets, real zeep.

Clients run with `strict_schema=True`, so every simulator reply must match the ONVIF schema element
for element, not just be tolerated by a lenient parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from camfleet.onvif import DeviceInfo, OnvifClient
from camfleet.sim import Camera, Simulator, generated_fleet

CAMERA = "cam-0001"
ClientFactory = Callable[..., OnvifClient]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(generated_fleet(4)) as simulator:
        yield simulator


@pytest.fixture
def camera(sim: Simulator) -> Camera:
    return sim.cameras[CAMERA]


@pytest.fixture
async def make_client(sim: Simulator) -> AsyncIterator[ClientFactory]:
    clients: list[OnvifClient] = []

    def make(camera_id: str = CAMERA, password: str | None = None, **options: Any) -> OnvifClient:
        options.setdefault("timeout", 5.0)
        options.setdefault("strict_schema", True)
        client = OnvifClient(
            sim.device_url(camera_id),
            sim.cameras[camera_id].username,
            sim.cameras[camera_id].password if password is None else password,
            **options,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def connect(client: OnvifClient) -> DeviceInfo:
    """What the reconciler does first: clock (unauthenticated), auth, service discovery."""
    await client.read_clock()
    info = await client.authenticate()
    await client.capabilities()
    return info


@pytest.fixture
async def control(sim: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    """HTTP session on the simulator's control API ("by hand on the device")."""
    async with aiohttp.ClientSession(base_url=sim.base_url) as session:
        yield session
