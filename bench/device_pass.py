"""Operator CPU per healthy device pass, full versus lean (issue 20, Deliver point 3).

    .venv/bin/python bench/device_pass.py --cameras 200 --rounds 3

N simulated devices (`camfleet sim` in its own process, so its CPU is not counted) are first configured by one
full pass each. Then, for `--rounds` rounds, every device is re-verified one at a time, first by full passes
(`run_device_pass`: the real ONVIF client library, zeep) and then by lean passes (`run_lean_pass`: fixed
envelopes, lxml); `time.process_time()` around each pass is the operator-side CPU of that pass (the bench runs
nothing else meanwhile). The ONVIF requests per pass are counted at the simulator (its per-operation counters).
A last round runs every device at once under the operator's default limit (50) for the CPU per pass under
concurrency. With py-spy in the venv, each sequential phase is profiled (flame graphs in .artifacts/bench/
device-pass-full.svg and device-pass-lean.svg, summaries in the notes).

The spec is the example Camera's kind: NTP servers, a time zone and the main encoder (no masks or PTZ home,
which would add one read each). Wall time depends on the machine's load (other processes share it); CPU time per
pass is what matters. Prints the figures and replaces this benchmark's section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from camfleet.cameras.device_pass import Credentials, DeviceMemory, run_device_pass, run_lean_pass
from camfleet.cameras.observation import DeviceObservation
from camfleet.devcluster.sim_process import SimProcess
from camfleet.onvif import AuthMode, DesiredDeviceSettings, EncoderSettings
from camfleet.onvif.models import LeanPlan
from camfleet.sim import DEFAULT_SEED, DEFAULT_USERNAME, derive_password
from camfleet.sim.fleet import camera_ids
from processes import Profile, py_spy
from report import ARTIFACTS, Row, load_average, percentile, verdict, write_section

DESIRED = DesiredDeviceSettings(
    ntp_servers=("10.30.0.1",),
    timezone="CST-8",
    encoder=EncoderSettings("H264", 1920, 1080, 15, 2048, 30),
)
TIMEOUT_SECONDS = 10.0
MAX_DRIFT_SECONDS = 2.0
LEAN_CPU_TARGET_MS = 5.0
LEAN_CALLS_TARGET = 3
CONCURRENCY = 50


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()}] {message}", flush=True)


@dataclass
class Phase:
    cpu_ms: list[float] = field(default_factory=list)
    requests: int = 0
    passes: int = 0
    wall_seconds: float = 0.0
    profile: tuple[str, str, str] = ("not profiled", "", "")
    concurrent_cpu_ms: float = 0.0

    def add(self, cpu_seconds: float) -> None:
        self.cpu_ms.append(cpu_seconds * 1000)


@dataclass
class Fleet:
    sim: SimProcess
    ids: list[str]
    memory: DeviceMemory = field(default_factory=DeviceMemory)
    observations: dict[str, DeviceObservation] = field(default_factory=dict)

    def credentials(self, camera_id: str) -> Credentials:
        return Credentials(DEFAULT_USERNAME, derive_password(DEFAULT_SEED, camera_id))

    async def full(self, camera_id: str, limit: asyncio.Semaphore) -> None:
        observation = await run_device_pass(
            self.sim.device_url(camera_id), self.credentials(camera_id), DESIRED, limit, TIMEOUT_SECONDS, self.memory
        )
        if not observation.healthy or observation.report is None or not observation.report.in_sync:
            raise RuntimeError(f"full pass on {camera_id} did not leave it as desired: {observation.failure}")
        self.observations[camera_id] = observation

    async def lean(self, camera_id: str, limit: asyncio.Semaphore) -> None:
        observation = await run_lean_pass(
            self.sim.device_url(camera_id),
            self.credentials(camera_id),
            DESIRED,
            self.observations[camera_id],
            limit,
            TIMEOUT_SECONDS,
            self.memory,
            MAX_DRIFT_SECONDS,
        )
        if observation is None:
            raise RuntimeError(f"lean pass on {camera_id} gave way to a full pass on a healthy device")
        self.observations[camera_id] = observation

    async def restored(self, camera_id: str, limit: asyncio.Semaphore) -> None:
        """The first lean pass after a restart: nothing in memory, the plan restored from status (auth mode)."""
        previous = self.observations[camera_id]
        assert previous.auth_mode is not None
        url = self.sim.device_url(camera_id)
        observation = await run_lean_pass(
            url,
            self.credentials(camera_id),
            DESIRED,
            previous,
            limit,
            TIMEOUT_SECONDS,
            DeviceMemory(),
            MAX_DRIFT_SECONDS,
            None,
            LeanPlan(url, AuthMode(previous.auth_mode)),
        )
        if observation is None:
            raise RuntimeError(f"restored lean pass on {camera_id} gave way to a full pass on a healthy device")

    def requests_sent(self) -> int:
        return sum(sum(self.sim.camera(camera_id).get("requests", {}).values()) for camera_id in self.ids)


class FlameGraph:
    """A py-spy flame graph (svg) of this process, next to the raw profile `Profile` summarises."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        program = py_spy()
        if program is None:
            return
        command = [
            program,
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            "97",
            "--nonblocking",
            "-o",
            str(self.output),
        ]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            self._process.wait(30)


