"""A level-1 PTZ lock survives the active replica's death (R13, issue 19): "a lock holds against everyone below
level 1 until it expires or is released", whichever replica is active.

Two peered replicas watch the camera's namespace; the departments hold levels 1 and 2 through real AccessTiers and
steer through a console's gateway credential (department mode), as in tests/integration/test_ptz_control.py. Level 1
locks the camera and the active replica is SIGKILLed. The standby answers no PTZ request while it stands by (503);
once it has taken over (kopf's peering lifetime, 60 s) it has adopted the holder and lock recorded in the Camera's
`status.ptzControl`, so level 2 is still refused until the lock's end; then level 1, silent since the takeover, has
let go and level 2 steers, and only then does the device see level 2's move.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.fault.support import OperatorLauncher, apply_json, kill_hard, uncaught_exceptions
from tests.fault.test_ha import TAKEOVER_BOUND_SECONDS, peered_namespace
from tests.helpers import audited, wait_for
from tests.integration.conftest import PTZ_SILENT_AFTER_SECONDS
from tests.integration.manifests import camera_with_secret
from tests.integration.test_ptz_control import PAN, Fleet, holder, pans, ptz, ptz_status

pytestmark = pytest.mark.fault
__all__ = ["peered_namespace"]

LOCK_SECONDS = TAKEOVER_BOUND_SECONDS + 30
"""Longer than the slowest takeover the suite accepts, so the new active replica meets the lock still running."""


@pytest.fixture
def level_fleet(
    cluster: LocalCluster, peered_namespace: str, scratch_namespaces: list[str]
) -> Iterator[tuple[Fleet, list[str]]]:
    """The camera's owner is the peered namespace; departments holding levels 1 and 2 (the console credential is
    issued once the replicas run, by the caller)."""
    suffix = uuid.uuid4().hex[:6]
    departments = {"level1": f"ptzfo-l1-{suffix}", "level2": f"ptzfo-l2-{suffix}"}
    scratch_namespaces.extend(departments.values())
    tiers = [f"ptzfo-level-{level}-{suffix}" for level in (1, 2)]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in departments.values()
    ]
    objects += [
        {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "AccessTier",
            "metadata": {"name": tiers[level - 1]},
            "spec": {"level": level, "subjects": [{"department": departments[f"level{level}"]}]},
        }
        for level in (1, 2)
    ]
    apply_json(cluster, objects)
    yield Fleet(peered_namespace, departments, {}), tiers
    cluster.kubectl("delete", "accesstier", *tiers, check=False)


def answer_of(operator: OperatorProcess, fleet: Fleet, who: str, camera: str) -> tuple[int, dict[str, Any]]:
    """A move by `who`; a standby's or a not-yet-informed replica's answer as it comes (503, 403)."""
    return ptz(operator, fleet, "move", camera, who)


def test_a_level_1_lock_survives_the_active_replicas_death_and_holds_against_level_2_until_it_ends(
    cluster: LocalCluster,
    operators: OperatorLauncher,
    sim: SimProcess,
    sim_camera: str,
    level_fleet: tuple[Fleet, list[str]],
) -> None:
    fleet, _ = level_fleet
    namespace = fleet.owner
    active = operators.start("ptz-active", f"--namespace={namespace}", "--priority=200", standalone=False)
    standby = operators.start("ptz-standby", f"--namespace={namespace}", "--priority=100", standalone=False)
    token = active.issue_gateway_credential(f"ptzfo-console-{namespace}", (namespace, *fleet.departments.values()))
    fleet.console = {"Authorization": f"Bearer {token}"}
    apply_json(cluster, camera_with_secret(namespace, "mast", sim, sim_camera))
    camera = f"{namespace}/mast"

    # The console credential, the tiers and the camera reach the active replica through watches.
    wait_for(lambda: answer_of(active, fleet, "level1", camera)[0] == 200, timeout=60, what="level 1 steering")
    assert answer_of(standby, fleet, "level2", camera) == (503, {"granted": False, "outcome": "standby"})
    status, locked = ptz(active, fleet, "lock", camera, "level1", lockMinutes=LOCK_SECONDS / 60)
    assert (status, locked["outcome"]) == (200, "Locked")
    lock_until = datetime.fromisoformat(locked["holder"]["lockUntil"])
    recorded = ptz_status(cluster, namespace, "mast")
    assert recorded is not None, "a lock is answered once it is recorded in the Camera's status"
    assert (recorded["department"], recorded["rank"]) == (fleet.departments["level1"], "Level1")
    assert datetime.fromisoformat(recorded["lockUntil"]) == lock_until
    assert recorded["person"] == f"level1-operator (stated by gateway ptzfo-console-{namespace})"
    assert answer_of(active, fleet, "level2", camera)[0] == 409

    kill_hard(active)
    killed_at = time.monotonic()
    # Until it works, the standby answers 503; then 403 for a moment (the camera not yet listed), then its verdict.
    status, refusal = wait_for(
        lambda: (answer := answer_of(standby, fleet, "level2", camera))[0] not in (503, 403) and answer,
        timeout=TAKEOVER_BOUND_SECONDS + 10,
        interval=1,
        what="the standby's verdict on level 2 after the takeover",
    )
    took_over = time.monotonic() - killed_at
    print(f"\nPTZ failover: the standby ruled on level 2 {took_over:.1f}s after the active replica was killed")
    assert (status, refusal["outcome"]) == (409, "Refused"), "the lock was forgotten in the failover"
    assert refusal["holder"]["department"] == fleet.departments["level1"]
    assert datetime.fromisoformat(refusal["holder"]["lockUntil"]) == lock_until
    current = holder(standby, fleet, camera)
    assert current is not None
    assert (current["person"], current["rank"]) == (
        f"level1-operator (stated by gateway ptzfo-console-{namespace})",
        "Level1",
    )

    # Still refused just before the lock ends (level 1 has been silent for longer than the timeout by then).
    assert lock_until.timestamp() - time.time() > PTZ_SILENT_AFTER_SECONDS, "takeover too slow to show the lock"
    time.sleep(max(0.0, lock_until.timestamp() - time.time() - 2))
    assert answer_of(standby, fleet, "level2", camera)[0] == 409
    assert pans(sim, sim_camera) == [PAN["level1"]], "a refused move reached the device"

    time.sleep(max(0.0, lock_until.timestamp() - time.time() + 1))
    status, granted = answer_of(standby, fleet, "level2", camera)
    assert (status, granted["outcome"], granted["holder"]["rank"]) == (200, "Granted", "Level2")
    wait_for(lambda: pans(sim, sim_camera) == [PAN["level1"], PAN["level2"]], timeout=10, what="level 2's move")
    wait_for(
        lambda: (
            (shown := ptz_status(cluster, namespace, "mast")) and shown["department"] == fleet.departments["level2"]
        ),
        timeout=20,
        what="level 2 in the Camera's status, written by the new active replica",
    )
    refused = audited(standby, "PtzControlRefused", where=lambda r: "level 1 lock" in r["reason"])
    assert (refused[0]["object"], refused[0]["department"]) == (f"Camera {camera}", fleet.departments["level2"])
    assert not uncaught_exceptions(standby.logs())
