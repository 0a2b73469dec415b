"""Making the device match: Set, read back, and notice when the device did not really change."""

from __future__ import annotations

import aiohttp

from camfleet.onvif import (
    DesiredDeviceSettings,
    EncoderSettings,
    Feature,
    PrivacyMask,
    PtzPosition,
    apply_settings,
)
from camfleet.sim import Camera, Quirk

from .conftest import CAMERA, ClientFactory, connect

ENCODER = EncoderSettings("H264", 1280, 720, 15, 2048, 30)
MASK = PrivacyMask(((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5)))
NTP = ("pool.ntp.org", "10.0.0.1")
TZ = "CET-1CEST,M3.5.0,M10.5.0/3"


async def test_encoder_change_is_applied_persistently_and_read_back(make_client: ClientFactory, camera: Camera) -> None:
    client = make_client()
    await connect(client)
    report = await apply_settings(client, DesiredDeviceSettings(encoder=ENCODER))
    assert report.changed == (Feature.ENCODER,)
    assert report.in_sync
    assert report.observed.encoder == ENCODER
    main = camera.main_encoder
    assert (main.width, main.height, main.fps, main.bitrate_kbps, main.gop) == (1280, 720, 15, 2048, 30)
    assert camera.history is not None
    assert camera.history[-1]["operation"] == "SetVideoEncoderConfiguration"
    assert camera.history[-1]["forcePersistence"] is True


async def test_second_pass_on_a_matching_device_sends_no_set(make_client: ClientFactory, camera: Camera) -> None:
    client = make_client()
    await connect(client)
    desired = DesiredDeviceSettings(ntp_servers=NTP, timezone=TZ, encoder=ENCODER, privacy_masks=(MASK,))
    await apply_settings(client, desired)
    sets_after_first_pass = len(camera.history or ())
    report = await apply_settings(client, desired)
    assert report.changed == ()
    assert report.in_sync
    assert len(camera.history or ()) == sets_after_first_pass


async def test_device_that_ignores_sets_is_reported_not_applied(make_client: ClientFactory, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.IGNORES_SET})
    client = make_client()
    await connect(client)
    report = await apply_settings(client, DesiredDeviceSettings(encoder=ENCODER))
    assert report.changed == (Feature.ENCODER,)  # the device said yes ...
    assert not report.in_sync  # ... and changed nothing
    assert {d.field for d in report.not_applied} >= {"width", "height", "fps"}
    assert camera.main_encoder.width == 1920


async def test_change_made_by_hand_on_the_device_is_put_back(
    make_client: ClientFactory, camera: Camera, control: aiohttp.ClientSession
) -> None:
    client = make_client()
    await connect(client)
    desired = DesiredDeviceSettings(encoder=ENCODER)
    await apply_settings(client, desired)
    response = await control.patch(f"/control/cameras/{CAMERA}", json={"encoder": {"width": 640, "height": 360}})
    assert response.status == 200
    report = await apply_settings(client, desired)
    assert report.changed == (Feature.ENCODER,)
    assert report.in_sync
    assert (camera.main_encoder.width, camera.main_encoder.height) == (1280, 720)


async def test_ntp_and_timezone_are_applied_and_sync_the_clock(make_client: ClientFactory, camera: Camera) -> None:
    camera.skew_seconds = 3600
    client = make_client()
    assert (await client.read_clock()).drift_seconds > 3500
    await client.authenticate()
    report = await apply_settings(client, DesiredDeviceSettings(ntp_servers=NTP, timezone=TZ))
    assert report.in_sync
    assert report.observed.time is not None
    assert report.observed.time.ntp_servers == NTP
    assert report.observed.time.time_source == "NTP"
    assert camera.timezone == TZ
    assert (await client.read_clock()).drift_seconds < 2


async def test_camera_without_ntp_reports_a_gap_and_applies_the_rest(
    make_client: ClientFactory, camera: Camera
) -> None:
    camera.quirks = frozenset({Quirk.NO_NTP})
    client = make_client()
    await connect(client)
    report = await apply_settings(client, DesiredDeviceSettings(ntp_servers=NTP, timezone=TZ, encoder=ENCODER))
    assert [(gap.feature, gap.fault_code) for gap in report.gaps] == [
        (Feature.NTP, "env:Receiver/ter:ActionNotSupported")
    ]
    assert report.in_sync
    assert set(report.changed) == {Feature.TIMEZONE, Feature.ENCODER}
    assert camera.timezone == TZ


async def test_encoder_the_device_cannot_do_is_a_gap_and_no_set_is_sent(
    make_client: ClientFactory, camera: Camera
) -> None:
    client = make_client()
    await connect(client)
    report = await apply_settings(
        client, DesiredDeviceSettings(encoder=EncoderSettings("H264", 3840, 2160, 25, 8000, 50))
    )
    assert [gap.feature for gap in report.gaps] == [Feature.ENCODER]
    assert "3840x2160" in report.gaps[0].reason
    assert report.changed == ()
    assert camera.history is None


async def test_privacy_masks_are_set_through_media2(make_client: ClientFactory, camera: Camera) -> None:
    client = make_client()
    await connect(client)
    second = PrivacyMask(((0.1, 0.1), (0.3, 0.1), (0.3, 0.3), (0.1, 0.3)))
    report = await apply_settings(client, DesiredDeviceSettings(privacy_masks=(MASK, second)))
    assert report.in_sync
    assert report.changed == (Feature.PRIVACY_MASKS,)
    assert sorted(m.points for m in camera.masks) == sorted([MASK.polygon, second.polygon])
    report = await apply_settings(client, DesiredDeviceSettings(privacy_masks=()))
    assert report.in_sync
    assert camera.masks == []


async def test_masks_on_a_camera_without_media2_masks_are_left_to_the_transcoder(
    make_client: ClientFactory, camera: Camera
) -> None:
    camera.quirks = frozenset({Quirk.NO_MEDIA2_MASKS})
    client = make_client()
    await connect(client)
    report = await apply_settings(client, DesiredDeviceSettings(privacy_masks=(MASK,)))
    assert [gap.feature for gap in report.gaps] == [Feature.PRIVACY_MASKS]
    assert "handled by transcoder" in report.gaps[0].reason
    assert report.in_sync


async def test_ptz_home_is_stored_as_preset_and_home_position(make_client: ClientFactory, camera: Camera) -> None:
    client = make_client()
    await connect(client)
    report = await apply_settings(client, DesiredDeviceSettings(ptz_home=PtzPosition(0.25, -0.1, 0.5)))
    assert report.in_sync
    assert report.observed.ptz_home == PtzPosition(0.25, -0.1, 0.5)
    assert camera.ptz_home == (0.25, -0.1, 0.5)


async def test_ptz_home_on_a_fixed_camera_is_a_gap(make_client: ClientFactory, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.NO_PTZ})
    client = make_client()
    await connect(client)
    report = await apply_settings(client, DesiredDeviceSettings(ptz_home=PtzPosition(0, 0, 0)))
    assert [gap.feature for gap in report.gaps] == [Feature.PTZ_HOME]
    assert report.changed == ()
