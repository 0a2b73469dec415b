"""From a grant's expiry to its viewer's last frame, through real MediaMTX (issue 17).

    .venv/bin/python bench/expiry.py

Against the real operator on a private local cluster (`camfleet-bench-expiry-<pid>`), real MediaMTX (its door the
operator's decision endpoint, its camera paths configured by the operator through its control API) and the
simulator's real RTSP stream (one shared H.264 stream, 640x360 at 15 fps, behind every simulated device):

1. spread: `--sessions` grants (live view of one Unconditional camera each), ending one every 0.5 s; one viewer
   per grant, decoding every frame (ffmpeg with the token as a `jwt=` query, and GStreamer with the token as the
   RTSP password, alternately);
2. burst: `--burst-sessions` grants on `--cameras` cameras (all the cameras' paths relay the same simulator
   stream), all ending at the same instant; one viewer per grant, a light RTSP player of the benchmark's own
   (`rtsp_client.py`: RTSP over TCP, the token as a `jwt=` query, RTP packets read and frames counted by their
   marker bit, nothing decoded), all in one process: 200 ffmpeg processes, even only copying the video, drove
   this 2-core machine's load past 90 and measured the machine rather than the gateway.

Measured per viewer: the time from its grant's end to the last video it received (negative: the last frame came
before the end, as a frame interval is 67 ms). A viewer that still receives video 20 s after the end counts as
not ended. Prints the figures and replaces this benchmark's section of bench/RESULTS.md; stops every process it
started.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

import fleet_manifests
from camfleet.devcluster.cluster import LocalCluster, free_port, session_cluster
from camfleet.devcluster.mediamtx_process import MediaMtxProcess
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.rtsp_viewer import RtspViewer
from camfleet.devcluster.sim_process import SimProcess
from camfleet.sim.fleet import camera_ids
from report import ARTIFACTS, REPO, Row, load_average, percentile, verdict, write_section
from rtsp_client import RtspReader

OWNER = "expiry-owner"
DEPARTMENTS = 10
NOT_ENDED_AFTER = 20.0
TARGET_MAX = 2.0
TARGET_TEXT = f"≤ {TARGET_MAX:.0f} s"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()}] {message}", flush=True)


def department(index: int) -> str:
    return f"expiry-dept-{index:02d}"


def grant(phase: str, index: int, camera: str, end: datetime) -> dict[str, Any]:
    start = end - timedelta(hours=1)
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": f"{phase}-{index:04d}", "namespace": department(index % DEPARTMENTS)},
        "spec": {
            "cameras": {"namespace": OWNER, "names": [camera]},
            "shareClass": "Unconditional",
            "permissions": ["LiveView"],
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "purpose": "benchmark: watch a junction until the grant ends",
        },
    }


class ReaderLoop:
    """An event loop in a thread of its own for the burst's light viewers (`rtsp_client.RtspReader`)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def start(self, url: str, port: int) -> LightViewer:
        reader = RtspReader("127.0.0.1", port, url)
        return LightViewer(reader, asyncio.run_coroutine_threadsafe(reader.run(), self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass
class LightViewer:
    """The same questions as an RtspViewer, answered by an RtspReader."""

    reader: RtspReader
    future: concurrent.futures.Future[None]

    @property
    def running(self) -> bool:
        return not self.reader.ended

    @property
    def frames(self) -> int:
        return self.reader.frames

    @property
    def last_frame_at(self) -> float | None:
        return self.reader.last_frame_at

    def wait_exit(self, timeout: float) -> int | None:
        try:
            self.future.result(timeout)
        except concurrent.futures.TimeoutError:
            return None
        except concurrent.futures.CancelledError:
            pass
        return 0

    def stop(self) -> None:
        self.future.cancel()


@dataclass
class Session:
    grant: str
    camera: str
    end: datetime
    viewer: RtspViewer | LightViewer | None = None
    outlived: bool = False
    """Still receiving video `NOT_ENDED_AFTER` seconds after the last end (noted before the viewers stop)."""

    def delay(self) -> float | None:
        """Seconds from the grant's end to the last video; None when video still flows (or flowed too long)."""
        assert self.viewer is not None
        if self.outlived or self.viewer.running or self.viewer.last_frame_at is None:
            return None
        wall_of_last = time.time() - (time.monotonic() - self.viewer.last_frame_at)
        return wall_of_last - self.end.timestamp()


@dataclass
class Phase:
    name: str
    sessions: list[Session] = field(default_factory=list)
    no_video: int = 0

    def delays(self) -> list[float]:
        return [d for s in self.sessions if (d := s.delay()) is not None]

    def not_ended(self) -> int:
        return sum(1 for s in self.sessions if s.outlived)


def tokens(cluster: LocalCluster) -> dict[str, str]:
    done = cluster.kubectl("get", "secrets", "-A", "-l", "camfleet.io/grant", "-o", "json")
    found = {}
    for secret in json.loads(done.stdout)["items"]:
        ref = f"{secret['metadata']['namespace']}/{secret['metadata']['labels']['camfleet.io/grant']}"
        found[ref] = base64.b64decode(secret["data"]["token"]).decode()
    return found


def wait_tokens(cluster: LocalCluster, refs: set[str], patience: float) -> dict[str, str]:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        found = tokens(cluster)
        if refs <= found.keys():
            return found
        time.sleep(1)
    raise RuntimeError(f"{len(refs - tokens(cluster).keys())} grants got no token in {patience:.0f}s")


def run_phase(
    cluster: LocalCluster,
    mediamtx: MediaMtxProcess,
    phase: Phase,
    manifests: list[dict[str, Any]],
    light: ReaderLoop | None,
) -> None:
    """`light`: the burst's light viewers (no decoding); None: real players decoding every frame."""
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
    refs = {s.grant for s in phase.sessions}
    found = wait_tokens(cluster, refs, 120)
    log(f"{phase.name}: {len(refs)} tokens issued; starting the viewers")
    urls = {}
    for index, session in enumerate(phase.sessions):
        token, path = found[session.grant], f"{OWNER}/{session.camera}"
        if light is None and index % 2:
            urls[session.grant] = mediamtx.rtsp_url(path, user="viewer", password=token), "gstreamer"
        else:
            urls[session.grant] = mediamtx.rtsp_url(path, query=f"jwt={token}"), "ffmpeg"
    first_end = min(s.end for s in phase.sessions)
    # Viewers come one after another, and one that could not start (a camera's stream that took too long to
    # start on demand) tries again, until 10 s before the first end.
    while datetime.now(UTC) < first_end - timedelta(seconds=10):
        waiting = [s for s in phase.sessions if s.viewer is None or (not s.viewer.running and not s.viewer.frames)]
        if not waiting:
            break
        for session in waiting:
            url, player = urls[session.grant]
            if light is not None:
                session.viewer = light.start(url, mediamtx.rtsp_port)
            else:
                session.viewer = RtspViewer(url, player=player).start()
            time.sleep(stagger_seconds(len(phase.sessions)))
        time.sleep(2)
    while datetime.now(UTC) < first_end - timedelta(seconds=1):
        time.sleep(0.2)
    phase.no_video = sum(1 for s in phase.sessions if not receiving(s))
    watching = len(phase.sessions) - phase.no_video
    log(f"{phase.name}: {watching}/{len(phase.sessions)} viewers receive video 1 s before the first end")
    last_end = max(s.end for s in phase.sessions)
    deadline = last_end + timedelta(seconds=NOT_ENDED_AFTER)
    while datetime.now(UTC) < deadline and any(s.viewer is not None and s.viewer.running for s in phase.sessions):
        time.sleep(0.2)
    for session in phase.sessions:
        if session.viewer is not None and session.viewer.running:
            session.outlived = session.viewer.wait_exit(0.1) is None and session.viewer.frames > 0
    log(f"{phase.name}: {phase.not_ended()} viewers still receive video {NOT_ENDED_AFTER:.0f} s after the end")


def receiving(session: Session) -> bool:
    """The viewer runs and got a frame in the last 2 s."""
    viewer = session.viewer
    return (
        viewer is not None
        and viewer.running
        and viewer.last_frame_at is not None
        and time.monotonic() - viewer.last_frame_at < 2.0
    )


def stagger_seconds(viewers: int) -> float:
    """Seconds between two viewers' starts: a few dozen at once would all start their cameras' streams at once."""
    return 0.05 if viewers <= 50 else 0.3


def stop_viewers(phase: Phase) -> None:
    for session in phase.sessions:
        if session.viewer is not None:
            session.viewer.stop()


def spread_phase(args: argparse.Namespace, cameras: list[str]) -> tuple[Phase, list[dict[str, Any]]]:
    phase = Phase("spread")
    first = datetime.now(UTC) + timedelta(seconds=args.lead_seconds)
    manifests = []
    for index in range(args.sessions):
        end, camera = first + timedelta(seconds=0.5 * index), cameras[index % len(cameras)]
        manifest = grant("spread", index, camera, end)
        manifests.append(manifest)
        phase.sessions.append(
            Session(f"{manifest['metadata']['namespace']}/{manifest['metadata']['name']}", camera, end)
        )
    return phase, manifests


def burst_phase(args: argparse.Namespace, cameras: list[str]) -> tuple[Phase, list[dict[str, Any]]]:
    phase = Phase("burst")
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=args.burst_lead_seconds)
    manifests = []
    for index in range(args.burst_sessions):
        camera = cameras[index % len(cameras)]
        manifest = grant("burst", index, camera, end)
        manifests.append(manifest)
        phase.sessions.append(
            Session(f"{manifest['metadata']['namespace']}/{manifest['metadata']['name']}", camera, end)
        )
    return phase, manifests


def start_stack(args: argparse.Namespace, stack: dict[str, Any]) -> tuple[LocalCluster, MediaMtxProcess, list[str]]:
    cluster = session_cluster("camfleet-bench-expiry")
    stack["cluster"] = cluster
    log(f"starting the local control plane {cluster.name}")
    cluster.start()
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
    sim = SimProcess(log_path=ARTIFACTS / f"sim-expiry-{os.getpid()}.log", cameras=args.cameras, rtsp_port=0)
    stack["sim"] = sim
    sim.start(60)
    rtsp_port, api_port = free_port(), free_port()
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=ARTIFACTS / f"operator-expiry-{os.getpid()}.log",
        extra_args=("--standalone", "--device-network=127.0.0.0/8", f"--gateway-api-url=http://127.0.0.1:{api_port}"),
    )
    stack["operator"] = operator
    log("starting the operator")
    operator.start(120)
    mediamtx = MediaMtxProcess.for_operator(
        operator, ARTIFACTS / f"mediamtx-expiry-{os.getpid()}.log", rtsp_port=rtsp_port, api_port=api_port
    )
    stack["mediamtx"] = mediamtx
    mediamtx.start()
    cameras = camera_ids(args.cameras)
    objects = [fleet_manifests.namespace(OWNER)] + [
        fleet_manifests.namespace(department(i)) for i in range(DEPARTMENTS)
    ]
    objects += [fleet_manifests.credentials(OWNER, c) for c in cameras]
    objects += [fleet_manifests.camera(OWNER, c, sim.device_url(c)) for c in cameras]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    deadline = time.monotonic() + 300
    while sum(1 for name in mediamtx.configured_paths() if name.startswith(f"{OWNER}/")) < len(cameras):
        if time.monotonic() > deadline:
            raise RuntimeError("the cameras' paths did not all appear on MediaMTX in 300 s")
        time.sleep(1)
    log(f"{len(cameras)} camera paths on MediaMTX")
    return cluster, mediamtx, cameras


