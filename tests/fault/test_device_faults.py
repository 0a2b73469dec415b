"""Device faults as the operator meets them: conditions with reasons, backoff, recovery, a process that survives.

tests/device/ proves the ONVIF client alone (typed errors, nothing expanded, bounded sizes and times);
here the real operator reconciles a Camera while the simulator misbehaves, and a user reads the outcome
in the Camera's conditions and Events. Auth failures at operator level are in
tests/integration/test_camera_devices.py (wrong password, rotation).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.fault.support import Captured, apply_json, rss_kib, uncaught_exceptions
from tests.helpers import condition, events_for, get_json, wait_for, wait_ready
from tests.integration.manifests import camera_with_secret

pytestmark = pytest.mark.fault

FLAPS = 3
# A reply that blew up in memory would cost far more: a billion-laughs document expands to gigabytes.
MEMORY_GROWTH_BOUND_KIB = 64 * 1024


def add_camera(
    cluster: LocalCluster, namespace: str, name: str, sim: SimProcess, camera_id: str, captured: Captured
) -> None:
    objects = camera_with_secret(namespace, name, sim, camera_id)
    captured.secret(objects[0]["stringData"]["password"])
    apply_json(cluster, objects)


def camera_condition(cluster: LocalCluster, namespace: str, name: str, kind: str) -> dict[str, Any]:
    return condition(get_json(cluster, "camera", name, "-n", namespace), kind) or {}


def wait_condition(
    cluster: LocalCluster, namespace: str, name: str, kind: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    return wait_for(
        lambda: (found := camera_condition(cluster, namespace, name, kind)).get("status") == status and found,
        timeout=timeout, interval=0.2, what=f"{kind}={status}",
    )  # fmt: skip


def test_flapping_network_is_followed_with_backoff_and_recovers(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    captured: Captured,
) -> None:
    add_camera(cluster, namespace, "flappy", sim, sim_camera, captured)
    wait_ready(cluster, namespace, "flappy")
    recoveries = []
    for _ in range(FLAPS):
        sim.change(sim_camera, fault="unreachable")
        down = wait_condition(cluster, namespace, "flappy", "Reachable", "False")
        assert down["reason"] == "Unreachable"
        time.sleep(4)  # retries with backoff (0.5 s doubling to 4 s): at most 4 of them, not 8
        message = camera_condition(cluster, namespace, "flappy", "Reachable")["message"]
        attempt = int(message.split("attempt ")[1].split(",")[0])
        assert 2 <= attempt <= 4, f"attempt {attempt} after 4 s down"
        assert camera_condition(cluster, namespace, "flappy", "Ready")["status"] == "False"
        sim.change(sim_camera, fault="none")
        cleared = time.monotonic()
        wait_ready(cluster, namespace, "flappy", timeout=30)
        recoveries.append(time.monotonic() - cleared)
    print(f"\nflapping: Ready again {', '.join(f'{s:.1f}s' for s in recoveries)} after each fault cleared")

    # Events mark transitions (Reachable and Ready each going False), not every failed retry.
    warnings = [e for e in events_for(cluster, namespace, "flappy") if e["type"] == "Warning"]
    assert FLAPS <= len(warnings) <= 2 * FLAPS, [(e["reason"], e["message"]) for e in warnings]


def test_clock_jump_is_reported_and_clears_when_the_clock_is_right_again(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    captured: Captured,
) -> None:
    add_camera(cluster, namespace, "clock", sim, sim_camera, captured)
    wait_ready(cluster, namespace, "clock")
    sim.change(sim_camera, skewSeconds=3 * 3600)  # the device's clock jumps three hours ahead

    drift = wait_condition(cluster, namespace, "clock", "TimeSynced", "False")
    assert drift["reason"] == "ClockDrift"
    assert "clock off by 10800s" in drift["message"]
    # WS-UsernameToken is signed with the device's own clock, so signing in still works.
    assert camera_condition(cluster, namespace, "clock", "Authenticated")["status"] == "True"
    assert camera_condition(cluster, namespace, "clock", "Ready")["reason"] == "ClockDrift"
    wait_for(
        lambda: any(e["reason"] == "ClockDrift" for e in events_for(cluster, namespace, "clock")),
        what="a ClockDrift Event",
    )

    sim.change(sim_camera, skewSeconds=0)  # the device's NTP client catches up
    camera = wait_ready(cluster, namespace, "clock", timeout=30)
    assert camera["status"]["clockDriftSeconds"] < 2


BROKEN_REPLIES = [
    # (simulator fault, the Reachable condition's reason, what its message says)
    # The device answered each of the first five, just not with anything camfleet can use: ProtocolError,
    # not Unreachable (issue 16: a broken reply is not blamed on the network).
    ("malformed", "ProtocolError", "not well-formed XML"),
    ("entity-bomb", "ProtocolError", "document type declaration (refused"),
    ("xxe", "ProtocolError", "document type declaration (refused"),
    ("oversized", "ProtocolError", "exceeds the 1048576-byte limit"),
    ("http-500", "ProtocolError", "HTTP 500"),
    ("slow", "Timeout", "GetSystemDateAndTime"),
]


def test_broken_and_hostile_replies_are_named_and_the_operator_stays_up_and_small(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    captured: Captured,
) -> None:
    """One camera per kind of broken reply, all broken at once, as a bad day in a real fleet looks."""
    assert operator.process is not None
    pid = operator.process.pid
    log_start = len(operator.logs())
    devices = {fault: next(sim_camera_ids) for fault, _, _ in BROKEN_REPLIES}
    for fault, device in devices.items():
        add_camera(cluster, namespace, fault, sim, device, captured)
    for fault in devices:
        wait_ready(cluster, namespace, fault)
    rss_before = rss_kib(operator)

    for fault, device in devices.items():
        sim.change(device, fault=fault, slowSeconds=30)
    for fault, reason, words in BROKEN_REPLIES:
        refused = wait_condition(cluster, namespace, fault, "Reachable", "False")
        assert (refused["reason"], words in refused["message"]) == (reason, True), (fault, refused)
        ready = camera_condition(cluster, namespace, fault, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", reason)
    time.sleep(6)  # more passes against the same replies, with backoff
    rss_after = rss_kib(operator)
    for device in devices.values():
        sim.change(device, fault="none")
    for fault in devices:
        wait_ready(cluster, namespace, fault, timeout=30)

    print(f"\noperator RSS {rss_before / 1024:.1f} MiB before the broken replies, {rss_after / 1024:.1f} MiB during")
    assert rss_after - rss_before < MEMORY_GROWTH_BOUND_KIB
    assert operator.process.poll() is None
    assert operator.process.pid == pid
    assert not uncaught_exceptions(operator.logs()[log_start:])
