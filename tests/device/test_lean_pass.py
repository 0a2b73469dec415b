"""Lean re-verification against the simulator: few calls when healthy, a full pass whenever something is off.

The full pass is the real ONVIF client (onvif-zeep-async/zeep); the lean pass its fixed envelopes. Calls are
counted at the simulated device (`Camera.requests`, every SOAP request it received, challenged ones included).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from camfleet.cameras.device_pass import Credentials, DeviceMemory, run_device_pass, run_lean_pass
from camfleet.cameras.observation import DeviceObservation
from camfleet.onvif import AuthMode, DesiredDeviceSettings, EncoderSettings, Feature, PrivacyMask, PtzPosition
from camfleet.onvif.models import LeanPlan
from camfleet.sim import Camera, Quirk, Simulator
from camfleet.sim.state import PERSONALITIES, Fault

from .conftest import CAMERA

ENCODER = EncoderSettings("H264", 1280, 720, 15, 2048, 30)
DESIRED = DesiredDeviceSettings(ntp_servers=("10.0.0.1",), timezone="CET-1CEST,M3.5.0,M10.5.0/3", encoder=ENCODER)
MAX_DRIFT = 5.0


class Device:
    """One simulated camera and the operator's memory of it, with the two kinds of pass."""

    def __init__(self, sim: Simulator, camera_id: str = CAMERA) -> None:
        self.camera = sim.cameras[camera_id]
        self.endpoint = sim.device_url(camera_id)
        self.memory = DeviceMemory()
        self.limit = asyncio.Semaphore(4)

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.camera.username, self.camera.password)

    async def full(self, desired: DesiredDeviceSettings = DESIRED) -> DeviceObservation:
        return await run_device_pass(self.endpoint, self.credentials, desired, self.limit, 5.0, self.memory)

    async def lean(
        self, previous: DeviceObservation, desired: DesiredDeviceSettings = DESIRED
    ) -> DeviceObservation | None:
        return await run_lean_pass(
            self.endpoint, self.credentials, desired, previous, self.limit, 5.0, self.memory, MAX_DRIFT
        )

    def requests(self) -> dict[str, int]:
        counted = dict(self.camera.requests or {})
        self.camera.requests = None
        return counted


async def test_healthy_camera_is_reverified_in_three_calls_with_the_same_findings(sim: Simulator) -> None:
    device = Device(sim)
    full = await device.full()
    assert full.healthy
    assert full.report is not None
    assert full.report.in_sync
    full_calls = device.requests()
    lean = await device.lean(full)
    lean_calls = device.requests()
    assert lean is not None
    assert lean_calls == {"GetSystemDateAndTime": 1, "GetNTP": 1, "GetVideoEncoderConfiguration": 1}
    assert sum(full_calls.values()) >= 10  # what a full pass costs the device, for comparison
    # The same facts as the full pass (the clock freshly read), so the status does not change.
    assert lean.report is not None
    assert lean.report.observed == full.report.observed
    assert (lean.device, lean.streams, lean.auth_mode) == (full.device, full.streams, full.auth_mode)
    assert lean.clock is not None
    assert lean.clock is not full.clock
    assert device.camera.history is not None
    sets = len(device.camera.history)
    assert (await device.lean(lean)) is not None
    assert len(device.camera.history) == sets  # verification sends no Set


async def test_setting_changed_on_the_device_is_found_by_the_lean_pass_and_put_back_by_the_full_pass(
    sim: Simulator, control: aiohttp.ClientSession
) -> None:
    device = Device(sim)
    full = await device.full()
    response = await control.patch(f"/control/cameras/{CAMERA}", json={"encoder": {"width": 640, "height": 360}})
    assert response.status == 200
    assert (await device.lean(full)) is None  # drift: the caller runs a full pass at once
    corrected = await device.full()
    assert corrected.report is not None
    assert corrected.report.changed == (Feature.ENCODER,)
    assert (device.camera.main_encoder.width, device.camera.main_encoder.height) == (1280, 720)
    assert (await device.lean(corrected)) is not None


