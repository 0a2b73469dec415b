"""The control API: acting on a device by hand, as tests and the demo do."""

from __future__ import annotations

import aiohttp
import pytest

from camfleet.onvif import AuthFailed
from camfleet.sim import Camera

from .conftest import CAMERA, ClientFactory, connect


async def test_camera_state_shows_settings_and_never_the_password(
    control: aiohttp.ClientSession, camera: Camera
) -> None:
    async with control.get(f"/control/cameras/{CAMERA}") as response:
        state = await response.json()
        raw = await response.text()
    assert state["id"] == CAMERA
    assert state["encoders"][0]["width"] == 1920
    assert state["history"] == []
    assert camera.password not in raw


async def test_password_rotated_on_the_device_locks_out_the_old_one(
    control: aiohttp.ClientSession, make_client: ClientFactory, camera: Camera
) -> None:
    old = camera.password
    async with control.patch(f"/control/cameras/{CAMERA}", json={"password": "rotated-Secret-2"}) as response:
        assert response.status == 200
    locked_out = make_client(password=old)
    await locked_out.read_clock()
    with pytest.raises(AuthFailed):
        await locked_out.authenticate()
    assert (await connect(make_client(password="rotated-Secret-2"))).serial_number


@pytest.mark.parametrize(
    "patch", [{"fault": "exploded"}, {"quirks": ["teleports"]}, {"colour": "red"}, {"skewSeconds": "soon"}]
)
async def test_bad_patches_are_rejected(control: aiohttp.ClientSession, patch: dict[str, object]) -> None:
    async with control.patch(f"/control/cameras/{CAMERA}", json=patch) as response:
        assert response.status == 400


async def test_unknown_camera_is_404(control: aiohttp.ClientSession) -> None:
    async with control.get("/control/cameras/nope") as response:
        assert response.status == 404
