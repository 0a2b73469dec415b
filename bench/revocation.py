"""Revocation delay with 10,000 active grants: 1,000 expiring in the same second, plus a steady trickle.

    .venv/bin/python bench/revocation.py

Against the real operator on a private local cluster (`camfleet-bench-<pid>`):

1. setup: a simulator with `--cameras` devices and their Cameras in the owner department, 100 grantee
   departments, the operator; then the long-lived grants (live view of Unconditional cameras, active at once),
   until each has its token Secret;
2. the expiring grants: `--burst` grants ending at the same instant T (a whole second, about a minute later)
   and a trickle of one grant ending every second from T-20 s to T+100 s;
3. measured, for every expiring grant, from its end:
   - the token Secret's deletion, as a watch on the grantees' Secrets sees it;
   - the gateway's refusal: a sample of the burst and every trickle grant is asked about at the operator's
     decision endpoint (`POST /v1/decide` with the grant's own token, as an authenticated gateway: the
     operator process's gateway credential) every 50 ms until it refuses;
   - the operator's own histogram `camfleet_revocation_delay_seconds` (the moment its reconcile started
     revoking), as a cross-check over all of them.
   The operator revokes at the gateway first (in memory) and then deletes the Secret, so the Secret delay
   bounds the gateway's from above.

Prints the figures and replaces this benchmark's section of bench/RESULTS.md; stops every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import math
import os
import re
import signal
import ssl
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

import fleet_manifests
from access_manifests import OWNER, department, grant_name, sharing_grant
from camfleet.devcluster.cluster import LocalCluster, session_cluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.sim.fleet import camera_ids
from kube_client import BenchApi
from processes import CpuMeter, Profile, control_plane_pids
from report import ARTIFACTS, REPO, Row, load_average, percentile, verdict, write_section

DEPARTMENTS = 100
# One grant ends every second from T - 20 s to T + 100 s: before, during and after the burst.
TRICKLE_BEFORE, TRICKLE_AFTER = 20, 100
PROBE_EVERY = 0.05
GRANT_SECRETS = "/api/v1/secrets?labelSelector=camfleet.io%2Fgrant"
TARGET_P99 = 1.0
TARGET_BURST_CLEARED = 10.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()}] {message}", flush=True)


@dataclass
class Grants:
    """What the bench knows of every grant: its end, its token, and when its Secret appeared and went."""

    ends: dict[str, datetime] = field(default_factory=dict)  # namespace/name -> end
    tokens: dict[str, str] = field(default_factory=dict)
    issued: set[str] = field(default_factory=set)
    deleted_at: dict[str, datetime] = field(default_factory=dict)
    refused_at: dict[str, datetime] = field(default_factory=dict)
    issued_changed: asyncio.Event = field(default_factory=asyncio.Event)
    deleted_changed: asyncio.Event = field(default_factory=asyncio.Event)


def grant_of_secret(secret: dict[str, Any]) -> str:
    return f"{secret['metadata']['namespace']}/{secret['metadata']['labels']['camfleet.io/grant']}"


async def watch_secrets(api: BenchApi, grants: Grants) -> None:
    """Token Secrets as they come and go (one list, then a watch, resumed when it ends)."""
    listed = await api.get_json(GRANT_SECRETS)
    for secret in listed["items"]:
        grants.issued.add(grant_of_secret(secret))
    version = listed["metadata"]["resourceVersion"]
    while True:
        try:
            async for event in api.watch(GRANT_SECRETS, version):
                secret = event["object"]
                version = secret["metadata"].get("resourceVersion", version)
                if event["type"] == "BOOKMARK":
                    continue
                grant = grant_of_secret(secret)
                if event["type"] == "DELETED":
                    grants.deleted_at.setdefault(grant, datetime.now(UTC))
                    grants.deleted_changed.set()
                elif event["type"] in ("ADDED", "MODIFIED"):
                    grants.tokens[grant] = base64.b64decode(secret["data"]["token"]).decode()
                    grants.issued.add(grant)
                    grants.issued_changed.set()
        except Exception as error:  # resumed whatever ended it
            log(f"secret watch interrupted ({type(error).__name__}); resuming")
            await asyncio.sleep(0.5)


async def wait_issued(grants: Grants, expected: set[str], patience: float) -> bool:
    deadline = time.monotonic() + patience
    last_report = time.monotonic()
    while not expected <= grants.issued:
        if time.monotonic() > deadline:
            return False
        grants.issued_changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(grants.issued_changed.wait(), timeout=5)
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            log(f"{len(expected & grants.issued)}/{len(expected)} grants have their token")
    return True


async def probe(session: aiohttp.ClientSession, url: str, grants: Grants, grant: str, camera: str) -> None:
    """Ask the gateway about `grant` every PROBE_EVERY from just before its end until it refuses."""
    end = grants.ends[grant]
    await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds() - 0.5))
    if grant not in grants.tokens:
        return  # never issued before its end: nothing to revoke
    body = {"camera": camera, "permission": "LiveView", "token": grants.tokens[grant]}
    give_up = end + timedelta(seconds=60)
    while datetime.now(UTC) < give_up:
        async with session.post(url, json=body) as answer:
            if answer.status == 401:
                raise RuntimeError("the decision endpoint did not accept the bench's gateway credential")
            decided = await answer.json()
        if not decided["allowed"]:
            grants.refused_at[grant] = datetime.now(UTC)
            return
        await asyncio.sleep(PROBE_EVERY)


# -- the run -----------------------------------------------------------------------------------------------


@dataclass
class Figures:
    grants: int = 0
    active_before_end: bool = False
    end: datetime | None = None
    burst: list[str] = field(default_factory=list)
    trickle: list[str] = field(default_factory=list)
    histogram: dict[float, float] = field(default_factory=dict)
    operator_rss_mb: float = math.nan
    loads: dict[str, str] = field(default_factory=dict)
    burst_cpu: str = ""
    active_at_end: int = 0
    burst_profile: tuple[str, str, str] | None = None


def grant_manifest(index: int, cameras: list[str], start: datetime, end: datetime) -> dict[str, Any]:
    manifest = sharing_grant(index, DEPARTMENTS, cameras, start, end)
    return manifest


async def run(args: argparse.Namespace, figures: Figures) -> Grants:
    grants = Grants()
    cluster: LocalCluster | None = None
    sim = SimProcess(log_path=ARTIFACTS / f"sim-revocation-{os.getpid()}.log", cameras=args.cameras)
    operator: OperatorProcess | None = None
    api: BenchApi | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        cluster = session_cluster("camfleet-bench")
        log(f"starting the local control plane {cluster.name}")
        await asyncio.to_thread(cluster.start)
        await asyncio.to_thread(cluster.kubectl, "apply", "--server-side", "-f", str(REPO / "crds"))
        await asyncio.to_thread(cluster.kubectl, "wait", "--for=condition=Established", "crd", "--all")
        await asyncio.to_thread(sim.start, 60)
        api = BenchApi(cluster.kubeconfig)
        cameras = camera_ids(args.cameras)
        await api.create_all([fleet_manifests.namespace(OWNER)] + [fleet_manifests.namespace(department(i))
                                                                     for i in range(DEPARTMENTS)])  # fmt: skip
        await api.create_all(
            [fleet_manifests.credentials(OWNER, c) for c in cameras]
            + [fleet_manifests.camera(OWNER, c, sim.device_url(c)) for c in cameras]
        )
        operator = OperatorProcess(
            kubeconfig=cluster.kubeconfig,
            log_path=ARTIFACTS / f"operator-revocation-{os.getpid()}.log",
            extra_args=("--standalone", "--device-network=127.0.0.0/8", *args.operator_arg),
        )
        log("starting the operator")
        await asyncio.to_thread(operator.start, 120)
        tasks.append(asyncio.create_task(watch_secrets(api, grants)))

        now = datetime.now(UTC).replace(microsecond=0)
        start, far = now - timedelta(hours=1), now + timedelta(days=30)
        expiring = args.burst + TRICKLE_BEFORE + TRICKLE_AFTER
        long_lived = [grant_manifest(i, cameras, start, far) for i in range(args.grants - expiring)]
        log(f"creating {len(long_lived)} long-lived grants")
        await api.create_all(long_lived)
        refs = {f"{m['metadata']['namespace']}/{m['metadata']['name']}" for m in long_lived}
        await wait_issued(grants, refs, args.timeout_minutes * 60)

        end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=args.lead_seconds)
        figures.end = end
        expiring_manifests = []
        for k in range(expiring):
            index = args.grants - expiring + k
            ends_at = end if k < args.burst else end + timedelta(seconds=k - args.burst - TRICKLE_BEFORE)
            manifest = grant_manifest(index, cameras, start, ends_at)
            ref = f"{department(index % DEPARTMENTS)}/{grant_name(index)}"
            (figures.burst if k < args.burst else figures.trickle).append(ref)
            grants.ends[ref] = ends_at
            expiring_manifests.append(manifest)
        # The trickle's early grants must exist before they end: created first, burst last.
        expiring_manifests.sort(key=lambda m: m["spec"]["period"]["end"])
        log(f"creating {expiring} expiring grants: {args.burst} end at {end:%H:%M:%S}, a trickle around it")
        await api.create_all(expiring_manifests)
        figures.active_before_end = await wait_issued(
            grants, set(figures.burst), (end - datetime.now(UTC)).total_seconds() - 1
        )
        figures.grants = len(grants.issued)
        log(f"{figures.grants} grants issued; probing the gateway until the trickle's last has ended")

        figures.loads["before the burst"] = load_average()
        client_tls = ssl.create_default_context()
        client_tls.check_hostname = False
        client_tls.verify_mode = ssl.CERT_NONE  # the operator's private certificate, on loopback
        connector = aiohttp.TCPConnector(ssl=client_tls)
        async with aiohttp.ClientSession(connector=connector, headers=operator.decision_headers()) as session:
            url = f"{operator.decision_url}/v1/decide"
            sample = figures.burst[: args.probe_sample] + figures.trickle
            probes = [
                probe(session, url, grants, ref, f"{OWNER}/{cameras[(int(ref.rsplit('-', 1)[1]) * 7) % len(cameras)]}")
                for ref in sample
            ]
            assert operator.process is not None
            pids = {**control_plane_pids(cluster.cluster_dir), "operator": operator.process.pid}
            await asyncio.gather(*probes, measure_burst(grants, figures, pids, args.profile))
        figures.loads["after the trickle"] = load_average()
        await wait_deleted(grants, set(figures.burst + figures.trickle), patience=60)
        figures.histogram = revocation_histogram(await asyncio.to_thread(operator.get, "/metrics"))
        assert operator.process is not None
        figures.operator_rss_mb = peak_rss_mb(operator.process.pid)
        return grants
    finally:
        for task in tasks:
            task.cancel()
        if api is not None:
            await api.close()
        if operator is not None:
            operator.stop()
        sim.stop()
        if cluster is not None:
            leftovers = cluster.stop()
            log(f"cluster stopped{f'; killed leftover pids {leftovers}' if leftovers else ''}")


async def measure_burst(grants: Grants, figures: Figures, pids: dict[str, int], profile: bool) -> None:
    """CPU time per process (and a py-spy profile of the operator) from just before the burst until it is cleared."""
    assert figures.end is not None
    await asyncio.sleep(max(0.0, (figures.end - datetime.now(UTC)).total_seconds() - 1))
    figures.active_at_end = len(grants.issued - set(grants.deleted_at))
    meter = CpuMeter(pids)
    recording = Profile(pids["operator"], ARTIFACTS / f"profile-burst-operator-{os.getpid()}.txt")
    if profile:
        recording.start()
    meter.start()
    started = time.monotonic()
    figures.loads["burst"] = load_average()
    await wait_deleted(grants, set(figures.burst), patience=120)
    meter.stop()
    recording.stop()
    figures.burst_cpu = meter.summary(time.monotonic() - started)
    if profile:
        figures.burst_profile = recording.summary()


async def wait_deleted(grants: Grants, expected: set[str], patience: float) -> None:
    deadline = time.monotonic() + patience
    while not expected <= set(grants.deleted_at) and time.monotonic() < deadline:
        grants.deleted_changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(grants.deleted_changed.wait(), timeout=1)


def peak_rss_mb(pid: int) -> float:
    found = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else math.nan


_BUCKET = re.compile(r'^camfleet_revocation_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$', re.MULTILINE)


def revocation_histogram(metrics: str) -> dict[float, float]:
    return {float(bound): float(count) for bound, count in _BUCKET.findall(metrics)}


def histogram_quantile(histogram: dict[float, float], fraction: float) -> str:
    """The smallest bucket bound that holds `fraction` of the samples ("≤ 0.25 s")."""
    total = histogram.get(math.inf, 0.0)
    for bound, count in sorted(histogram.items()):
        if total and count >= fraction * total:
            return f"≤ {bound:g} s" if bound != math.inf else "> largest bucket"
    return "no samples"


# -- the report --------------------------------------------------------------------------------------------


def delays(grants: Grants, refs: list[str], seen: dict[str, datetime]) -> list[float]:
    return [(seen[ref] - grants.ends[ref]).total_seconds() for ref in refs if ref in seen]


def describe(values: list[float], expected: int) -> str:
    if not values:
        return "none observed"
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(values):.2f} s ({len(values)}/{expected})"


def rows(grants: Grants, figures: Figures, args: argparse.Namespace) -> list[Row]:
    burst_secrets = delays(grants, figures.burst, grants.deleted_at)
    trickle_secrets = delays(grants, figures.trickle, grants.deleted_at)
    all_secrets = burst_secrets + trickle_secrets
    sample = figures.burst[: args.probe_sample]
    burst_gateway = delays(grants, sample, grants.refused_at)
    trickle_gateway = delays(grants, figures.trickle, grants.refused_at)
    cleared = max(burst_secrets) if len(burst_secrets) == len(figures.burst) else math.inf
    p99_all = percentile(all_secrets, 0.99) if all_secrets else math.inf
    n_exp = len(figures.burst) + len(figures.trickle)
    return [
        ("grants active (with a token) 1 s before T", f"{figures.active_at_end}",
         f"{args.grants - TRICKLE_BEFORE} (the trickle's first {TRICKLE_BEFORE} have ended)",
         verdict(figures.active_at_end >= args.grants - TRICKLE_BEFORE)),
        ("Secret deleted after expiry, all expiring", describe(all_secrets, n_exp), f"p99 ≤ {TARGET_P99:g} s",
         verdict(p99_all <= TARGET_P99)),
        (f"  the {len(figures.burst)} of the burst", describe(burst_secrets, len(figures.burst)), "", ""),
        ("  the trickle (one a second)", describe(trickle_secrets, len(figures.trickle)), "", ""),
        ("burst cleared (last Secret deleted) after", f"{cleared:.2f} s", f"≤ {TARGET_BURST_CLEARED:g} s",
         verdict(cleared <= TARGET_BURST_CLEARED)),
        (f"gateway refuses, burst sample of {len(sample)}", describe(burst_gateway, len(sample)), "", ""),
        ("gateway refuses, trickle", describe(trickle_gateway, len(figures.trickle)), "", ""),
        ("operator histogram (all): p50 / p99", f"{histogram_quantile(figures.histogram, 0.5)} / "
         f"{histogram_quantile(figures.histogram, 0.99)}", "", ""),
        ("operator peak RSS", f"{figures.operator_rss_mb:.0f} MB", "", ""),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=10_000, help="active grants in all")
    parser.add_argument("--burst", type=int, default=1_000, help="grants ending at the same instant")
    parser.add_argument("--cameras", type=int, default=30, help="owner cameras the grants name")
    parser.add_argument("--probe-sample", type=int, default=20, help="burst grants asked about at the gateway")
    parser.add_argument("--lead-seconds", type=int, default=120, help="from creating the expiring grants to T")
    parser.add_argument("--timeout-minutes", type=float, default=30)
    parser.add_argument("--operator-arg", action="append", default=[], help="extra flag for `camfleet run`")
    parser.add_argument("--profile", action="store_true", help="py-spy the operator during the burst")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    started_load = load_average()
    figures = Figures()
    grants = asyncio.run(run(args, figures))
    notes = [
        f"Grants: live view of Unconditional cameras (active at once, R10) in {DEPARTMENTS} grantee departments, "
        f"each naming 3 of {args.cameras} cameras; the operator with default flags "
        f"`{' '.join(('--standalone', *args.operator_arg))}`.",
        f"Expiring: {args.burst} grants end at {figures.end:%H:%M:%S} UTC exactly, and one grant ends every second "
        f"from {TRICKLE_BEFORE} s before to {TRICKLE_AFTER} s after; the other grants stay active throughout.",
        "Secret deleted: when a watch on the grantees' token Secrets saw the deletion (upper bound of the gateway's "
        f"refusal, which happens first in the same pass). Gateway refuses: first `revoked` answer, asked every "
        f"{PROBE_EVERY * 1000:.0f} ms. Histogram: the operator's camfleet_revocation_delay_seconds, bucket bounds.",
        f"CPU from 1 s before the burst until its last Secret was deleted: {figures.burst_cpu}.",
        "Load average: " + "; ".join(f"{phase} {load}" for phase, load in figures.loads.items()) + ".",
    ]
    if figures.burst_profile:
        libraries, callers, functions = figures.burst_profile
        notes.append(f"py-spy (operator, burst): by library: {libraries}. On behalf of: {callers}. "
                     f"Functions: {functions}.")  # fmt: skip
    command = "bench/revocation.py " + " ".join(sys.argv[1:])
    write_section("Revocation", command, rows(grants, figures, args), notes, started_load)


if __name__ == "__main__":
    main()
