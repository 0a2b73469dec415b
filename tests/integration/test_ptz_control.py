"""Issue 19 on the real control plane: PTZ control arbitrated by level (R13), relayed to a simulated device over
ONVIF by the real operator process.

Departments hold levels through real AccessTiers; the owner and the tier holders speak through a console's gateway
credential (department mode), the level-2 emergency through its emergency grant's token. The device is the
simulator, whose PTZ service records every move it receives with the account that sent it; each department moves
with a velocity of its own, so the device's record shows whose moves arrived.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.sim import DEFAULT_USERNAME
from tests.helpers import audited, authorize_emergency, configure_authorities, get_json, wait_for
from tests.integration.conftest import PTZ_SILENT_AFTER_SECONDS
from tests.integration.manifests import as_yaml, camera_with_secret
from tests.integration.test_access import access_token, ask, grant, insecure_tls
from tests.integration.test_fleet_status_cli import kubectl_camfleet_status

PAN = {"owner": 0.1, "level1": 0.2, "level2": 0.3, "level3": 0.4, "level4": 0.5}
"""Each department's pan velocity: the device's record tells whose move arrived."""


@dataclass
class Fleet:
    owner: str
    departments: dict[str, str]
    """"level1".."level4" -> department namespace."""
    console: dict[str, str]
    """The console's gateway credential header (speaks for all of them)."""


