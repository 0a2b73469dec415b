"""PTZ control latency (issue 19): from a controller's request to the move arriving at the simulated device, with
100 controllers steering at once.

    .venv/bin/python bench/ptz.py --controllers 100 --rounds 20
    .venv/bin/python bench/ptz.py --controllers 100 --rounds 20 --people 10

Against the real operator on a private local cluster (`camfleet-bench-<pid>`):

1. setup: a simulator with one device per controller and its Camera in the owner department, the operator, and a
   console gateway credential speaking for the owner;
   With `--people N`, the controllers are instead N people of a level-2 department (an AccessTier), each with a
   client certificate signed by the cluster's CA, steering with the department's tier credential: the direct
   path, where the operator takes the person from the verified certificate (issue 19, Deliver 5);
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
import base64
import json
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
from camfleet.access.approvals import DEFAULT_DEPARTMENT_GROUP_PREFIX
from camfleet.devcluster.cluster import LocalCluster, session_cluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.person_certificates import person_certificate, write_person_files
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


LEVEL2 = "bench-level2"
"""With --people: the department whose people steer, holding level 2 through the AccessTier `bench-level-2`."""


async def controller(
    session: aiohttp.ClientSession,
    url: str,
    camera: str,
    camera_id: str,
    rounds: int,
    figures: Figures,
    tier_token: str | None = None,
) -> None:
    body: dict[str, Any] = {"camera": f"{OWNER}/{camera}", "person": f"bench-{camera_id}", "department": OWNER}
    if tier_token is not None:
        body = {"camera": f"{OWNER}/{camera}", "token": tier_token}  # the person is the session's certificate
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
        log(f"{args.controllers} controllers, {args.rounds} moves each")
        if args.people:
            sessions, tier_token = await people_sessions(api, cluster, args.people, args.controllers)
        else:
            connector = aiohttp.TCPConnector(ssl=operator_tls(), limit=args.controllers)
            headers = {"Authorization": f"Bearer {token}"}
            sessions, tier_token = [aiohttp.ClientSession(connector=connector, headers=headers)], None
        try:
            await asyncio.gather(
                *(
                    controller(
                        sessions[index % len(sessions)], operator.decision_url, c, c, args.rounds, figures, tier_token
                    )
                    for index, c in enumerate(cameras)
                )
            )
        finally:
            for session in sessions:
                await session.close()
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


def operator_tls() -> ssl.SSLContext:
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE  # the operator's private certificate, on loopback
    return tls


async def people_sessions(
    api: BenchApi, cluster: LocalCluster, people: int, controllers: int
) -> tuple[list[aiohttp.ClientSession], str]:
    """A level-2 department, its tier credential, and one TLS session per person presenting their certificate."""
    await api.create_all([fleet_manifests.namespace(LEVEL2)])
    tier = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "AccessTier",
        "metadata": {"name": "bench-level-2"},
        "spec": {"level": 2, "subjects": [{"department": LEVEL2}]},
    }
    await api.create_all([tier])
    tier_token = await tier_credential(api, [f"{OWNER}/{c}" for c in camera_ids(controllers)])
    sessions = []
    folder = ARTIFACTS / f"ptz-people-{os.getpid()}"
    for index in range(people):
        user = f"bench-person-{index:03d}"
        cert, key = person_certificate(
            cluster.cluster_dir / "pki", user, [f"{DEFAULT_DEPARTMENT_GROUP_PREFIX}{LEVEL2}"]
        )
        tls = operator_tls()
        tls.load_cert_chain(*write_person_files(folder, user, cert, key))
        connector = aiohttp.TCPConnector(ssl=tls, limit=max(1, controllers // people + 1))
        sessions.append(aiohttp.ClientSession(connector=connector))
    log(f"{people} people of {LEVEL2} (level 2), each with a client certificate of the cluster's CA")
    return sessions, tier_token


async def tier_credential(api: BenchApi, cameras: list[str]) -> str:
    """bench-level-2's tier credential once its scope holds every camera (it is re-issued as the operator learns
    the cameras)."""
    secret = f"/api/v1/namespaces/{LEVEL2}/secrets/bench-level-2-tier-credential"
    for _ in range(240):
        try:
            data = (await api.get_json(secret)).get("data") or {}
        except Exception:  # not there yet (404): the operator issues it moments after the tier
            data = {}
        if data.get("token"):
            token = base64.b64decode(data["token"]).decode()
            body = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            if set(cameras) <= set(claims.get("cameras") or []):
                return token
        await asyncio.sleep(0.5)
    raise RuntimeError("no tier credential of bench-level-2 holding every camera within 120 s")


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
    parser.add_argument(
        "--people",
        type=int,
        default=0,
        help="steer as N certified people of a level-2 department with its tier credential (default: a console)",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= 150:
        parser.error("--rounds must be 1..150 (the simulator keeps the last 200 moves of a camera)")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    started_load = load_average()
    figures = Figures()
    asyncio.run(run(args, figures))
    who = (
        f"{args.people} people of a level-2 department, each with a client certificate of the cluster's CA (the "
        "operator takes the person from it), steering with the department's tier credential"
        if args.people
        else "the owner department through one console gateway credential (department mode)"
    )
    notes = [
        f"{args.controllers} controllers, each steering its own simulated camera: {who}; over TLS to the "
        "operator's decision endpoint; closed loop: each sends its next move when the previous one is answered.",
        "Move at the device: the simulator's record of the ContinuousMove (matched by its pan velocity) minus the "
        "time just before the request was sent; simulator, operator and controllers share one machine clock.",
        f"Load average when the moves ended: {figures.load}.",
    ]
    command = "bench/ptz.py " + " ".join(sys.argv[1:])
    title = "PTZ control latency, certified people" if args.people else "PTZ control latency"
    write_section(title, command, rows(figures, args), notes, started_load)


if __name__ == "__main__":
    main()