async def sequential(
    fleet: Fleet, rounds: int, kind: str, run: Callable[[str, asyncio.Semaphore], Awaitable[None]]
) -> Phase:
    phase = Phase()
    limit = asyncio.Semaphore(1)
    profile = Profile(os.getpid(), ARTIFACTS / f"device-pass-{kind}.txt", rate=97)
    flame = FlameGraph(ARTIFACTS / f"device-pass-{kind}.svg")
    before = fleet.requests_sent()
    profiled = profile.start()
    flame.start()
    await asyncio.sleep(1.0)  # let py-spy attach before the measured passes
    started = time.monotonic()
    for _ in range(rounds):
        for camera_id in fleet.ids:
            cpu = time.process_time()
            await run(camera_id, limit)
            phase.add(time.process_time() - cpu)
    phase.wall_seconds = time.monotonic() - started
    profile.stop()
    flame.stop()
    phase.passes = rounds * len(fleet.ids)
    phase.requests = fleet.requests_sent() - before
    if profiled:
        phase.profile = profile.summary()
    log(f"{kind}: {phase.passes} passes, mean {sum(phase.cpu_ms) / phase.passes:.2f} ms CPU, {phase.requests} requests")
    return phase


async def concurrent(fleet: Fleet, run: Callable[[str, asyncio.Semaphore], Awaitable[None]]) -> float:
    """CPU ms per pass with every device at once under the operator's default ONVIF limit."""
    limit = asyncio.Semaphore(CONCURRENCY)
    cpu = time.process_time()
    await asyncio.gather(*(run(camera_id, limit) for camera_id in fleet.ids))
    return (time.process_time() - cpu) * 1000 / len(fleet.ids)