@pytest.fixture
def fleet(cluster: LocalCluster, operator: OperatorProcess) -> Iterator[Fleet]:
    suffix = uuid.uuid4().hex[:6]
    owner = f"ptz-own-{suffix}"
    departments = {f"level{level}": f"ptz-l{level}-{suffix}" for level in (1, 2, 3, 4)}
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in (owner, *departments.values())
    ]
    objects += [
        {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "AccessTier",
            "metadata": {"name": f"ptz-level-{level}-{suffix}"},
            "spec": {
                "level": level,
                "subjects": [{"department": departments[f"level{level}"]}],
                **({"authorizedCameras": [{"namespace": owner, "names": ["mast"]}]} if level >= 3 else {}),
            },
        }
        for level in (1, 2, 3, 4)
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    configure_authorities(cluster, departments["level2"])
    token = operator.issue_gateway_credential(f"ptz-console-{suffix}", (owner, *departments.values()))
    yield Fleet(owner, departments, {"Authorization": f"Bearer {token}"})
    cluster.kubectl("delete", "accesstier", *[f"ptz-level-{level}-{suffix}" for level in (1, 2, 3, 4)], check=False)
    cluster.kubectl("delete", "namespace", owner, *departments.values(), "--wait=false", check=False)


def ptz(
    operator: OperatorProcess, fleet: Fleet, action: str, camera: str, who: str, **body: Any
) -> tuple[int, dict[str, Any]]:
    """POST /v1/ptz/<action> as `who` ("owner", "level1".."level4"; or give token=... for a grant token)."""
    department = fleet.owner if who == "owner" else fleet.departments[who]
    request = {"camera": camera, "person": f"{who}-operator", **body}
    headers: dict[str, str] = {}
    if "token" not in body:
        request["department"] = department
        headers = fleet.console
    if action == "move":
        request.setdefault("move", {"kind": "continuous", "pan": PAN[who], "tilt": 0, "zoom": 0})
    status, answer = ask(operator, f"/v1/ptz/{action}", request, headers)
    return status, json.loads(answer)


def holder(operator: OperatorProcess, fleet: Fleet, camera: str) -> dict[str, Any] | None:
    """GET /v1/ptz/holder with the console's credential."""
    url = f"{operator.decision_url}/v1/ptz/holder?camera={urllib.parse.quote(camera)}"
    request = urllib.request.Request(url, headers=fleet.console)
    with urllib.request.urlopen(request, timeout=5, context=insecure_tls()) as answer:
        found: dict[str, Any] | None = json.loads(answer.read())["holder"]
        return found


def device_moves(sim: SimProcess, camera_id: str) -> list[dict[str, Any]]:
    return list(sim.camera(camera_id)["ptz"]["moves"])


def pans(sim: SimProcess, camera_id: str) -> list[float]:
    return [m["velocity"][0] for m in device_moves(sim, camera_id) if m["operation"] == "ContinuousMove"]


def ptz_status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    return (get_json(cluster, "camera", name, "-n", namespace).get("status") or {}).get("ptzControl")


def ready_camera(
    cluster: LocalCluster, operator: OperatorProcess, fleet: Fleet, sim: SimProcess, camera_id: str
) -> str:
    """A Camera of the owner on simulated device `camera_id`, known to the operator; its ref."""
    cluster.kubectl("apply", "-f", "-", input=as_yaml(camera_with_secret(fleet.owner, "mast", sim, camera_id)))
    ref = f"{fleet.owner}/mast"
    # The console credential and the tiers reach the operator through watches: wait until the owner may steer.
    wait_for(lambda: ptz(operator, fleet, "acquire", ref, "owner")[0] == 200, timeout=60, what="owner control")
    assert ptz(operator, fleet, "release", ref, "owner")[0] == 200
    return ref


def test_level_2_pre_empts_level_3_and_the_device_sees_the_new_holders_moves_only(
    cluster: LocalCluster, operator: OperatorProcess, fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    camera = ready_camera(cluster, operator, fleet, sim, sim_camera)
    assert ptz(operator, fleet, "move", camera, "level3")[0] == 200
    wait_for(lambda: pans(sim, sim_camera) == [PAN["level3"]], timeout=10, what="level 3's move at the device")

    status, answer = ptz(operator, fleet, "move", camera, "level2")
    assert (status, answer["outcome"], answer["holder"]["rank"]) == (200, "Granted", "Level2")
    refused, refusal = ptz(operator, fleet, "move", camera, "level3")
    assert (refused, refusal["outcome"]) == (409, "Refused")
    assert refusal["holder"]["department"] == fleet.departments["level2"]
    assert ptz(operator, fleet, "move", camera, "level2")[0] == 200

    assert pans(sim, sim_camera) == [PAN["level3"], PAN["level2"], PAN["level2"]], "level 3's later move arrived"
    assert {m["user"] for m in device_moves(sim, sim_camera)} == {DEFAULT_USERNAME}, "moved with the camera's account"
    shown = wait_for(
        lambda: (
            (s := ptz_status(cluster, fleet.owner, "mast")) and s["department"] == fleet.departments["level2"] and s
        ),
        timeout=20,
        what="the new holder in the Camera's status",
    )
    assert shown["rank"] == "Level2"
    assert "since" in shown
    summary = json.loads(kubectl_camfleet_status(cluster, "-o", "json"))
    owner_row = next(d for d in summary["departments"] if d["department"] == fleet.owner)
    assert owner_row["ptzControl"][camera]["department"] == fleet.departments["level2"], "kubectl camfleet status"
    # The module's tests share the camera: wait for this test's record, not an earlier one.
    pre_empted = audited(
        operator, "PtzControlPreEmpted", f"Camera {camera}", where=lambda r: r["person"] == "level3-operator"
    )
    assert pre_empted[-1]["department"] == fleet.departments["level3"]


def test_a_level_1_lock_holds_against_a_level_2_emergency(
    cluster: LocalCluster, operator: OperatorProcess, fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    camera = ready_camera(cluster, operator, fleet, sim, sim_camera)
    water = fleet.departments["level2"]
    now = datetime.now(UTC)
    emergency = grant(
        water, fleet.owner, "levee", now - timedelta(seconds=1), now + timedelta(hours=2), names=["mast"],
        permissions=["LiveView", "PTZControl"], emergency={"incidentReference": "EMC-19", "description": "levee"},
    )  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(emergency))
    assert authorize_emergency(cluster, fleet.owner, water, "levee").returncode == 0
    token = wait_for(lambda: access_token(cluster, water, "levee"), timeout=30, what="the emergency grant's token")

    status, locked = ptz(operator, fleet, "lock", camera, "level1", lockMinutes=10)
    assert (status, locked["outcome"]) == (200, "Locked")
    assert locked["holder"]["lockUntil"] is not None
    status, refusal = ptz(operator, fleet, "move", camera, "level2", token=token)
    assert (status, refusal["outcome"]) == (409, "Refused"), "a level-2 emergency does not break a level-1 lock"
    assert ptz(operator, fleet, "move", camera, "level1")[0] == 200
    assert pans(sim, sim_camera) == [PAN["level1"]], "the emergency's move reached the device"
    shown = wait_for(
        lambda: (s := ptz_status(cluster, fleet.owner, "mast")) and s.get("lockUntil") and s,
        timeout=20,
        what="the lock in the Camera's status",
    )
    assert shown["rank"] == "Level1"
    refused = audited(operator, "PtzControlRefused", f"Camera {camera}", where=lambda r: r["department"] == water)
    assert refused[-1]["credential"] == f"grant {water}/levee"
    assert "level 1 lock" in refused[-1]["reason"]

    # Released, the lock no longer holds: the emergency (level 2, above the owner) takes the camera.
    assert ptz(operator, fleet, "release", camera, "level1")[0] == 200
    status, taken = ptz(operator, fleet, "move", camera, "level2", token=token)
    assert (status, taken["holder"]["rank"]) == (200, "Level2Emergency")


def test_the_owner_loses_control_to_level_2_and_regains_it_after_release(
    cluster: LocalCluster, operator: OperatorProcess, fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    camera = ready_camera(cluster, operator, fleet, sim, sim_camera)
    assert ptz(operator, fleet, "move", camera, "owner")[0] == 200
    assert ptz(operator, fleet, "acquire", camera, "level2")[0] == 200
    status, refusal = ptz(operator, fleet, "move", camera, "owner")
    assert (status, refusal["outcome"]) == (409, "Refused"), "the owner controls only when no higher level holds it"
    status, released = ptz(operator, fleet, "release", camera, "level2")
    assert (status, released["outcome"], released["holder"]) == (200, "Released", None)
    status, regained = ptz(operator, fleet, "move", camera, "owner")
    assert (status, regained["outcome"], regained["holder"]["rank"]) == (200, "Granted", "Owner")
    assert ptz(operator, fleet, "home", camera, "owner")[0] == 200
    status, failed = ptz(operator, fleet, "preset", camera, "owner", preset="no-such-preset")
    assert (status, failed["outcome"]) == (502, "device_error"), "the device's refusal reaches the caller"
    assert audited(operator, "PtzCommand", f"Camera {camera}")
    current = holder(operator, fleet, camera)
    assert current is not None
    assert (current["department"], current["person"], current["rank"]) == (fleet.owner, "owner-operator", "Owner")
    operations = [m["operation"] for m in device_moves(sim, sim_camera)]
    assert operations == ["ContinuousMove", "ContinuousMove", "GotoHomePosition"]
    assert pans(sim, sim_camera) == [PAN["owner"], PAN["owner"]]
    assert audited(operator, "PtzControlReleased", f"Camera {camera}", where=lambda r: r["person"] == "level2-operator")


def test_level_4_is_refused_and_the_refusal_is_audited(
    cluster: LocalCluster, operator: OperatorProcess, fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    camera = ready_camera(cluster, operator, fleet, sim, sim_camera)
    status, answer = ptz(operator, fleet, "move", camera, "level4")
    assert (status, answer) == (403, {"granted": False, "outcome": "denied"}), "no reason told to the caller"
    assert ptz(operator, fleet, "acquire", camera, "level4")[0] == 403
    assert pans(sim, sim_camera) == []
    refused = audited(
        operator, "PtzControlRefused", f"Camera {camera}", where=lambda r: r["person"] == "level4-operator"
    )
    assert refused[-1]["department"] == fleet.departments["level4"]
    assert "level 4" in refused[-1]["reason"]


def test_a_silent_holder_loses_control_after_the_timeout_and_a_lower_rank_then_steers(
    cluster: LocalCluster, operator: OperatorProcess, fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    """Level 2 holds the camera and stops sending: until the silence timeout (shortened for the session) the owner,
    ranked below level 2, is refused; then the camera is free, the Camera's status says nobody holds it, and the
    owner's moves reach the device."""
    camera = ready_camera(cluster, operator, fleet, sim, sim_camera)
    last_heard = time.monotonic()  # before the request: the operator hears it no earlier
    status, taken = ptz(operator, fleet, "move", camera, "level2")
    assert (status, taken["holder"]["rank"]) == (200, "Level2")
    wait_for(lambda: ptz_status(cluster, fleet.owner, "mast"), timeout=20, what="level 2 in the Camera's status")

    time.sleep(PTZ_SILENT_AFTER_SECONDS / 2)
    refused, refusal = ptz(operator, fleet, "move", camera, "owner")
    assert (refused, refusal["holder"]["department"]) == (409, fleet.departments["level2"]), "still held"

    wait_for(lambda: ptz_status(cluster, fleet.owner, "mast") is None, timeout=40, what="the silent holder cleared")
    cleared_after = time.monotonic() - last_heard
    assert cleared_after >= PTZ_SILENT_AFTER_SECONDS
    status, granted = ptz(operator, fleet, "move", camera, "owner")
    assert (status, granted["outcome"], granted["holder"]["rank"]) == (200, "Granted", "Owner")
    assert pans(sim, sim_camera) == [PAN["level2"], PAN["owner"]], "the owner's move arrived, the refused one did not"
    taken_over = audited(
        operator, "PtzControlGranted", f"Camera {camera}", where=lambda r: "fell silent" in r["reason"]
    )
    assert taken_over[-1]["person"] == "owner-operator"
    print(f"\nsilent holder cleared {cleared_after:.1f}s after its last command (timeout {PTZ_SILENT_AFTER_SECONDS}s)")
