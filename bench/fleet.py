"""N cameras to Ready on the local control plane, compared with the raw API write rate of the same run.

    .venv/bin/python bench/fleet.py --cameras 10000 [--replicas 2] [--cameras-per-recorder 50]

In one private cluster (`camfleet-bench-<pid>`, with the API server's audit log on):

1. setup: simulator with N devices, a storage class, N static volumes, one RecordingPolicy selecting every
   camera (with `spec.camerasPerRecorder` K when K > 1), N Secrets and N Cameras, all created before the
   operator runs;
2. build-up: the real operator starts (`--replicas R` processes: `--standalone` when R is 1, else
   `--sharding --shard-id fleet-<i>`); the clock runs from their start until every Camera is Ready (device
   configured, volume bound, recorder pod Running), as seen through a watch;
3. idle: once the fleet has converged (every camera Ready, no camera changed and no operator write for a while),
   the API writes over `--idle-minutes`, the operator's apart from the control plane's own (leases, node
   heartbeats), and the operator's CPU per device pass (healthy re-verifications: nothing changed);
4. restart: new operator processes; the time until every camera has had a device pass again, and their writes;
5. baseline: with the operator stopped, a plain client (`--baseline-concurrency` requests in flight, plain
   HTTP/JSON) creates N Cameras, N/K volume claims and N/K recorder Deployments in another namespace.

Each run's figures are also kept in .artifacts/bench/fleet-runs.json, so that a run with 2 replicas prints its
throughput (cameras Ready per second) against the latest 1-replica run of the same size and grouping.

Prints the figures and replaces this benchmark's section of bench/RESULTS.md. Every process it starts
(control plane, simulator, operator) is stopped on the way out, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apiserver
import fleet_manifests as manifests
import memory
from camfleet.devcluster.cluster import LocalCluster, session_cluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.recording import groups, workloads
from camfleet.sim.fleet import camera_ids
from kube_client import BenchApi
from processes import CpuMeter, Profile, control_plane_pids
from report import ARTIFACTS, REPO, Row, load_average, verdict, write_section

FLEET_NAMESPACE = "bench-fleet"
BASELINE_NAMESPACE = "bench-baseline"
CAMERAS_PATH = f"/apis/camfleet.io/v1alpha1/namespaces/{FLEET_NAMESPACE}/cameras"
# kwok nodes allow 64 CPUs each and a recorder asks for 100m: 640 recorders per node.
RECORDERS_PER_NODE = 600
QUIET_SECONDS = 30
DEVICE_FLAGS = ("--device-network=127.0.0.0/8",)
RUNS = ARTIFACTS / "fleet-runs.json"


def operator_flags(replicas: int, index: int) -> tuple[str, ...]:
    """One replica alone runs standalone; several shard the cameras (each its own shard id)."""
    mode = ("--standalone",) if replicas == 1 else ("--sharding", "--shard-id", f"fleet-{index}")
    return (*mode, *DEVICE_FLAGS)


@dataclass
class Figures:
    cameras: int
    replicas: int = 1
    cameras_per_recorder: int = 1
    recorder_pods: int = -1
    placement: str = ""  # grouped cameras against the group Deployments' members, at the end of the build-up
    placement_idle: str = ""  # the same once converged
    misplaced: int = 0
    setup_seconds: float = math.nan
    setup_writes: int = 0
    ready_seconds: float = math.nan
    ready_count: int = 0
    first_ready_seconds: float = math.nan
    run_verbs: Counter[str] = field(default_factory=Counter)
    operator_run_requests: Counter[str] = field(default_factory=Counter)
    operator_run_writes: Counter[str] = field(default_factory=Counter)
    peak_rss_mb: list[float] = field(default_factory=list)  # per replica
    idle_rss_mb: list[float] = field(default_factory=list)
    trimmed_rss_mb: list[float] = field(default_factory=list)  # with --trim: idle RSS after malloc_trim(0)
    settle_seconds: float = math.nan
    settled: bool = False
    idle_passes: int = 0
    idle_operator_cpu: float = math.nan
    idle_minutes: float = 0.0
    idle_operator_writes: Counter[str] = field(default_factory=Counter)
    idle_lease_writes: int = 0
    idle_other_writes: Counter[str] = field(default_factory=Counter)
    resync_seconds: float = math.nan
    resync_passes: int = 0
    resync_limit_seconds: float = math.nan
    ready_limit_seconds: float = math.nan
    resync_operator_writes: Counter[str] = field(default_factory=Counter)
    resync_operator_requests: Counter[str] = field(default_factory=Counter)
    restart_peak_rss_mb: list[float] = field(default_factory=list)
    baseline_seconds: float = math.nan
    baseline_objects: int = 0
    baseline_verbs: Counter[str] = field(default_factory=Counter)
    loads: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, str] = field(default_factory=dict)
    cpu_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    profiles: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    memory: tuple[float, str, str, str] | None = None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()}] {message}", flush=True)


def trimmed_mb(pid: int) -> float:
    """VmRSS after glibc's malloc_trim(0) in the process (called through gdb): what is left is held, what went
    was freed heap the allocator kept (fragmentation). NaN without gdb or when the call fails."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return math.nan
    command = [gdb, "-p", str(pid), "-batch", "-ex", "call (int)malloc_trim(0)"]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    return memory_mb(pid, "VmRSS") if done.returncode == 0 else math.nan