async def measure(args: argparse.Namespace) -> tuple[Phase, Phase, Phase]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sim = SimProcess(log_path=ARTIFACTS / "sim-device-pass.log", cameras=args.cameras)
    sim.start()
    try:
        fleet = Fleet(sim, camera_ids(args.cameras))
        log(f"configuring {args.cameras} devices with one full pass each")
        await asyncio.gather(*(fleet.full(c, asyncio.Semaphore(CONCURRENCY)) for c in fleet.ids))
        full = await sequential(fleet, args.rounds, "full", fleet.full)
        lean = await sequential(fleet, args.rounds, "lean", fleet.lean)
        restored = await sequential(fleet, 1, "restored", fleet.restored)
        full.concurrent_cpu_ms = await concurrent(fleet, fleet.full)
        lean.concurrent_cpu_ms = await concurrent(fleet, fleet.lean)
        return full, lean, restored
    finally:
        sim.stop()


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def rows(full: Phase, lean: Phase, restored: Phase) -> list[Row]:
    lean_mean = sum(lean.cpu_ms) / len(lean.cpu_ms)
    full_mean = sum(full.cpu_ms) / len(full.cpu_ms)
    lean_calls = lean.requests / lean.passes
    return [
        (
            "operator CPU per full pass, mean (p50 / p99)",
            f"{_ms(full_mean)} ({_ms(percentile(full.cpu_ms, 0.5))} / {_ms(percentile(full.cpu_ms, 0.99))})",
            "",
            "",
        ),
        (
            "operator CPU per lean pass, mean (p50 / p99)",
            f"{_ms(lean_mean)} ({_ms(percentile(lean.cpu_ms, 0.5))} / {_ms(percentile(lean.cpu_ms, 0.99))})",
            f"≤ {LEAN_CPU_TARGET_MS:g} ms",
            verdict(lean_mean <= LEAN_CPU_TARGET_MS),
        ),
        (
            "first lean pass after a restart (plan from status): CPU, requests",
            f"{_ms(sum(restored.cpu_ms) / len(restored.cpu_ms))}, {restored.requests / restored.passes:.1f}",
            "",
            "",
        ),
        ("full / lean CPU", f"{full_mean / lean_mean:.1f} times", "", ""),
        ("ONVIF requests per full pass", f"{full.requests / full.passes:.1f}", "", ""),
        (
            "ONVIF requests per lean pass",
            f"{lean_calls:.1f}",
            f"≤ {LEAN_CALLS_TARGET}",
            verdict(lean_calls <= LEAN_CALLS_TARGET),
        ),
        (
            f"CPU per pass, all devices at once (limit {CONCURRENCY}): full / lean",
            f"{_ms(full.concurrent_cpu_ms)} / {_ms(lean.concurrent_cpu_ms)}",
            "",
            "",
        ),
        (
            "wall time per pass, one at a time: full / lean",
            f"{_ms(full.wall_seconds * 1000 / full.passes)} / {_ms(lean.wall_seconds * 1000 / lean.passes)}",
            "",
            "",
        ),
    ]


def notes(full: Phase, lean: Phase) -> list[str]:
    found = []
    for kind, phase in (("full", full), ("lean", lean)):
        libraries, modules, functions = phase.profile
        found.append(
            f"py-spy, {kind} passes (flame graph .artifacts/bench/device-pass-{kind}.svg): by library {libraries}; "
            f"by camfleet module {modules}; hottest functions {functions}."
        )
    return [
        "Spec per device: NTP servers, time zone, main encoder (the example Camera's kind). A lean pass reads the "
        "clock, time zone and time source (GetSystemDateAndTime, unauthenticated), GetNTP and "
        "GetVideoEncoderConfiguration; masks and PTZ home, when managed, add GetMasks and GetPresets. The first "
        "lean pass after a restart knows only the endpoint and auth mode (from status): it asks GetServices and "
        "reads the encoder from GetProfiles instead (4 requests), once.",
        "CPU is `time.process_time()` around each pass in the bench process (the simulator runs in its own); it "
        "includes aiohttp, the event loop and the WS-UsernameToken digest. The figures do not include the status "
        "decision and write, which a lean pass that finds everything as desired does not make.",
        *found,
        "Other helpers ran tests on this machine meanwhile: wall times vary with load; CPU per pass is the figure.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started_load = load_average()
    full, lean, restored = asyncio.run(measure(args))
    command = f"python bench/device_pass.py --cameras {args.cameras} --rounds {args.rounds}"
    write_section("Device passes: full vs lean", command, rows(full, lean, restored), notes(full, lean), started_load)


if __name__ == "__main__":
    main()
