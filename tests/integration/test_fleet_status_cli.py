"""`kubectl camfleet status` on the real control plane: the real kubectl finds the `kubectl-camfleet` plugin on
PATH, as it would for a user, and the summary reflects what the real operator reported about cameras made from
examples/."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from camfleet.devcluster.build import ensure_built
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.example_fleet import load_manifests
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.operator_context import OperatorContext
from tests.helpers import authorize_emergency, condition, configure_authorities, get_json, wait_for, wait_ready
from tests.integration.manifests import as_yaml, credentials_secret, sim_password

EXAMPLES = load_manifests(Path(__file__).resolve().parents[2] / "examples")
GRANT_CONTROLLER_RUNS = "grants" in OperatorContext.__dataclass_fields__
PLUGINS = Path(sys.executable).parent
"""Where pip put the `kubectl-camfleet` console script."""


def example(kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(next(m for m in EXAMPLES if m["kind"] == kind and m["metadata"]["name"] == name))


def example_camera(namespace: str, name: str, sim: SimProcess, camera_id: str) -> list[dict[str, Any]]:
    """The example Camera `name`, moved into the test's namespace and onto a simulated device, with its Secret."""
    camera = example("Camera", name)
    camera["metadata"] = {"name": name, "namespace": namespace}
    camera["spec"]["endpoint"] = sim.device_url(camera_id)
    camera["spec"]["credentialsSecretRef"] = {"name": f"{name}-onvif"}
    return [credentials_secret(namespace, f"{name}-onvif", sim_password(camera_id)), camera]


def kubectl_camfleet_status(cluster: LocalCluster, *args: str) -> str:
    """`kubectl camfleet status ARGS`. kubectl finds plugins only before any flag, so the cluster is given by
    KUBECONFIG, which the plugin inherits, as a user's shell would give it."""
    done = subprocess.run(
        [str(ensure_built().kubectl), "camfleet", "status", *args],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PATH": f"{PLUGINS}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def has_condition(cluster: LocalCluster, resource: str, name: str, namespace: str, kind: str, status: str) -> bool:
    found = condition(get_json(cluster, resource, name, "-n", namespace), kind)
    return found is not None and found["status"] == status


def test_status_summarizes_each_department(
    cluster: LocalCluster, operator: OperatorProcess, sim: SimProcess, sim_camera_ids: Iterator[str], namespace: str
) -> None:
    filed, unfiled, broken = next(sim_camera_ids), next(sim_camera_ids), next(sim_camera_ids)
    sim.change(broken, fault="unreachable")
    # zhongshan-hubei-junction is filed with signage; wusi-square-metro was accepted in 2025 and is neither.
    objects = [
        *example_camera(namespace, "zhongshan-hubei-junction", sim, filed),
        *example_camera(namespace, "wusi-square-metro", sim, unfiled),
        *example_camera(namespace, "bay-bridge-km12", sim, broken),
    ]
    now = datetime.now(UTC).replace(microsecond=0)
    typhoon = example("SharingGrant", "typhoon-evacuation-city-hall")
    typhoon["metadata"]["namespace"] = namespace
    typhoon["spec"]["cameras"] = {"namespace": namespace, "names": ["zhongshan-hubei-junction"]}
    typhoon["spec"]["period"] = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=3)).isoformat(),
    }
    configure_authorities(cluster, namespace)  # the department may request emergency access (R12)
    cluster.kubectl("apply", "-f", "-", input=as_yaml([*objects, typhoon]))
    assert authorize_emergency(cluster, namespace, namespace, typhoon["metadata"]["name"]).returncode == 0

    wait_ready(cluster, namespace, "zhongshan-hubei-junction")
    wait_ready(cluster, namespace, "wusi-square-metro")
    wait_for(
        lambda: has_condition(cluster, "camera", "bay-bridge-km12", namespace, "Reachable", "False"),
        what="bay-bridge-km12 unreachable",
    )
    if GRANT_CONTROLLER_RUNS:
        wait_for(
            lambda: has_condition(cluster, "sharinggrant", typhoon["metadata"]["name"], namespace, "Active", "True")
        )

    document = json.loads(kubectl_camfleet_status(cluster, "-o", "json"))
    department = next(d for d in document["departments"] if d["department"] == namespace)
    assert {key: department[key] for key in ("cameras", "online", "ready", "filingsOverdue", "signageUnconfirmed")} == {
        "cameras": 3,
        "online": 2,
        "ready": 2,
        "filingsOverdue": 1,
        "signageUnconfirmed": 1,
    }
    assert department["onlineRate"] == round(2 / 3, 4)
    assert department["objects"]["offline"] == [f"{namespace}/bay-bridge-km12"]
    assert department["objects"]["filingsOverdue"] == [f"{namespace}/wusi-square-metro"]
    if GRANT_CONTROLLER_RUNS:
        assert department["objects"]["grantsExpiring"] == [f"{namespace}/typhoon-evacuation-city-hall"]

    table = kubectl_camfleet_status(cluster)
    header, *rows = table.splitlines()
    assert header.split()[:4] == ["DEPARTMENT", "CAMERAS", "ONLINE", "RATE"]
    ours = next(line.split() for line in rows if line.split()[0] == namespace)
    assert ours[1:4] == ["3", "2", "67%"]
    assert rows[-1].split()[0] == "TOTAL"
