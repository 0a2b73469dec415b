"""The operator's own HTTP endpoint: probes and metrics, served by a real aiohttp server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from camfleet.devcluster.cluster import free_port
from camfleet.observability.http import Health, start_http
from camfleet.observability.metrics import DEVICE_PASS_SECONDS, READY_OBJECTS


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Health]]:
    health = Health()
    port = free_port()
    runner = await start_http(health, "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}", health
    await runner.cleanup()


async def test_readiness_waits_for_the_crds_and_kopf(served: tuple[str, Health]) -> None:
    url, health = served
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/readyz") as answer:
            assert answer.status == 503
        health.crds_ready = health.kopf_started = True
        async with session.get(f"{url}/readyz") as answer:
            assert answer.status == 200


async def test_metrics_can_be_asked_for_one_family(served: tuple[str, Health]) -> None:
    url, _ = served
    DEVICE_PASS_SECONDS.observe(0.25)
    READY_OBJECTS.labels("Camera", "city", "plaza").set(1)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as answer:
            everything = await answer.text()
        async with session.get(f"{url}/metrics", params={"name[]": "camfleet_device_pass_seconds_count"}) as answer:
            one = await answer.text()
    assert 'name="plaza"' in everything
    assert "camfleet_device_pass_seconds_count" in one
    assert 'name="plaza"' not in one