def stop_stack(stack: dict[str, Any]) -> None:
    if "light" in stack:
        stack["light"].close()
    for name in ("mediamtx", "operator", "sim"):
        if name in stack:
            stack[name].stop()
    if "cluster" in stack:
        stack["cluster"].stop()


def rows_of(phase: Phase, label: str) -> list[Row]:
    delays = phase.delays()
    if not delays:
        return [(f"{label}: sessions ended", "0", "", verdict(False))]
    worst, not_ended = max(delays), phase.not_ended()
    return [
        (f"{label}: sessions measured", f"{len(delays)} of {len(phase.sessions)}", "", ""),
        (f"{label}: expiry to last frame p50", f"{percentile(delays, 0.5):+.2f} s", "", ""),
        (f"{label}: expiry to last frame p99", f"{percentile(delays, 0.99):+.2f} s", "", ""),
        (f"{label}: expiry to last frame max", f"{worst:+.2f} s", TARGET_TEXT, verdict(worst <= TARGET_MAX)),
        (f"{label}: still receiving {NOT_ENDED_AFTER:.0f} s after", str(not_ended), "0", verdict(not not_ended)),
        (f"{label}: no video 1 s before the end", str(phase.no_video), "0", verdict(not phase.no_video)),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=24, help="spread phase: grants and decoding viewers")
    parser.add_argument("--burst-sessions", type=int, default=200, help="burst phase: grants ending together")
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument(
        "--lead-seconds", type=int, default=30, help="spread: from creating the grants to the first end"
    )
    parser.add_argument(
        "--burst-lead-seconds", type=int, default=150, help="burst: from creating the grants to their end"
    )
    args = parser.parse_args()
    started_load = load_average()
    stack: dict[str, Any] = {}
    phases: list[Phase] = []
    try:
        cluster, mediamtx, cameras = start_stack(args, stack)
        light = ReaderLoop()
        stack["light"] = light
        for make, readers in ((spread_phase, None), (burst_phase, light)):
            phase, manifests = make(args, cameras)
            phases.append(phase)
            try:
                run_phase(cluster, mediamtx, phase, manifests, readers)
            finally:
                stop_viewers(phase)
    finally:
        stop_stack(stack)
    spread, burst = phases
    rows = rows_of(spread, f"{args.sessions} sessions, ends 0.5 s apart, decoded") + rows_of(
        burst, f"{args.burst_sessions} sessions on {args.cameras} cameras, one instant"
    )
    notes = [
        "Real MediaMTX v1.20.1 (RTSP over TCP), its door the operator's decision endpoint; each camera's path "
        "configured by the operator through MediaMTX's control API, relaying the simulator's shared H.264 stream "
        "(640x360, 15 fps).",
        "Expiry to last frame: from the grant's `period.end` to the last video data the viewer process received "
        "(negative: the last frame came before the end). The operator ends the grant's sessions through MediaMTX's "
        "control API (`rtspsessions/kick`) right after it revokes the grant.",
        "Spread: viewers decode every frame (ffmpeg with the token as a `jwt=` query; GStreamer with the token as the "
        "RTSP password, alternately). Burst: light RTSP players in one process (bench/rtsp_client.py: RTP read, "
        "frames counted by the marker bit, nothing decoded), token as a `jwt=` query.",
    ]
    write_section("Expiry to the viewer's last frame (MediaMTX)", "python bench/expiry.py", rows, notes, started_load)


if __name__ == "__main__":
    main()