async def test_ntp_server_changed_on_the_device_is_found(sim: Simulator, control: aiohttp.ClientSession) -> None:
    device = Device(sim)
    full = await device.full()
    await control.patch(f"/control/cameras/{CAMERA}", json={"ntpServers": ["192.0.2.9"]})
    assert (await device.lean(full)) is None


async def test_clock_drift_is_found(sim: Simulator) -> None:
    device = Device(sim)
    full = await device.full()
    assert full.clock is not None
    assert full.clock.certain_drift_seconds < MAX_DRIFT
    device.camera.skew_seconds = 20.0  # the device clock ran off (NTP unreachable, say)
    assert (await device.lean(full)) is None


async def test_new_credentials_mean_a_full_pass(sim: Simulator) -> None:
    device = Device(sim)
    full = await device.full()
    device.camera.password = "rotated-Secret-1"
    assert (await device.lean(full)) is None
    device.requests()
    assert device.requests() == {}  # no plan for these credentials: not even the clock was asked


async def test_a_device_that_stops_answering_drops_its_plan(sim: Simulator) -> None:
    device = Device(sim)
    full = await device.full()
    device.camera.password = "changed-on-the-device"  # the operator still signs with the old one
    assert (await device.lean(full)) is None  # rejected: the full pass will report Authenticated=False
    device.camera.password = Device(sim).camera.password
    assert device.memory.lean_plan(device.endpoint, device.credentials) is None


async def test_masks_and_ptz_home_are_read_back_one_call_each(sim: Simulator) -> None:
    device = Device(sim)
    desired = DesiredDeviceSettings(
        encoder=ENCODER,
        privacy_masks=(PrivacyMask(((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5))),),
        ptz_home=PtzPosition(0.2, -0.1, 0.3),
    )
    full = await device.full(desired)
    assert full.report is not None
    assert full.report.in_sync
    device.requests()
    lean = await device.lean(full, desired)
    assert lean is not None
    assert device.requests() == {
        "GetSystemDateAndTime": 1,
        "GetVideoEncoderConfiguration": 1,
        "GetMasks": 1,
        "GetPresets": 1,
    }
    device.camera.masks = []
    assert (await device.lean(lean, desired)) is None


# vendor-b reports its local time as UTC: only in a zone at UTC is its clock right (elsewhere it is reported
# off, by full and lean passes alike: see the next test).
@pytest.mark.parametrize(("name", "timezone"), [("vendor-a", DESIRED.timezone), ("vendor-b", "UTC0")])
async def test_quirky_firmware_passes_lean_verification(sim: Simulator, name: str, timezone: str) -> None:
    device = Device(sim)
    device.camera.quirks = PERSONALITIES[name]
    desired = replace(DESIRED, timezone=timezone)
    full = await device.full(desired)
    assert full.healthy, full.failure
    assert full.report is not None
    assert full.report.in_sync
    device.requests()
    lean = await device.lean(full, desired)
    assert lean is not None
    calls = device.requests()
    # vendor-a is digest only: its first signed request is challenged once (the next ones go preemptively).
    assert set(calls) <= {"GetSystemDateAndTime", "GetNTP", "GetVideoEncoderConfiguration"}
    assert sum(calls.values()) <= 4
    assert lean.report is not None
    assert lean.report.observed == full.report.observed


async def test_local_time_as_utc_in_another_zone_is_clock_drift_for_both_passes(sim: Simulator) -> None:
    device = Device(sim)
    device.camera.quirks = PERSONALITIES["vendor-b"]
    full = await device.full()
    assert full.clock is not None
    assert full.clock.certain_drift_seconds > 3000
    assert (await device.lean(full)) is None


@pytest.mark.parametrize(
    "quirks",
    [{Quirk.ENCODER_WRAPPER}, {Quirk.DATE_BEFORE_TIME, Quirk.DATE_TDS_NAMESPACE}, {Quirk.NTP_EMPTY}, {Quirk.NO_NTP}],
)
async def test_reply_shape_quirks_pass_lean_verification(sim: Simulator, quirks: set[Quirk]) -> None:
    device = Device(sim)
    device.camera.quirks = frozenset(quirks)
    full = await device.full()
    assert full.healthy, full.failure
    assert (await device.lean(full)) is not None


