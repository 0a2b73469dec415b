"""PTZ control latency (issue 19): from a controller's request to the move arriving at the simulated device, with
100 controllers steering at once.

    .venv/bin/python bench/ptz.py --controllers 100 --rounds 20

Against the real operator on a private local cluster (`camfleet-bench-<pid>`):

1. setup: a simulator with one device per controller and its Camera in the owner department, the operator, and a
   console gateway credential speaking for the owner;
2. each controller takes control of its own camera (`acquire`, which also makes the operator's relay learn the
   device: clock, authentication, PTZ profile), then sends `--rounds` continuous moves one after another, each
   with a pan velocity of its own, all controllers at once;
3. measured per move: from just before the controller sent `POST /v1/ptz/move` to the moment the simulator
   recorded that very move (its `ptz.moves`, matched by velocity; one clock, one machine), and the request's own
   round trip. The first move of each camera (the relay's ONVIF session being set up) is reported apart.

Prints the figures and replaces this benchmark's section of bench/RESULTS.md; stops every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

import fleet_manifests
from access_manifests import OWNER
from camfleet.devcluster.cluster import LocalCluster, session_cluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.sim.fleet import camera_ids
from kube_client import BenchApi
from report import ARTIFACTS, REPO, Row, load_average, percentile, write_section


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()}] {message}", flush=True)


@dataclass
class Figures:
    sent: dict[tuple[str, float], float] = field(default_factory=dict)
    """(camera id, pan) -> when the request was sent."""
    round_trips: list[float] = field(default_factory=list)
    first: set[tuple[str, float]] = field(default_factory=set)
    arrivals: dict[tuple[str, float], float] = field(default_factory=dict)
    refused: int = 0
    load: str = ""


def pan_of(round_index: int) -> float:
    return round((round_index + 1) / 1000, 3)


async def controller(
    session: aiohttp.ClientSession, url: str, camera: str, camera_id: str, rounds: int, figures: Figures
) -> None:
    body: dict[str, Any] = {"camera": f"{OWNER}/{camera}", "person": f"bench-{camera_id}", "department": OWNER}
    for attempt in range(600):
        async with session.post(f"{url}/v1/ptz/acquire", json=body) as answer:
            if answer.status == 200:
                break
        await asyncio.sleep(0.5 if attempt else 0)
    for index in range(rounds):
        pan = pan_of(index)
        move = {**body, "move": {"kind": "continuous", "pan": pan, "tilt": 0, "zoom": 0}}
        sent = time.time()
        async with session.post(f"{url}/v1/ptz/move", json=move) as answer:
            await answer.read()
            ok = answer.status == 200
        figures.round_trips.append(time.time() - sent)
        if not ok:
            figures.refused += 1
            continue
        figures.sent[(camera_id, pan)] = sent
        if index == 0:
            figures.first.add((camera_id, pan))


async def run(args: argparse.Namespace, figures: Figures) -> None:
    cluster: LocalCluster | None = None
    sim = SimProcess(log_path=ARTIFACTS / f"sim-ptz-{os.getpid()}.log", cameras=args.controllers)
    operator: OperatorProcess | None = None
    api: BenchApi | None = None
    try:
        cluster = session_cluster("camfleet-bench")
        log(f"starting the local control plane {cluster.name}")
        await asyncio.to_thread(cluster.start)
        await asyncio.to_thread(cluster.kubectl, "apply", "--server-side", "-f", str(REPO / "crds"))
        await asyncio.to_thread(cluster.kubectl, "wait", "--for=condition=Established", "crd", "--all")
        await asyncio.to_thread(sim.start, 60)
        api = BenchApi(cluster.kubeconfig)
        cameras = camera_ids(args.controllers)
        await api.create_all([fleet_manifests.namespace(OWNER)])
        await api.create_all(
            [fleet_manifests.credentials(OWNER, c) for c in cameras]
            + [fleet_manifests.camera(OWNER, c, sim.device_url(c)) for c in cameras]
        )
        operator = OperatorProcess(
            kubeconfig=cluster.kubeconfig,
            log_path=ARTIFACTS / f"operator-ptz-{os.getpid()}.log",
            extra_args=("--standalone", "--device-network=127.0.0.0/8"),
        )
        log("starting the operator")
        await asyncio.to_thread(operator.start, 120)
        token = await asyncio.to_thread(operator.issue_gateway_credential, "bench-console", (OWNER,))
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE  # the operator's private certificate, on loopback
        connector = aiohttp.TCPConnector(ssl=tls, limit=args.controllers)
        headers = {"Authorization": f"Bearer {token}"}
        log(f"{args.controllers} controllers, {args.rounds} moves each")
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            await asyncio.gather(
                *(controller(session, operator.decision_url, c, c, args.rounds, figures) for c in cameras)
            )
        figures.load = load_average()
        for camera_id in cameras:
            moves = (await asyncio.to_thread(sim.camera, camera_id))["ptz"]["moves"]
            for move in moves:
                if move["operation"] == "ContinuousMove":
                    figures.arrivals.setdefault((camera_id, round(move["velocity"][0], 3)), move["at"])
    finally:
        if api is not None:
            await api.close()
        if operator is not None:
            operator.stop()
        sim.stop()
        if cluster is not None:
            leftovers = cluster.stop()
            log(f"cluster stopped{f'; killed leftover pids {leftovers}' if leftovers else ''}")


def describe(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 0.5) * 1000:.0f} ms, p99 {percentile(values, 0.99) * 1000:.0f} ms, "
        f"max {max(values) * 1000:.0f} ms (n={len(values)})"
    )


def rows(figures: Figures, args: argparse.Namespace) -> list[Row]:
    seen = {k: figures.arrivals[k] - t for k, t in figures.sent.items() if k in figures.arrivals}
    steady = [delay for k, delay in seen.items() if k not in figures.first]
    first = [delay for k, delay in seen.items() if k in figures.first]
    missing = len(figures.sent) - len(seen)
    return [
        (f"request to move at the device, {args.controllers} controllers", describe(steady), "", ""),
        ("  first move of each camera (relay's ONVIF session set up)", describe(first), "", ""),
        ("request round trip (all moves)", describe(figures.round_trips), "", ""),
        ("moves granted but not seen at the device", str(missing), "0", "met" if missing == 0 else "MISSED"),
        ("moves refused", str(figures.refused), "0", "met" if figures.refused == 0 else "MISSED"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--controllers", type=int, default=100, help="controllers steering at once, one camera each")
    parser.add_argument("--rounds", type=int, default=20, help="moves per controller, one after another")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 150:
        parser.error("--rounds must be 1..150 (the simulator keeps the last 200 moves of a camera)")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    started_load = load_average()
    figures = Figures()
    asyncio.run(run(args, figures))
    notes = [
        f"{args.controllers} controllers, each the owner department steering its own simulated camera through one "
        "console gateway credential (department mode), over TLS to the operator's decision endpoint; closed loop: "
        "each sends its next move when the previous one is answered.",
        "Move at the device: the simulator's record of the ContinuousMove (matched by its pan velocity) minus the "
        "time just before the request was sent; simulator, operator and controllers share one machine clock.",
        f"Load average when the moves ended: {figures.load}.",
    ]
    command = "bench/ptz.py " + " ".join(sys.argv[1:])
    write_section("PTZ control latency", command, rows(figures, args), notes, started_load)


if __name__ == "__main__":
    main()