def memory_mb(pid: int, field_name: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


# -- watching readiness ------------------------------------------------------------------------------------


class ReadyWatch:
    """Every Camera of the fleet namespace, and the moment each first became Ready (one list, then a watch)."""

    def __init__(self, api: BenchApi) -> None:
        self._api = api
        self.ready_at: dict[str, float] = {}
        self.seen: set[str] = set()
        self.reasons: dict[str, str] = {}
        self.changed = asyncio.Event()
        self.last_change = time.monotonic()

    def _note(self, camera: dict[str, Any]) -> None:
        name = camera["metadata"]["name"]
        self.last_change = time.monotonic()
        self.seen.add(name)
        ready = next((c for c in (camera.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
        self.reasons[name] = ready["reason"] if ready else "no status yet"
        if name not in self.ready_at and ready is not None and ready["status"] == "True":
            self.ready_at[name] = time.monotonic()
            self.changed.set()

    def waiting_for(self) -> str:
        """Why the cameras that are not Ready yet are not (their Ready reason now), the commonest first."""
        waiting = Counter(reason for name, reason in self.reasons.items() if name not in self.ready_at)
        return ", ".join(f"{reason} {count}" for reason, count in waiting.most_common(4))

    async def _list(self) -> str:
        token, version = "", ""
        while True:
            page = await self._api.get_json(f"{CAMERAS_PATH}?limit=500" + (f"&continue={token}" if token else ""))
            for camera in page["items"]:
                self._note(camera)
            version = version or page["metadata"]["resourceVersion"]
            token = page["metadata"].get("continue") or ""
            if not token:
                return version

    async def run(self) -> None:
        version = await self._list()
        while True:
            try:
                async for event in self._api.watch(CAMERAS_PATH, version):
                    if event["type"] == "ERROR":
                        version = await self._list()  # 410 Gone: history compacted, start over
                        break
                    version = event["object"]["metadata"].get("resourceVersion", version)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._note(event["object"])
            except Exception as error:  # a dropped stream is resumed, whatever dropped it
                log(f"camera watch interrupted ({type(error).__name__}); resuming")
                await asyncio.sleep(1)

    async def wait_all(self, expected: int, started: float, patience: float) -> bool:
        last_report = time.monotonic()
        while len(self.ready_at) < expected:
            if time.monotonic() - started > patience:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=5)
            if time.monotonic() - last_report >= 15:
                last_report = time.monotonic()
                elapsed = time.monotonic() - started
                log(f"{len(self.ready_at)}/{expected} Ready after {elapsed:.0f}s; not yet: {self.waiting_for()}")
        return True


# -- the API server's view ---------------------------------------------------------------------------------


class ApiServerView:
    def __init__(self, api: BenchApi, audit_log: Path) -> None:
        self._api = api
        self.audit = apiserver.AuditLog(audit_log)

    async def totals(self) -> Counter[tuple[str, str]]:
        return apiserver.request_totals(await self._api.get_text("/metrics"))

    async def delta_since(self, before: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
        after = await self.totals()
        after.subtract(before)
        return +after

    def window(self) -> Counter[tuple[str, str, str]]:
        """(client, verb, resource) of the requests logged since the previous window."""
        return apiserver.audit_counts(self.audit.take())

    async def wait_converged(self, watch: ReadyWatch, expected: int, quiet: float, limit: float) -> tuple[float, bool]:
        """Seconds until the fleet converged (at most `limit`), and whether it did: every camera Ready, and for
        `quiet` seconds neither an operator write (audit log) nor a change to any camera (watch). Operator writes
        alone missed the tail of a 10,000-camera build-up: cameras still turning Ready write through the status
        subresource in bursts with quiet gaps, and the idle minute began inside one."""
        started = last_write = time.monotonic()
        while time.monotonic() - started < limit:
            await asyncio.sleep(5)
            if apiserver.client_writes(self.window(), "operator", heartbeats=False):
                last_write = time.monotonic()
            now = time.monotonic()
            all_ready = len(watch.ready_at) >= expected
            if all_ready and now - last_write >= quiet and now - watch.last_change >= quiet:
                return now - started, True
        return time.monotonic() - started, False


class Phase:
    """CPU seconds per process over one phase, and optionally py-spy profiles of the operator and simulator."""

    def __init__(self, name: str, pids: dict[str, int], figures: Figures, profile: bool) -> None:
        self.name, self.figures = name, figures
        self.meter = CpuMeter(dict(pids))
        self.profiles: dict[str, Profile] = {}
        self._profile = profile
        self.started = time.monotonic()

    def __enter__(self) -> Phase:
        self.figures.loads[f"{self.name} start"] = load_average()
        self.meter.start()
        self.started = time.monotonic()
        return self

    def add(self, name: str, pid: int, started_now: bool = True) -> None:
        """Measure (and maybe profile) another process; one `started_now` has spent all its CPU in this phase."""
        self.meter.pids[name] = pid
        if not started_now:
            self.meter.start_one(name)
        if self._profile and name in ("operator-0", "simulator"):
            profile = Profile(pid, ARTIFACTS / f"profile-{self.name}-{name}-{os.getpid()}.txt")
            if profile.start():
                self.profiles[name] = profile

    def __exit__(self, *_: object) -> None:
        for profile in self.profiles.values():
            profile.stop()
        self.figures.cpu_seconds[self.name] = dict(self.meter.stop())
        self.figures.cpu[self.name] = self.meter.summary(time.monotonic() - self.started)
        self.figures.loads[f"{self.name} end"] = load_average()
        for name, profile in self.profiles.items():
            self.figures.profiles[f"{self.name}, {name}"] = profile.summary()


# -- phases ------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    """What the phases share."""

    args: argparse.Namespace
    figures: Figures
    cluster: LocalCluster
    sim: SimProcess
    api: BenchApi
    view: ApiServerView
    ids: list[str]
    operators: list[OperatorProcess] = field(default_factory=list)

    @property
    def memray_output(self) -> Path:
        return ARTIFACTS / f"memray-fleet-{os.getpid()}.bin"

    def phase(self, name: str) -> Phase:
        assert self.sim.process is not None
        pids = {**control_plane_pids(self.cluster.cluster_dir), "simulator": self.sim.process.pid}
        return Phase(name, {**pids, "bench": os.getpid()}, self.figures, self.args.profile)

    def replica_set(self) -> list[OperatorProcess]:
        """`--replicas` new operator processes (not started); stopped at the end of the run whatever happens.
        With --memray, the first replica of the first set (build-up and idle) runs under memray."""
        replicas, first = self.args.replicas, not self.operators
        made = [
            OperatorProcess(
                kubeconfig=self.cluster.kubeconfig,
                log_path=ARTIFACTS / f"operator-fleet-{os.getpid()}-{index}.log",
                extra_args=(*operator_flags(replicas, index), *self.args.operator_arg),
                launcher=memory.launcher(self.memray_output) if self.args.memray and first and index == 0 else (),
            )
            for index in range(replicas)
        ]
        self.operators += made
        return made

    async def start(self, replicas: list[OperatorProcess], phase: Phase) -> None:
        log(f"starting {len(replicas)} operator process(es) ({' '.join(replicas[0].extra_args)})")
        # Replicas start together, as a Deployment's do; the dev gateway's credential is issued once for all (each
        # start would otherwise create the same Secret at once).
        first = replicas[0]
        if first.gateway is not None and first.gateway_token is None:
            token = await asyncio.to_thread(first.issue_gateway_credential, first.gateway, first.gateway_departments)
            for operator in replicas:
                operator.gateway_token = token
        await asyncio.gather(*(asyncio.to_thread(operator.start, 120) for operator in replicas))
        for index, operator in enumerate(replicas):
            assert operator.process is not None
            phase.add(f"operator-{index}", operator.process.pid)


async def start_cluster(cameras: int) -> LocalCluster:
    policy = ARTIFACTS / "audit-policy.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(apiserver.AUDIT_POLICY)
    os.environ["KWOK_KUBE_AUDIT_POLICY"] = str(policy)  # kwokctl's default for --kube-audit-policy
    cluster = session_cluster("camfleet-bench")
    cluster.nodes = max(2, math.ceil(cameras / RECORDERS_PER_NODE) + 1)
    log(f"starting the local control plane {cluster.name} with {cluster.nodes} kwok nodes")
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(cluster.kubectl, "apply", "--server-side", "-f", str(REPO / "crds"))
    await asyncio.to_thread(cluster.kubectl, "wait", "--for=condition=Established", "crd", "--all")
    return cluster


async def setup_fleet(bench: Bench) -> None:
    api, figures = bench.api, bench.figures
    await api.create_all([manifests.namespace(FLEET_NAMESPACE), manifests.namespace(BASELINE_NAMESPACE)])
    grouping, districts, count = bench.args.cameras_per_recorder, bench.args.districts, len(bench.ids)
    policies = (
        [manifests.recording_policy(FLEET_NAMESPACE, grouping)]
        if districts == 1
        else [manifests.recording_policy(FLEET_NAMESPACE, grouping, district) for district in range(districts)]
    )
    await api.create_all([manifests.storage_class(), *policies])
    if grouping > 1:
        sizes = Counter(manifests.district_of(index, count, districts) for index in range(count))
        groups = sum(math.ceil(size / grouping) for size in sizes.values())
        objects = [manifests.unclaimed_volume(FLEET_NAMESPACE, index) for index in range(groups)]
    else:
        objects = [manifests.static_volume(FLEET_NAMESPACE, camera) for camera in bench.ids]
    objects += [manifests.credentials(FLEET_NAMESPACE, camera) for camera in bench.ids]
    for index, camera in enumerate(bench.ids):
        district = manifests.district_of(index, count, districts)
        objects.append(manifests.camera(FLEET_NAMESPACE, camera, bench.sim.device_url(camera), district))
    log(f"creating {len(objects)} volumes, Secrets and Cameras")
    figures.setup_seconds = await api.create_all(objects)
    figures.setup_writes = len(objects)


async def recorder_pods(api: BenchApi) -> int:
    """Recorder pods of the fleet namespace now (a group's recorder is one pod for K cameras)."""
    selector = urllib.parse.quote(f"{workloads.COMPONENT_LABEL} in (recorder,recorder-group)")
    page = await api.get_json(f"/api/v1/namespaces/{FLEET_NAMESPACE}/pods?labelSelector={selector}")
    return len(page["items"])


async def group_placement(api: BenchApi, cameras: int) -> tuple[str, int]:
    """Who records each camera, as its group Deployments' members annotations say (what the group pods record),
    and how many cameras are recorded by no group or by several: a camera Ready but in no group's members is a
    camera nobody records. Returns the text and the count of such cameras (0 when every camera is recorded once)."""
    selector = urllib.parse.quote(f"{workloads.COMPONENT_LABEL}={groups.GROUP_COMPONENT}")
    page = await api.get_json(f"/apis/apps/v1/namespaces/{FLEET_NAMESPACE}/deployments?labelSelector={selector}")
    recorded: Counter[str] = Counter()
    ready_groups = 0
    for body in page["items"]:
        members = groups.parse_members((body["metadata"].get("annotations") or {}).get(groups.MEMBERS_ANNOTATION))
        recorded.update(member.camera for member in members if member.mode is groups.MemberMode.RECORD)
        ready_groups += int((body.get("status") or {}).get("readyReplicas") or 0) > 0
    once = sum(1 for count in recorded.values() if count == 1)
    several = sum(1 for count in recorded.values() if count > 1)
    nowhere = cameras - len(recorded)
    text = (
        f"{once} of {cameras} recorded by exactly one group; {nowhere} by none, {several} by several; "
        f"{ready_groups} of {len(page['items'])} group Deployments with a ready pod"
    )
    return text, nowhere + several


def pids_of(replicas: list[OperatorProcess]) -> list[int]:
    return [operator.process.pid for operator in replicas if operator.process is not None]


async def build_up(bench: Bench, watch: ReadyWatch) -> list[OperatorProcess]:
    figures, view = bench.figures, bench.view
    replicas = bench.replica_set()
    before = await view.totals()
    view.audit.skip()
    with bench.phase("build-up") as phase:
        await bench.start(replicas, phase)
        all_ready = await watch.wait_all(figures.cameras, phase.started, bench.args.timeout_minutes * 60)
    figures.ready_count = len(watch.ready_at)
    figures.ready_limit_seconds = bench.args.timeout_minutes * 60
    if all_ready:
        figures.ready_seconds = max(watch.ready_at.values()) - phase.started
    if watch.ready_at:
        figures.first_ready_seconds = min(watch.ready_at.values()) - phase.started
    figures.peak_rss_mb = [memory_mb(pid, "VmHWM") for pid in pids_of(replicas)]
    figures.recorder_pods = await recorder_pods(bench.api)
    if figures.cameras_per_recorder > 1:
        figures.placement, _ = await group_placement(bench.api, figures.cameras)
        log(f"placement: {figures.placement}")
    figures.run_verbs = apiserver.by_verb(await view.delta_since(before))
    run = view.window()
    figures.operator_run_requests = apiserver.client_requests(run, "operator")
    figures.operator_run_writes = apiserver.client_writes(run, "operator")
    log(f"{figures.ready_count}/{figures.cameras} Ready after {time.monotonic() - phase.started:.0f}s")
    return replicas


async def idle(bench: Bench, replicas: list[OperatorProcess], watch: ReadyWatch) -> None:
    figures, view, minutes = bench.figures, bench.view, bench.args.idle_minutes
    log(f"waiting until every camera is Ready and nothing changed or was written for {QUIET_SECONDS}s")
    figures.settle_seconds, figures.settled = await view.wait_converged(
        watch, figures.cameras, QUIET_SECONDS, limit=600
    )
    log(f"{'converged' if figures.settled else 'NOT converged'}; idle for {minutes:g} min")
    if figures.cameras_per_recorder > 1:
        figures.placement_idle, figures.misplaced = await group_placement(bench.api, figures.cameras)
        log(f"placement once converged: {figures.placement_idle}")
    passes_before = await asyncio.to_thread(device_passes, replicas)
    view.audit.skip()
    with bench.phase("idle") as phase:
        for index, pid in enumerate(pids_of(replicas)):
            phase.add(f"operator-{index}", pid, started_now=False)
        await asyncio.sleep(minutes * 60)
    figures.idle_passes = await asyncio.to_thread(device_passes, replicas) - passes_before
    used = figures.cpu_seconds.get("idle", {})
    figures.idle_operator_cpu = sum(seconds for name, seconds in used.items() if name.startswith("operator-"))
    window = view.window()
    figures.idle_minutes = minutes
    figures.idle_operator_writes = apiserver.client_writes(window, "operator", heartbeats=False)
    figures.idle_lease_writes = sum(apiserver.client_writes(window, "operator").values()) - sum(
        figures.idle_operator_writes.values()
    )
    figures.idle_other_writes = +Counter(
        {who: n for who, n in apiserver.writers(window).items() if who not in ("operator", "bench")}
    )
    figures.idle_rss_mb = [memory_mb(pid, "VmRSS") for pid in pids_of(replicas)]
    if bench.args.trim:  # after every idle figure is read: the call stops the process for a moment
        figures.trimmed_rss_mb = [await asyncio.to_thread(trimmed_mb, pid) for pid in pids_of(replicas)]
        log(f"RSS after malloc_trim(0): {_mb(figures.trimmed_rss_mb)}")


_PASSES = re.compile(r"^camfleet_device_pass_seconds_count (\S+)$", re.MULTILINE)


def device_passes(replicas: list[OperatorProcess], attempts: int = 6) -> int:
    """Device passes so far, summed over the replicas (each counts its own in /metrics). An operator busy with
    10,000 cameras right after its start can leave /metrics unanswered for its 5 s: asked again, not a failure."""
    total = 0
    for operator in replicas:
        for attempt in range(attempts):
            try:
                text = operator.get("/metrics?name[]=camfleet_device_pass_seconds_count")
                break
            except OSError:  # urllib's timeout and refusal are both OSErrors
                if attempt == attempts - 1:
                    raise
        match = _PASSES.search(text)
        total += int(float(match.group(1))) if match else 0
    return total


def restart_limit_minutes(args: argparse.Namespace) -> float:
    """How long the restart phase waits for every camera's device pass (`--timeout-minutes` unless told)."""
    limit = args.restart_timeout_minutes
    return float(args.timeout_minutes if limit is None else limit)


async def restart(bench: Bench, replicas: list[OperatorProcess]) -> list[OperatorProcess]:
    figures, view = bench.figures, bench.view
    log("restarting the operator")
    await asyncio.gather(*(asyncio.to_thread(operator.stop) for operator in replicas))
    if bench.args.memray:
        figures.memory = await asyncio.to_thread(memory.peak_breakdown, bench.memray_output)
    fresh = bench.replica_set()
    view.audit.skip()
    with bench.phase("restart") as phase:
        await bench.start(fresh, phase)
        deadline = phase.started + restart_limit_minutes(bench.args) * 60
        passes = 0
        while passes < figures.cameras and time.monotonic() < deadline:
            await asyncio.sleep(1)  # polled: the count lives in the operators' /metrics
            passes = await asyncio.to_thread(device_passes, fresh)
        figures.resync_passes = passes
        figures.resync_limit_seconds = deadline - phase.started
        figures.resync_seconds = time.monotonic() - phase.started if passes >= figures.cameras else math.nan
        await asyncio.sleep(10)  # writes that follow the last pass (status, events) still belong to the resync
    window = view.window()
    figures.resync_operator_writes = apiserver.client_writes(window, "operator")
    figures.resync_operator_requests = apiserver.client_requests(window, "operator")
    figures.restart_peak_rss_mb = [memory_mb(pid, "VmHWM") for pid in pids_of(fresh)]
    log(f"{passes} device passes after the restart in {time.monotonic() - phase.started:.0f}s")
    return fresh


async def baseline(bench: Bench) -> None:
    figures, api = bench.figures, bench.api
    cameras = [manifests.camera(BASELINE_NAMESPACE, camera, bench.sim.device_url(camera)) for camera in bench.ids]
    objects = manifests.baseline_objects(cameras, bench.args.cameras_per_recorder)
    figures.baseline_objects = len(objects)
    # The stopped operator's admission webhooks (kopf keeps their configuration, named camfleet.io) would refuse
    # every Camera with 500: nobody answers them. A plain client's cluster has none.
    for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        await asyncio.to_thread(bench.cluster.kubectl, "delete", kind, "camfleet.io", "--ignore-not-found")
    log(f"baseline: creating {len(objects)} Cameras, claims and Deployments with {api.concurrency} in flight")
    before = await bench.view.totals()
    with bench.phase("baseline"):
        figures.baseline_seconds = await api.create_all(objects)
    figures.baseline_verbs = apiserver.by_verb(await bench.view.delta_since(before))


# -- the report --------------------------------------------------------------------------------------------


def _mb(values: list[float]) -> str:
    return " / ".join(f"{value:.0f}" for value in values) + " MB" if values else "n/a"


def placement_rows(figures: Figures) -> list[Row]:
    if figures.cameras_per_recorder <= 1:
        return []
    return [
        ("group members at the end of the build-up (members annotations)", figures.placement, "", ""),
        (
            "group members once converged",
            figures.placement_idle,
            "every camera in exactly one group",
            verdict(bool(figures.placement_idle) and figures.misplaced == 0),
        ),
    ]


def rss_target(replicas: int) -> tuple[str, float]:
    """The issue's RSS target per replica: 300 MB for one, 120 MB each for four (or more); none in between."""
    if replicas == 1:
        return "≤ 300 MB", 300.0
    if replicas >= 4:
        return "≤ 120 MB each", 120.0
    return "", math.inf


def resync_target(replicas: int) -> tuple[str, float]:
    """≤ 120 s with one replica, ≤ 60 s with two or more (issue 20)."""
    return ("≤ 120 s", 120.0) if replicas == 1 else ("≤ 60 s", 60.0)


def cameras_per_second(figures: Figures) -> float:
    return figures.ready_count / figures.ready_seconds if figures.ready_count == figures.cameras else math.nan


def remember_run(figures: Figures) -> None:
    """Keep this run's throughput, keyed by size and grouping and replicas, for later runs to compare with."""
    runs = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    key = f"{figures.cameras}/{figures.cameras_per_recorder}/{figures.replicas}"
    runs[key] = {"camerasPerSecond": cameras_per_second(figures), "at": time.strftime("%Y-%m-%d %H:%M UTC")}
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    RUNS.write_text(json.dumps(runs, indent=1, allow_nan=True))


def throughput_row(figures: Figures) -> Row:
    """Cameras Ready per second against the latest 1-replica run of the same size and grouping."""
    runs = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    mine = cameras_per_second(figures)
    single = runs.get(f"{figures.cameras}/{figures.cameras_per_recorder}/1")
    label = f"throughput, {figures.replicas} replica(s) vs 1 (cameras Ready per second)"
    if figures.replicas == 1 or single is None or not single["camerasPerSecond"] > 0:
        why = "this run is the 1-replica run" if figures.replicas == 1 else "no 1-replica run of this size yet"
        return (label, f"{mine:.2f}/s ({why})", "≥ 1.7 times with 2", "")
    ratio = mine / float(single["camerasPerSecond"])
    value = f"{ratio:.2f} times ({mine:.2f}/s vs {single['camerasPerSecond']:.2f}/s, run of {single['at']})"
    return (label, value, "≥ 1.7 times with 2", verdict(ratio >= 1.7) if figures.replicas == 2 else "")


def idle_rows(figures: Figures) -> list[Row]:
    idle_per_minute = sum(figures.idle_operator_writes.values()) / max(figures.idle_minutes, 1e-9)
    if figures.settled:
        idle_value, idle_met = f"{idle_per_minute:.1f}", verdict(idle_per_minute == 0)
    else:
        idle_value, idle_met = f"{idle_per_minute:.1f}, NOT converged: build-up's tail, not idle", "not measured"
    per_pass = figures.idle_operator_cpu / figures.idle_passes if figures.idle_passes else math.nan
    cpu_value = (
        f"{per_pass * 1000:.1f} ms ({figures.idle_operator_cpu:.1f} CPU-s / {figures.idle_passes} passes)"
        if figures.idle_passes
        else f"n/a: no device pass in the idle {figures.idle_minutes:g} min (resync interval longer)"
    )
    other = Counter({k: round(v / max(figures.idle_minutes, 1e-9)) for k, v in figures.idle_other_writes.items()})
    return [
        (f"operator API writes per idle minute ({figures.idle_minutes:g} min, after convergence)", idle_value, "0",
         idle_met),
        ("operator Lease renewals per idle minute (shard membership, sharder election)",
         f"{figures.idle_lease_writes / max(figures.idle_minutes, 1e-9):.0f}", "", ""),
        ("control plane's own writes per idle minute", apiserver.format_counts(other, 6), "", ""),
        ("operator CPU per healthy re-verification (idle CPU / device passes)", cpu_value, "≤ 5 ms",
         verdict(per_pass <= 0.005) if figures.idle_passes else ""),
    ]  # fmt: skip


def ready_value(figures: Figures) -> str:
    if math.isnan(figures.ready_seconds):  # --timeout-minutes passed first
        return f"{figures.ready_count}/{figures.cameras} within {figures.ready_limit_seconds:.0f} s (not all)"
    return f"{figures.ready_count}/{figures.cameras} in {figures.ready_seconds:.0f} s"


def resync_value(figures: Figures) -> str:
    if math.isnan(figures.resync_seconds):  # the phase's time limit passed first
        return f"not all within {figures.resync_limit_seconds:.0f} s ({figures.resync_passes} passes by then)"
    return f"{figures.resync_seconds:.0f} s ({figures.resync_passes} passes)"


def rows(figures: Figures) -> list[Row]:
    n, k, replicas = figures.cameras, figures.cameras_per_recorder, figures.replicas
    ready_met = figures.ready_seconds <= 300 if figures.ready_count == n else False
    objects = figures.baseline_objects
    baseline_rate = objects / figures.baseline_seconds
    ratio = figures.baseline_seconds / figures.ready_seconds
    resync_writes = sum(figures.resync_operator_writes.values())
    operator_requests = sum(figures.operator_run_requests.values())
    rss_text, rss_limit = rss_target(replicas)
    resync_text, resync_limit = resync_target(replicas)
    pods_limit = math.ceil(n / k)
    return [
        ("cameras Ready (from operator start)", ready_value(figures),
         "all in ≤ 300 s", verdict(ready_met)),
        ("first camera Ready after", f"{figures.first_ready_seconds:.1f} s", "", ""),
        (f"baseline: plain client, {n} Cameras + {pods_limit} claims + {pods_limit} Deployments",
         f"{objects} in {figures.baseline_seconds:.0f} s ({baseline_rate:.0f} writes/s)", "", ""),
        ("ratio baseline time / operator time (same grouping)", f"{ratio:.2f}", "≥ 0.5", verdict(ratio >= 0.5)),
        (f"recorder pods (camerasPerRecorder {k})", f"{figures.recorder_pods}", f"≤ {pods_limit}",
         verdict(0 <= figures.recorder_pods <= pods_limit)),
        *placement_rows(figures),
        ("API requests during build-up (all clients)", apiserver.format_counts(figures.run_verbs, 8), "", ""),
        ("operator requests during build-up", f"{operator_requests} ({operator_requests / n:.1f} per camera)",
         "", ""),
        ("operator writes during build-up", apiserver.format_counts(figures.operator_run_writes, 8), "", ""),
        (f"operator peak RSS (VmHWM) per replica, {replicas}", _mb(figures.peak_rss_mb), rss_text,
         verdict(max(figures.peak_rss_mb, default=math.nan) <= rss_limit) if rss_text else ""),
        (f"operator idle RSS per replica, {replicas}", _mb(figures.idle_rss_mb), rss_text,
         verdict(max(figures.idle_rss_mb, default=math.nan) <= rss_limit) if rss_text else ""),
        *([("operator RSS after malloc_trim(0) at the end of idle (--trim; the rest is held)",
            _mb(figures.trimmed_rss_mb), "", "")] if figures.trimmed_rss_mb else []),
        *idle_rows(figures),
        ("restart: every camera re-verified after", resync_value(figures), resync_text,
         verdict(figures.resync_seconds <= resync_limit)),
        ("restart: operator writes (unchanged objects)", f"{resync_writes}"
         + (f" ({apiserver.format_counts(figures.resync_operator_writes, 4)})" if resync_writes else ""), "0",
         verdict(resync_writes == 0)),
        ("restart: operator requests", apiserver.format_counts(figures.resync_operator_requests, 6), "", ""),
        ("operator peak RSS after restart, per replica", _mb(figures.restart_peak_rss_mb), rss_text,
         verdict(max(figures.restart_peak_rss_mb, default=math.nan) <= rss_limit) if rss_text else ""),
        throughput_row(figures),
    ]  # fmt: skip


def notes(figures: Figures, args: argparse.Namespace) -> list[str]:
    n, k = figures.cameras, figures.cameras_per_recorder
    flags = " ".join((*operator_flags(args.replicas, 0), *args.operator_arg))
    found = [
        f"Operators: {args.replicas} process(es), flags `{flags}` (others default; shard ids fleet-0.."
        f"fleet-{args.replicas - 1}). RecordingPolicy camerasPerRecorder: {k}"
        + (" (left out of the policy: 1 is today's behaviour)." if k == 1 else ".")
        + (
            f" {args.districts} RecordingPolicies, one per district of ~{n // args.districts} cameras."
            * (args.districts > 1)
        ),
        f"Setup (not timed against anything): {figures.setup_writes} volumes, Secrets and Cameras created in "
        f"{figures.setup_seconds:.0f} s by the bench client.",
        f"Baseline: {n} Cameras + {math.ceil(n / k)} PersistentVolumeClaims + {math.ceil(n / k)} recorder "
        f"Deployments (0 replicas, so no pods) POSTed by a plain asyncio client with {args.baseline_concurrency} "
        f"requests in flight, operator stopped and its webhook configurations removed; API requests: "
        f"{apiserver.format_counts(figures.baseline_verbs, 6)}.",
        "The operator's Ready time includes what the baseline leaves out: ONVIF passes against the simulator "
        "(same machine), volume binding by the PV controller, ReplicaSets and pods by the controller-manager, "
        "scheduler and kwok, all on the same cores.",
        f"Idle: measured after convergence (every camera Ready, and for {QUIET_SECONDS} s no operator write and "
        f"no camera change; {'reached' if figures.settled else 'NOT reached, gave up'} "
        f"{figures.settle_seconds:.0f} s after the build-up ended); writes are attributed by the audit log's user "
        f"agent. Device passes during the idle phase: {figures.idle_passes} (each a healthy re-verification: "
        "nothing had changed), operator CPU from /proc.",
        "CPU time per phase (from /proc): " + "; ".join(f"{name}: {cpu}" for name, cpu in figures.cpu.items()) + ".",
        "Load average per phase: " + "; ".join(f"{phase} {load}" for phase, load in figures.loads.items()) + ".",
    ]
    for where, (libraries, callers, functions) in figures.profiles.items():
        found.append(f"py-spy ({where}): by library: {libraries}. On behalf of: {callers}. Functions: {functions}.")
    if figures.memory is not None:
        peak_mb, libraries, callers, functions = figures.memory
        found.append(
            f"memray (operator of build-up and idle, which ran under memray and is slower for it): at the peak, "
            f"{peak_mb:.0f} MB of Python heap, by library: {libraries}. On behalf of: {callers}. "
            f"Allocated in: {functions}."
        )
    return found


# -- main --------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Figures:
    figures = Figures(cameras=args.cameras, replicas=args.replicas, cameras_per_recorder=args.cameras_per_recorder)
    cluster: LocalCluster | None = None
    sim = SimProcess(log_path=ARTIFACTS / f"sim-fleet-{os.getpid()}.log", cameras=args.cameras)
    bench: Bench | None = None
    api: BenchApi | None = None
    watcher: asyncio.Task[None] | None = None
    try:
        cluster = await start_cluster(args.cameras)
        await asyncio.to_thread(sim.start, 120)
        api = BenchApi(cluster.kubeconfig, concurrency=args.baseline_concurrency)
        view = ApiServerView(api, cluster.cluster_dir / "logs" / "audit.log")
        bench = Bench(args, figures, cluster, sim, api, view, camera_ids(args.cameras))
        await setup_fleet(bench)
        watch = ReadyWatch(api)
        watcher = asyncio.create_task(watch.run())
        replicas = await build_up(bench, watch)
        await idle(bench, replicas, watch)
        replicas = await restart(bench, replicas)
        await asyncio.gather(*(asyncio.to_thread(operator.stop) for operator in replicas))
        await baseline(bench)
        return figures
    finally:
        if watcher is not None:
            watcher.cancel()
        if api is not None:
            await api.close()
        for started in bench.operators if bench is not None else []:
            started.stop()
        sim.stop()
        if cluster is not None:
            if args.keep_audit_log:
                audit_log = cluster.cluster_dir / "logs" / "audit.log"
                if audit_log.exists():
                    shutil.copy(audit_log, ARTIFACTS / f"audit-fleet-{os.getpid()}.log")
            leftovers = cluster.stop()
            log(f"cluster stopped{f'; killed leftover pids {leftovers}' if leftovers else ''}")


def stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=1, help="operator processes (more than 1: sharded)")
    parser.add_argument(
        "--districts",
        type=int,
        default=1,
        help="RecordingPolicies, one per district of contiguous cameras (sharded replicas keep each grouped "
        "policy on one replica, so grouped fleets spread over replicas by district)",
    )
    parser.add_argument(
        "--cameras-per-recorder", type=int, default=1, help="the RecordingPolicy's spec.camerasPerRecorder"
    )
    parser.add_argument("--idle-minutes", type=float, default=5)
    parser.add_argument("--timeout-minutes", type=float, default=30, help="give up waiting for Ready after this")
    parser.add_argument(
        "--restart-timeout-minutes",
        type=float,
        default=None,
        help="give up waiting for every camera's device pass after the restart after this (default: --timeout-minutes)",
    )
    parser.add_argument("--baseline-concurrency", type=int, default=32)
    parser.add_argument(
        "--operator-arg", action="append", default=[], help="extra flag for `camfleet run` (repeatable)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the operator and simulator per phase")
    parser.add_argument("--memray", action="store_true", help="track the first operator's memory with memray")
    parser.add_argument(
        "--trim", action="store_true", help="after idle, have each operator give freed heap back (gdb, malloc_trim)"
    )
    parser.add_argument("--keep-audit-log", action="store_true", help="copy the audit log to .artifacts/bench")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # `timeout` and kill end it through the same clean-up
    started_load = load_average()
    figures = asyncio.run(run(args))
    command = "bench/fleet.py " + " ".join(sys.argv[1:])
    table_rows = rows(figures)  # before remember_run: a 2-replica run compares with the 1-replica run before it
    remember_run(figures)
    title = f"Fleet: {args.cameras} cameras" + (f", {args.replicas} replicas" if args.replicas > 1 else "")
    title += f", {args.cameras_per_recorder} per recorder" if args.cameras_per_recorder > 1 else ""
    title += f", {args.districts} districts" if args.districts > 1 else ""
    write_section(title, command, table_rows, notes(figures, args), started_load)


if __name__ == "__main__":
    main()
