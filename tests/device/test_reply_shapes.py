"""Reply shapes real cameras send (issue 16), reproduced by simulator quirks and personalities.

Every test uses the production parsing path (`strict_schema=False`): these replies deviate from the
schema on purpose, and the point is that camfleet still reads what it can and names what it cannot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from camfleet.cameras.device_pass import Credentials, DeviceMemory, run_device_pass
from camfleet.cameras.observation import FailureKind
from camfleet.onvif import (
    AuthMode,
    DesiredDeviceSettings,
    EncoderSettings,
    Feature,
    NotSupported,
    OnvifClient,
    ProtocolError,
    PtzPosition,
    apply_settings,
)
from camfleet.onvif.errors import RequestNotBuilt, UnexpectedReply
from camfleet.onvif.session import read_utc_date_time
from camfleet.sim import Camera, Fault, Quirk, Simulator
from camfleet.sim.state import PERSONALITIES

from .conftest import ClientFactory, connect

ENCODER = EncoderSettings("H264", 1280, 720, 15, 2048, 30)
DESIRED = DesiredDeviceSettings(ntp_servers=("10.0.0.1",), timezone="CET-1CEST,M3.5.0,M10.5.0/3", encoder=ENCODER)


def lenient(make_client: ClientFactory, **options: Any) -> OnvifClient:
    return make_client(strict_schema=False, **options)


async def device_pass(sim: Simulator, camera: Camera, memory: DeviceMemory | None = None, **desired: Any) -> Any:
    settings = DesiredDeviceSettings(**desired) if desired else DESIRED
    return await run_device_pass(
        sim.device_url(camera.camera_id),
        Credentials(camera.username, camera.password),
        settings,
        asyncio.Semaphore(1),
        5.0,
        memory,
    )


# -- 1. shapes that used to raise AttributeError / KeyError ----------------------------------------------------


async def test_empty_ntp_information_is_not_reported(make_client: ClientFactory, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.NTP_EMPTY})
    client = lenient(make_client)
    await connect(client)
    time, gaps = await client.read_time()
    assert (time.ntp_from_dhcp, time.ntp_servers) == (None, None)
    assert [gap.feature for gap in gaps] == [Feature.NTP]  # not verifiable: a gap, not a Set on every pass
    assert time.timezone == "UTC0"


async def test_encoder_in_another_wrapper_element_is_read_and_set(make_client: ClientFactory, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.ENCODER_WRAPPER})
    client = lenient(make_client)
    await connect(client)
    assert (await client.read_encoder()).width == 1920
    report = await apply_settings(client, DesiredDeviceSettings(encoder=ENCODER))
    assert report.in_sync
    assert report.changed == (Feature.ENCODER,)
    assert (camera.main_encoder.width, camera.main_encoder.gop) == (1280, 30)


async def test_encoder_without_the_optional_rate_control_is_set(make_client: ClientFactory, camera: Camera) -> None:
    """RateControl is optional in the schema; re-sending a configuration without it used to raise AttributeError."""
    camera.quirks = frozenset({Quirk.ENCODER_NO_RATE_CONTROL})
    client = lenient(make_client)
    await connect(client)
    before = await client.read_encoder()
    assert (before.fps, before.bitrate_kbps) == (0, 0)  # not reported
    await client.set_encoder(ENCODER)
    assert (camera.main_encoder.fps, camera.main_encoder.bitrate_kbps, camera.main_encoder.width) == (15, 2048, 1280)


async def test_encoder_without_rate_control_completes_a_pass(sim: Simulator, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.ENCODER_NO_RATE_CONTROL})
    observation = await device_pass(sim, camera)
    assert observation.failure is None, observation.failure
    assert observation.report is not None
    assert Feature.ENCODER in observation.report.changed


async def test_a_value_zeep_cannot_convert_is_a_protocol_error_naming_the_element(
    sim: Simulator, camera: Camera, caplog: pytest.LogCaptureFixture
) -> None:
    camera.quirks = frozenset({Quirk.ENCODER_GARBLED})  # <tt:Width>1920px</tt:Width>
    memory = DeviceMemory()
    with caplog.at_level("WARNING", logger="camfleet.cameras.device_pass"):
        first = await device_pass(sim, camera, memory)
        second = await device_pass(sim, camera, memory)
    for observation in (first, second):
        assert observation.failure is not None
        assert observation.failure.kind is FailureKind.PROTOCOL
        assert observation.failure.fault_code is None
        assert observation.failure.operation == "GetVideoEncoderConfiguration"
        assert "Width is missing or not a number" in observation.failure.message
        assert observation.authenticated
        assert observation.device is not None
    warnings = [r for r in caplog.records if r.name == "camfleet.cameras.device_pass" and "cannot use" in r.message]
    assert len(warnings) == 1  # once per transition, not on every retry
    camera.quirks = frozenset()
    assert (await device_pass(sim, camera, memory)).failure is None


# -- 3. "not supported" said in every way seen in the field ---------------------------------------------------

UNSUPPORTED_STYLES = [
    (frozenset(), "env:Receiver/ter:ActionNotSupported"),
    (frozenset({Quirk.UNSUPPORTED_SUBCODE}), "env:Sender/ter:NotSupported"),
    (frozenset({Quirk.UNSUPPORTED_PLAIN_FAULT}), "env:Receiver"),
    (frozenset({Quirk.UNSUPPORTED_HTTP_400}), "HTTP 400"),
    (frozenset({Quirk.UNSUPPORTED_HTTP_405}), "HTTP 405"),
    (frozenset({Quirk.UNSUPPORTED_HTTP_501}), "HTTP 501"),
]


@pytest.mark.parametrize(("style", "fault_code"), UNSUPPORTED_STYLES)
async def test_unsupported_ntp_is_a_capability_gap_in_every_style(
    make_client: ClientFactory, camera: Camera, style: frozenset[Quirk], fault_code: str
) -> None:
    camera.quirks = style | {Quirk.NO_NTP}
    client = lenient(make_client)
    await connect(client)
    time, gaps = await client.read_time()
    assert time.ntp_servers is None
    assert [(gap.feature, gap.fault_code) for gap in gaps] == [(Feature.NTP, fault_code)]


async def test_a_plain_fault_about_something_else_is_not_a_gap(make_client: ClientFactory, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.UNSUPPORTED_PLAIN_FAULT})
    client = lenient(make_client)
    await connect(client)
    with pytest.raises(ProtocolError) as raised:  # ter:InvalidArgVal: a real error, not a missing feature
        await client._session.call("media", "GetVideoEncoderConfiguration", {"ConfigurationToken": "nope"})
    assert not isinstance(raised.value, NotSupported)


async def test_missing_service_is_not_supported(make_client: ClientFactory, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.NO_PTZ})
    client = lenient(make_client)
    await connect(client)
    report = await apply_settings(client, DesiredDeviceSettings(ptz_home=PtzPosition(0.1, 0.1, 0.0)))
    assert [gap.feature for gap in report.gaps] == [Feature.PTZ_HOME]


async def test_unsupported_operation_is_asked_once_then_remembered(sim: Simulator, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.NO_NTP, Quirk.UNSUPPORTED_HTTP_501})
    memory = DeviceMemory()
    first = await device_pass(sim, camera, memory)
    assert first.failure is None
    assert [gap.feature for gap in first.report.gaps] == [Feature.NTP]
    sim.stats.reset()
    requests_before = sim.stats.total_requests
    second = await device_pass(sim, camera, memory)
    assert second.report.gaps == first.report.gaps  # still reported ...
    assert memory.known_unsupported(sim.device_url(camera.camera_id))  # ... from memory
    third_memory_free = await device_pass(sim, camera)  # without memory the device is asked again
    assert third_memory_free.report.gaps == first.report.gaps
    assert sim.stats.total_requests > requests_before


async def test_unsupported_operations_are_probed_again_after_a_firmware_change_or_the_interval(
    sim: Simulator, camera: Camera
) -> None:
    now = [0.0]
    memory = DeviceMemory(reprobe_seconds=100, clock=lambda: now[0])
    endpoint = sim.device_url(camera.camera_id)
    camera.quirks = frozenset({Quirk.NO_NTP})
    await device_pass(sim, camera, memory)
    assert ("device", "GetNTP") in memory.known_unsupported(endpoint)
    assert memory.firmware_changed(endpoint, "2.0")
    now[0] = 101
    assert memory.known_unsupported(endpoint) == {}
    camera.quirks = frozenset()
    observation = await device_pass(sim, camera, memory)
    assert observation.report.gaps == ()


# -- 4. tolerant dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quirks",
    [{Quirk.DATE_BEFORE_TIME}, {Quirk.DATE_TDS_NAMESPACE}, {Quirk.DATE_BEFORE_TIME, Quirk.DATE_TDS_NAMESPACE}],
    ids=["date-first", "tds-namespace", "both"],
)
async def test_date_and_time_in_any_order_and_namespace(
    make_client: ClientFactory, camera: Camera, quirks: set[Quirk]
) -> None:
    camera.quirks = frozenset(quirks)
    camera.skew_seconds = 600
    reading = await lenient(make_client).read_clock()
    assert 598 <= reading.offset.total_seconds() <= 602


async def test_local_time_reported_as_utc_is_measured_as_drift_and_still_signs_in(
    make_client: ClientFactory, camera: Camera
) -> None:
    camera.quirks = frozenset({Quirk.LOCAL_TIME_AS_UTC})
    camera.timezone = "CET-1"
    client = lenient(make_client, auth_order=[AuthMode.WS_USERNAME_TOKEN])
    reading = await client.read_clock()
    assert abs(reading.offset - dt.timedelta(hours=1)) < dt.timedelta(seconds=3)
    assert (await client.authenticate()).serial_number  # signed with the camera's idea of UTC


async def test_impossible_date_is_still_refused(make_client: ClientFactory, camera: Camera) -> None:
    camera.skew_seconds = 0
    client = lenient(make_client)
    reply = {"UTCDateTime": {"Date": {"Year": 2026, "Month": 13, "Day": 1}, "Time": {"Hour": 1, "Minute": 0}}}
    with pytest.raises(UnexpectedReply) as raised:
        read_utc_date_time(_Obj(reply))
    assert raised.value.element == "Second"
    assert raised.value.operation == "GetSystemDateAndTime"
    await client.close()


class _Obj:
    """A stand-in for a zeep object built from nested dicts."""

    def __init__(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name, _Obj(value) if isinstance(value, dict) else value)


# -- 5. honest reasons --------------------------------------------------------------------------------------


async def test_a_request_we_cannot_build_is_ours(make_client: ClientFactory, camera: Camera) -> None:
    client = lenient(make_client)
    await connect(client)
    with pytest.raises(RequestNotBuilt):
        await client._session.call("device", "SetNTP", {"NoSuchElement": True})


async def test_fault_late_in_a_pass_keeps_clock_auth_mode_and_device(
    sim: Simulator, camera: Camera, monkeypatch: pytest.MonkeyPatch
) -> None:
    camera.quirks = frozenset({Quirk.DIGEST_ONLY})

    async def faulting_media(self: OnvifClient) -> Any:
        raise ProtocolError("SOAP fault env:Receiver: busy", fault_code="env:Receiver", operation="GetProfiles")

    monkeypatch.setattr(OnvifClient, "stream_uris", faulting_media)
    observation = await device_pass(sim, camera)
    assert observation.failure is not None
    assert observation.failure.kind is FailureKind.PROTOCOL
    assert observation.clock is not None
    assert observation.auth_mode == "HTTPDigest"
    assert observation.device is not None


async def test_unexpected_exception_in_a_pass_is_an_internal_failure(
    sim: Simulator, camera: Camera, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: OnvifClient) -> Any:
        raise KeyError("Encoding")

    monkeypatch.setattr(OnvifClient, "stream_uris", broken)
    observation = await device_pass(sim, camera)
    assert observation.failure is not None
    assert observation.failure.kind is FailureKind.INTERNAL
    assert "KeyError" in observation.failure.message
    assert camera.password not in observation.failure.message
    assert observation.report is not None  # what the pass did before is kept


async def test_garbage_on_http_200_is_a_protocol_error(sim: Simulator, camera: Camera) -> None:
    camera.fault = Fault.MALFORMED
    observation = await device_pass(sim, camera)
    assert observation.failure is not None
    assert observation.failure.kind is FailureKind.PROTOCOL


# -- 6. personalities -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
async def test_every_personality_completes_a_pass_with_its_gaps(sim: Simulator, camera: Camera, name: str) -> None:
    camera.quirks = PERSONALITIES[name]
    camera.timezone = "CET-1"
    memory = DeviceMemory()
    desired = {"ntp_servers": ("10.0.0.1",), "timezone": "CET-1", "encoder": ENCODER}
    first = await device_pass(sim, camera, memory, **desired)
    assert first.failure is None, first.failure
    assert first.streams is not None
    assert first.streams.main
    second = await device_pass(sim, camera, memory, **desired)
    assert second.failure is None
    gaps = {gap.feature for gap in second.report.gaps}
    if Quirk.NO_NTP in camera.quirks:
        assert Feature.NTP in gaps
    if Quirk.IGNORES_SET in camera.quirks:
        assert not second.report.in_sync
    else:
        assert second.report.in_sync
