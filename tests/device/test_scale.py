"""Many cameras on one simulator, and the concurrency it measures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from camfleet.onvif import OnvifClient
from camfleet.sim import Fault, Simulator, generated_fleet

CAMERAS = 200
CLIENT_LIMIT = 50


@pytest.fixture
async def big_sim() -> AsyncIterator[Simulator]:
    cameras = generated_fleet(CAMERAS)
    for camera in cameras.values():
        # A short delay keeps requests in flight long enough to overlap.
        camera.fault, camera.slow_seconds = Fault.SLOW, 0.2
    async with Simulator(cameras) as simulator:
        yield simulator


async def test_200_cameras_answer_concurrently_and_peak_concurrency_is_measured(big_sim: Simulator) -> None:
    limit = asyncio.Semaphore(CLIENT_LIMIT)

    async def identify(camera_id: str) -> str:
        camera = big_sim.cameras[camera_id]
        async with limit, OnvifClient(big_sim.device_url(camera_id), camera.username, camera.password) as client:
            await client.read_clock()
            return (await client.authenticate()).serial_number

    serials = await asyncio.gather(*(identify(camera_id) for camera_id in big_sim.cameras))
    assert sorted(serials) == sorted(f"SIM-{camera_id}" for camera_id in big_sim.cameras)

    async with aiohttp.ClientSession() as session, session.get(f"{big_sim.base_url}/control/stats") as response:
        stats = await response.json()
    assert stats["cameras"] == CAMERAS
    assert stats["totalRequests"] == 2 * CAMERAS  # clock + one authenticated call each, no retries
    assert 2 <= stats["peakInflight"] <= CLIENT_LIMIT
    assert stats["inflight"] == 0