async def test_unusable_encoder_reply_falls_back_to_the_full_pass(sim: Simulator) -> None:
    device = Device(sim)
    full = await device.full()
    device.camera.quirks = frozenset({Quirk.ENCODER_GARBLED})
    assert (await device.lean(full)) is None
    again = await device.full()
    assert again.failure is not None
    assert again.failure.operation == "GetVideoEncoderConfiguration"


async def test_device_that_ignores_sets_is_left_to_full_passes(sim: Simulator, camera: Camera) -> None:
    """vendor-c answers every Set with success and changes nothing: its report is never in sync, so the schedule
    (camfleet.cameras.pass_schedule) gives it full passes; with a spec it already matches it verifies lean."""
    device = Device(sim)
    camera.quirks = PERSONALITIES["vendor-c"]
    full = await device.full()
    assert full.report is not None
    assert not full.report.in_sync
    matching = DesiredDeviceSettings(encoder=EncoderSettings("H264", 1920, 1080, 25, 4096, 50))
    full = await device.full(matching)
    assert full.report is not None
    assert full.report.in_sync
    assert (await device.lean(full, matching)) is not None


@pytest.mark.parametrize("name", ["standard", "vendor-a"])
async def test_after_a_restart_a_plan_restored_from_status_learns_the_rest_once(sim: Simulator, name: str) -> None:
    """A restarted operator knows only the endpoint and the auth mode (from status): the first lean pass asks where
    the services are and reads the encoder from GetProfiles (4 calls), the next ones are 3 calls again."""
    device = Device(sim)
    device.camera.quirks = PERSONALITIES[name]
    full = await device.full()
    assert full.auth_mode is not None
    restarted = DeviceMemory()  # what a new process remembers: nothing
    restored = LeanPlan(device.endpoint, AuthMode(full.auth_mode))
    device.requests()
    first = await run_lean_pass(
        device.endpoint, device.credentials, DESIRED, full, device.limit, 5.0, restarted, MAX_DRIFT, None, restored
    )
    assert first is not None
    ntp = set() if name == "vendor-a" else {"GetNTP"}  # vendor-a reports no NTP settings: a gap, not read
    assert set(device.requests()) == {"GetSystemDateAndTime", "GetServices", "GetProfiles", *ntp}
    kept = restarted.lean_plan(device.endpoint, device.credentials)
    assert kept is not None
    assert kept.encoder_token == "enc-main"
    second = await run_lean_pass(device.endpoint, device.credentials, DESIRED, first, device.limit, 5.0, restarted, 2.0)
    assert second is not None
    assert set(device.requests()) == {"GetSystemDateAndTime", "GetVideoEncoderConfiguration", *ntp}


async def test_a_restored_plan_does_not_send_credentials_to_a_foreign_service_address(sim: Simulator) -> None:
    device = Device(sim)
    full = await device.full()
    device.camera.fault = Fault.FOREIGN_XADDR
    device.requests()
    restored = LeanPlan(device.endpoint, AuthMode.WS_USERNAME_TOKEN)
    lean = await run_lean_pass(
        device.endpoint, device.credentials, DESIRED, full, device.limit, 5.0, DeviceMemory(), MAX_DRIFT, None, restored
    )
    assert lean is None  # the full pass that follows reports the untrusted address
    assert "GetVideoEncoderConfiguration" not in device.requests()


async def test_a_restored_plan_on_firmware_without_get_services_falls_back_to_a_full_pass_once(sim: Simulator) -> None:
    device = Device(sim)
    device.camera.quirks = frozenset({Quirk.NO_GET_SERVICES})
    full = await device.full()
    restored = LeanPlan(device.endpoint, AuthMode.WS_USERNAME_TOKEN)
    restarted = DeviceMemory()
    lean = await run_lean_pass(
        device.endpoint, device.credentials, DESIRED, full, device.limit, 5.0, restarted, MAX_DRIFT, None, restored
    )
    assert lean is None  # GetServices is not there: the full pass finds the services with GetCapabilities
    device.memory = restarted
    full = await device.full()
    device.requests()
    assert (await device.lean(full)) is not None
    assert sum(device.requests().values()) == 3
