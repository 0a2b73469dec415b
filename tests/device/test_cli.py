"""`python -m camfleet.sim` as the demo and other tests start it: a real process, real ports."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from camfleet.onvif import AuthMode, OnvifClient
from camfleet.sim import DEFAULT_SEED, derive_password

READY_TIMEOUT = 30.0


async def start_sim(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "camfleet.sim", "--port", "0", "--no-rtsp", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
        return process, json.loads(line)
    except BaseException:
        process.kill()
        await process.wait()
        raise


@pytest.fixture
async def sim_process() -> AsyncIterator[Any]:
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> dict[str, Any]:
        process, ready = await start_sim(*args)
        started.append(process)
        return ready

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_generated_cameras_answer_with_seeded_passwords(sim_process: Any) -> None:
    ready = await sim_process("--cameras", "3")
    assert ready["cameras"] == 3
    url = f"{ready['url']}/cam/cam-0003/onvif/device_service"
    async with OnvifClient(url, "admin", derive_password(DEFAULT_SEED, "cam-0003")) as client:
        await client.read_clock()
        assert (await client.authenticate()).serial_number == "SIM-cam-0003"
    async with aiohttp.ClientSession() as session, session.get(f"{ready['url']}/control/stats") as response:
        assert (await response.json())["totalRequests"] == 2


async def test_fleet_file_defines_ids_passwords_and_quirks(sim_process: Any, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("cameras:\n  - id: lobby\n    password: hunter2-hunter2\n    quirks: [digest-only]\n")
    ready = await sim_process("--fleet", str(fleet))
    url = f"{ready['url']}/cam/lobby/onvif/device_service"
    async with OnvifClient(url, "admin", "hunter2-hunter2") as client:
        await client.read_clock()
        assert (await client.authenticate()).serial_number == "SIM-lobby"
        assert client.auth_mode is AuthMode.HTTP_DIGEST


async def test_sigterm_stops_the_simulator_cleanly() -> None:
    process, _ = await start_sim("--cameras", "1")
    try:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
