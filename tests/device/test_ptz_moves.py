"""PTZ moves with the real ONVIF client against the simulator (strict schema): ContinuousMove, RelativeMove, Stop,
GotoPreset, GotoHomePosition arrive and are recorded with the account that sent them; a device without a
translation space says RelativeMove is not supported."""

from __future__ import annotations

import aiohttp
import pytest

from camfleet.onvif import NotSupported, PtzPosition
from camfleet.sim import Camera
from camfleet.sim.state import Quirk
from tests.device.conftest import CAMERA, ClientFactory, connect


async def test_every_move_arrives_with_the_sending_account(
    make_client: ClientFactory, camera: Camera, control: aiohttp.ClientSession
) -> None:
    setup = make_client()
    await connect(setup)
    await setup.set_ptz_home(PtzPosition(0.5, -0.25, 0.0))
    client = make_client()  # a fresh client, as the control service's relay starts: it authenticates by itself
    await client.continuous_move(0.3, -0.1, 0.0, timeout_seconds=2)
    await client.relative_move(0.1, 0.1, 0.2)
    await client.stop_ptz()
    await client.goto_preset("home")
    await client.goto_home()

    async with control.get(f"/control/cameras/{CAMERA}") as answer:
        moves = (await answer.json())["ptz"]["moves"]
    assert [m["operation"] for m in moves] == [
        "ContinuousMove",
        "RelativeMove",
        "Stop",
        "GotoPreset",
        "GotoHomePosition",
    ]
    assert {m["user"] for m in moves} == {camera.username}
    assert moves[0]["velocity"] == [0.3, -0.1, 0.0]
    assert moves[1]["position"] == [0.6, -0.15, 0.2]
    assert moves[3]["position"] == [0.5, -0.25, 0.0]
    assert camera.ptz_position == (0.5, -0.25, 0.0)

    async with control.delete(f"/control/cameras/{CAMERA}/moves") as answer:
        assert (await answer.json())["ptz"]["moves"] == []


async def test_relative_move_where_unsupported_and_an_unknown_preset_are_refused(
    make_client: ClientFactory, camera: Camera
) -> None:
    camera.quirks = frozenset({Quirk.NO_PTZ_RELATIVE})
    client = make_client()
    with pytest.raises(NotSupported):
        await client.relative_move(0.1, 0.0, 0.0)
    with pytest.raises(NotSupported):
        await client.goto_preset("no-such-preset")
    assert camera.moves is None
