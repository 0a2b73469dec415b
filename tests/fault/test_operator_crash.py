"""The operator SIGKILLed at random points of a rollout ends where an undisturbed operator ends.

Two fleets roll out at once, each under its own operator: the `calm` one is never touched; the
`crash` one is SIGKILLed a few times (seeded random points of its progress) and restarted with no
manual step. Both fleets have the same recorded cameras (by name), the same recording policy and the
same grants, one of them an emergency grant that expires during the run. At the end every camera of
the killed run must be in exactly the state of a camera of the calm run, with exactly one recorder
and one volume, and the expired grant must have lost its access as soon as an operator was running.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from camfleet.access.identity import APPROVER_ANNOTATION
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.sim_process import SimProcess
from tests.fault import fleet
from tests.fault.access import decide, secret_token
from tests.fault.support import (
    Captured,
    OperatorLauncher,
    apply_json,
    condition_summary,
    items,
    kill_hard,
    ready_count,
    uncaught_exceptions,
)
from tests.helpers import authorize_emergency, configure_authorities, get_json, wait_for

pytestmark = pytest.mark.fault

CAMERAS = 100
CALM_CAMERAS = 8
KILLS = 3
SEED = int(os.environ.get("CAMFLEET_FAULT_SEED", "9"))
EMERGENCY_SECONDS = 30
EMERGENCY_CAMERAS = ["cam-000", "cam-001", "cam-002"]
# Time the operator may take, while it runs, to revoke a grant past its expiry; the unit of the
# integration suite is 2 s with an idle operator, this one is rolling out 100 cameras on a shared machine.
REVOCATION_ALLOWANCE_SECONDS = 10


@dataclass
class Rollout:
    owner: str
    grantee: str
    cameras: list[str]
    expiry: datetime | None = None
    """When the emergency grant ends; set by `share`, which times it from when the grants are made."""


def roll_out(
    cluster: LocalCluster, prefix: str, count: int, sim: SimProcess, camera_ids: Iterator[str], captured: Captured
) -> Rollout:
    """The recorded cameras and their policy; the grants come with `share`, once the cameras are in."""
    owner, grantee = prefix, f"{prefix}-grantee"
    names = [f"cam-{index:03d}" for index in range(count)]
    objects = [fleet.namespace(owner), fleet.namespace(grantee), fleet.recording_policy(owner)]
    objects += fleet.recorded_cameras(owner, names, sim, camera_ids, captured)
    configure_authorities(cluster, grantee)  # the grantee may request emergency access (R12)
    apply_json(cluster, objects)
    return Rollout(owner, grantee, names)


def authorize_stamped(cluster: LocalCluster, owner: str, grantee: str, grant: str) -> None:
    """The emergency authority's authorization, made again until the stamping webhook answered it.

    This suite kills operators at will: an approval created while no webhook answered carries no stamp and never
    counts (only stamped identities do), so the officer makes it again, as a person refused would.
    """
    name = f"{grant}-authorization"
    deadline = time.monotonic() + 120
    while True:
        done = authorize_emergency(cluster, owner, grantee, grant)  # the emergency authority's member
        assert done.returncode == 0, done.stderr
        stored = get_json(cluster, "grantapproval", name, "-n", owner)
        if APPROVER_ANNOTATION in (stored.get("metadata", {}).get("annotations") or {}):
            return
        assert time.monotonic() < deadline, "no webhook stamped the emergency authorization in 120 s"
        cluster.kubectl("delete", "grantapproval", name, "-n", owner, "--wait=true")
        time.sleep(1)


def share(cluster: LocalCluster, rollout: Rollout) -> None:
    """The grants, one of them an emergency grant that expires EMERGENCY_SECONDS after it is made.

    Its period is timed here, after the cameras were applied: applying 100 recorded cameras (Secrets, volumes)
    can itself take longer than EMERGENCY_SECONDS on a busy machine, and a grant created already expired
    rightly never gets credentials.
    """
    now = datetime.now(UTC)
    rollout.expiry = now + timedelta(seconds=EMERGENCY_SECONDS)
    owner, grantee = rollout.owner, rollout.grantee
    apply_json(
        cluster,
        [
            fleet.grant(grantee, owner, "city-view", now - timedelta(minutes=1), now + timedelta(days=7)),
            fleet.grant(grantee, owner, "next-week", now + timedelta(days=7), now + timedelta(days=8)),
            fleet.emergency_grant(grantee, owner, "flood-response", EMERGENCY_CAMERAS, now, rollout.expiry),
        ],
    )
    authorize_stamped(cluster, owner, grantee, "flood-response")


@dataclass
class Downtime:
    """When the killed operator was not serving: from the kill until its restart answered /readyz."""

    windows: list[tuple[float, float]] = field(default_factory=list)

    def overlap(self, start: float, end: float) -> float:
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.windows)


class ExpiryWatch(threading.Thread):
    """Notes, by wall-clock time, the last moment the expired grant still had its Secret or said Active."""

    def __init__(self, cluster: LocalCluster, rollout: Rollout) -> None:
        super().__init__(daemon=True)
        self.cluster, self.rollout = cluster, rollout
        self.last_access_seen: float | None = None
        self.token: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            answer = self.cluster.kubectl(
                "get", "sharinggrant/flood-response", "secret/flood-response-access", "-n", self.rollout.grantee,
                "-o", "json", "--ignore-not-found", check=False,
            )  # fmt: skip
            seen = time.time()
            found = json.loads(answer.stdout or '{"items": []}').get("items", []) if answer.returncode == 0 else []
            for body in found:
                if body["kind"] == "Secret":
                    self.token = self.token or secret_token(body)
                    self.last_access_seen = seen
                elif condition_summary(body).get("Active", ("", ""))[0] == "True":
                    self.last_access_seen = seen
            time.sleep(0.3)


def camera_states(cluster: LocalCluster, rollout: Rollout) -> dict[str, Any]:
    """Per camera: its conditions and the children that record it, as counted by label."""
    cameras = {c["metadata"]["name"]: c for c in items(cluster, "cameras", rollout.owner)}
    recorders = items(cluster, "deployments", rollout.owner, "-l", "app.kubernetes.io/component=recorder")
    replica_sets = items(cluster, "replicasets", rollout.owner, "-l", "app.kubernetes.io/component=recorder")
    volumes = items(cluster, "pvc", rollout.owner, "-l", "camfleet.io/retention-volume=true")
    by_camera: dict[str, Counter[str]] = {name: Counter() for name in cameras}
    for kind, bodies in [("recorder", recorders), ("replicaset", replica_sets), ("volume", volumes)]:
        for body in bodies:
            by_camera.setdefault(body["metadata"]["labels"].get("camfleet.io/camera", "?"), Counter())[kind] += 1
    states = {}
    for name, camera in cameras.items():
        status = camera.get("status") or {}
        recorder = next((r for r in recorders if r["metadata"]["labels"]["camfleet.io/camera"] == name), {})
        volume = next((v for v in volumes if v["metadata"]["name"] == f"{name}-recordings"), {})
        states[name] = json.dumps(
            {
                "conditions": condition_summary(camera),
                "observedGenerationCurrent": status.get("observedGeneration") == camera["metadata"]["generation"],
                "children": dict(by_camera[name]),
                "recorderGeneration": recorder.get("metadata", {}).get("generation"),
                "recorderReady": recorder.get("status", {}).get("readyReplicas"),
                "volumeRequest": volume.get("spec", {}).get("resources", {}).get("requests", {}).get("storage"),
                "volumePhase": volume.get("status", {}).get("phase"),
            },
            sort_keys=True,
        )
    strays = sorted(set(by_camera) - set(cameras))
    assert not strays, f"children of no camera: {strays}"
    return states


def grant_states(cluster: LocalCluster, rollout: Rollout) -> dict[str, Any]:
    grants = items(cluster, "sharinggrants", rollout.grantee)
    secrets = items(cluster, "secrets", rollout.grantee, "-l", "camfleet.io/grant")
    states: dict[str, Any] = {}
    for body in grants:
        effective = sorted(c["name"] for c in (body.get("status") or {}).get("effectiveCameras", []))
        states[body["metadata"]["name"]] = {
            "conditions": condition_summary(body),
            "effectiveCameras": "every camera" if effective == rollout.cameras else effective,
            "accessSecret": any(
                s["metadata"]["labels"]["camfleet.io/grant"] == body["metadata"]["name"] for s in secrets
            ),
        }
    return states


def settled(cluster: LocalCluster, rollout: Rollout) -> bool:
    grants = grant_states(cluster, rollout)
    expired = grants.get("flood-response", {}).get("conditions", {}).get("Expired", ("", ""))[0] == "True"
    return ready_count(cluster, rollout.owner) == len(rollout.cameras) and expired and len(grants) == 3


def test_killed_operator_converges_to_the_state_of_an_undisturbed_run(
    request: pytest.FixtureRequest,
    cluster: LocalCluster,
    operators: OperatorLauncher,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    captured: Captured,
    recording_storage: None,
    scratch_namespaces: list[str],
) -> None:
    suffix = uuid.uuid4().hex[:6]
    rng = random.Random(SEED)
    # Kill when the rollout has reached these random points of its progress (cameras Ready), then stay
    # down a random moment: a kill may land while children are half made, or status half written.
    thresholds = sorted(rng.sample(range(1, CAMERAS - 10), KILLS))
    downtimes = [round(rng.uniform(0.0, 3.0), 2) for _ in range(KILLS)]
    print(f"\nseed {SEED}: kill at {thresholds} Ready cameras of {CAMERAS}, down for {downtimes}s")

    crashing = operators.start(f"crash-{suffix}", f"--namespace=crash-{suffix}*", standalone=True)
    # The calm operator serves admission for both runs: approvals are stamped by its webhook (R15, R12).
    calm = operators.start(f"calm-{suffix}", f"--namespace=calm-{suffix}*", standalone=True, manage_webhooks=True)

    def without_the_calm_webhooks() -> None:  # later tests must not call a webhook nobody serves
        calm.stop()
        cluster.kubectl(
            "delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "camfleet.io",
            "--ignore-not-found", check=False,
        )  # fmt: skip

    request.addfinalizer(without_the_calm_webhooks)
    crash = roll_out(cluster, f"crash-{suffix}", CAMERAS, sim, sim_camera_ids, captured)
    reference = roll_out(cluster, f"calm-{suffix}", CALM_CAMERAS, sim, sim_camera_ids, captured)
    scratch_namespaces += [crash.owner, crash.grantee, reference.owner, reference.grantee]
    started = time.monotonic()
    watch = ExpiryWatch(cluster, crash)
    watch.start()  # before the emergency grant exists, so its whole life is watched
    share(cluster, crash)
    share(cluster, reference)

    downtime = Downtime()
    wall_minus_monotonic = time.time() - time.monotonic()
    for threshold, down in zip(thresholds, downtimes, strict=True):
        wait_for(
            lambda t=threshold: ready_count(cluster, crash.owner) >= t,  # type: ignore[misc]
            timeout=240, interval=0.2, what=f"{threshold} Ready cameras",
        )  # fmt: skip
        killed_at = time.monotonic()
        kill_hard(crashing)
        at_kill = ready_count(cluster, crash.owner)
        time.sleep(down)
        crashing.start()
        downtime.windows.append((killed_at, time.monotonic()))
        print(f"killed at {killed_at - started:5.1f}s with {at_kill} Ready; serving again after {down}s down")

    wait_for(lambda: settled(cluster, crash), timeout=300, interval=2, what="the killed run to settle")
    wait_for(lambda: settled(cluster, reference), timeout=60, interval=1, what="the calm run to settle")
    print(f"the killed run settled {time.monotonic() - started:.0f}s after the rollout began")
    watch.stop.set()
    watch.join()

    # Every camera of the killed run is in the one state every camera of the calm run is in.
    calm_states = set(camera_states(cluster, reference).values())
    assert len(calm_states) == 1, f"the calm run itself is not uniform: {calm_states}"
    crash_states = Counter(camera_states(cluster, crash).values())
    assert crash_states == {next(iter(calm_states)): CAMERAS}, crash_states
    expected_children = {"recorder": 1, "replicaset": 1, "volume": 1}
    assert json.loads(next(iter(calm_states)))["children"] == expected_children

    # The grants ended up alike, down to which of them holds credentials.
    assert grant_states(cluster, crash) == grant_states(cluster, reference)
    assert grant_states(cluster, crash)["city-view"]["effectiveCameras"] == "every camera"
    assert grant_states(cluster, crash)["city-view"]["accessSecret"]
    assert not grant_states(cluster, crash)["flood-response"]["accessSecret"]

    # No access past expiry, except while no operator was running to take it away.
    assert crash.expiry is not None
    expiry = crash.expiry.timestamp() - wall_minus_monotonic
    assert watch.token is not None, "the emergency grant never had credentials"
    captured.secret(watch.token)
    if watch.last_access_seen is not None and watch.last_access_seen - wall_minus_monotonic > expiry:
        last_seen = watch.last_access_seen - wall_minus_monotonic
        running_late = (last_seen - expiry) - downtime.overlap(expiry, last_seen)
        print(f"access last seen {last_seen - expiry:.1f}s after expiry, {running_late:.1f}s of it with an operator up")
        assert running_late <= REVOCATION_ALLOWANCE_SECONDS
    assert not decide(crashing, watch.token, f"{crash.owner}/{EMERGENCY_CAMERAS[0]}")["allowed"]
    city_view = secret_token(get_json(cluster, "secret", "city-view-access", "-n", crash.grantee))
    assert city_view is not None
    captured.secret(city_view)
    assert decide(crashing, city_view, f"{crash.owner}/cam-050")["allowed"], "the restarted operator's door is shut"

    for process in (crashing, calm):
        assert not uncaught_exceptions(process.logs()), uncaught_exceptions(process.logs())[:3]
    assert calm.process is not None
    assert calm.process.poll() is None


def token_cameras(cluster: LocalCluster, namespace: str, secret: str) -> int | None:
    """How many cameras the token in an access Secret is for (None: no Secret)."""
    token = secret_token(get_json(cluster, "secret", secret, "-n", namespace))
    return len(jwt.decode(token, options={"verify_signature": False})["cameras"]) if token else None


def test_a_restart_never_narrows_the_token_of_an_active_grant(
    cluster: LocalCluster, operators: OperatorLauncher, scratch_namespaces: list[str]
) -> None:
    owner = f"narrow-{uuid.uuid4().hex[:6]}"
    grantee = f"{owner}-grantee"
    scratch_namespaces += [owner, grantee]
    operator = operators.start(owner, f"--namespace={owner}*", standalone=True)
    names = [f"cam-{index:03d}" for index in range(100)]
    apply_json(cluster, [fleet.namespace(owner), fleet.namespace(grantee)])
    apply_json(cluster, [fleet.camera_without_device(owner, name) for name in names])
    now = datetime.now(UTC)
    apply_json(cluster, [fleet.grant(grantee, owner, "city-view", now - timedelta(minutes=1), now + timedelta(days=1))])
    wait_for(lambda: token_cameras(cluster, grantee, "city-view-access") == len(names), what="a token for every camera")

    kill_hard(operator)
    operator.start()
    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        seen.append(token_cameras(cluster, grantee, "city-view-access"))
        time.sleep(0.2)
    print(f"\ncameras in the grantee's token after the restart: {sorted(set(seen), key=str)}")
    assert set(seen) == {len(names)}
