"""Reading a device: identity, services and stream URIs, over real sockets."""

from __future__ import annotations

from camfleet.onvif import AuthMode
from camfleet.sim import Camera, Quirk, Simulator

from .conftest import CAMERA, ClientFactory, connect


async def test_device_information_and_auth_mode(make_client: ClientFactory) -> None:
    client = make_client()
    info = await connect(client)
    assert info.manufacturer == "camfleet"
    assert info.serial_number == f"SIM-{CAMERA}"
    assert info.firmware_version
    assert client.auth_mode is AuthMode.WS_USERNAME_TOKEN


async def test_service_addresses_come_from_get_services(make_client: ClientFactory, sim: Simulator) -> None:
    client = make_client()
    await connect(client)
    capabilities = await client.capabilities()
    prefix = f"{sim.base_url}/cam/{CAMERA}/onvif/"
    assert capabilities.xaddrs["media2"] == prefix + "media2_service"
    assert capabilities.xaddrs["ptz"] == prefix + "ptz_service"
    assert capabilities.media2_masks
    assert capabilities.ptz_home


async def test_old_firmware_without_get_services_falls_back_to_get_capabilities(
    make_client: ClientFactory, camera: Camera, sim: Simulator
) -> None:
    camera.quirks = frozenset({Quirk.NO_GET_SERVICES})
    client = make_client()
    await connect(client)
    capabilities = await client.capabilities()
    assert capabilities.xaddrs["media"] == f"{sim.base_url}/cam/{CAMERA}/onvif/media_service"
    assert not capabilities.has("media2")


async def test_stream_uris_through_media2(make_client: ClientFactory, sim: Simulator) -> None:
    client = make_client()
    await connect(client)
    streams = await client.stream_uris()
    assert streams.main == sim.rtsp_url(CAMERA, "main")
    assert [s.via for s in streams.streams] == ["media2", "media2"]
    assert [s.profile_name for s in streams.streams] == ["main", "sub"]


async def test_stream_uris_through_media_when_media2_is_missing(
    make_client: ClientFactory, camera: Camera, sim: Simulator
) -> None:
    camera.quirks = frozenset({Quirk.NO_MEDIA2})
    client = make_client()
    await connect(client)
    streams = await client.stream_uris()
    assert streams.main == sim.rtsp_url(CAMERA, "main")
    assert {s.via for s in streams.streams} == {"media"}
