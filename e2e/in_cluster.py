"""What the journeys need when the cluster runs pods itself (`make e2e-kind`): the simulator as a Deployment
(e2e/manifests/simulator.yaml) and the export verified by `camfleet export-verify` in a pod that mounts the
export volume read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from camfleet.devcluster.cluster import ExternalCluster, LocalCluster
from camfleet.devcluster.example_fleet import load_manifests, simulator_fleet
from e2e.fleet import SIM_NAMESPACE, journey_devices

Cluster = LocalCluster | ExternalCluster
REPO = Path(__file__).resolve().parents[1]
SIMULATOR_MANIFEST = Path(__file__).resolve().parent / "manifests" / "simulator.yaml"


def deploy_simulator(cluster: Cluster) -> None:
    fleet = simulator_fleet(load_manifests(REPO / "examples"))
    fleet["cameras"] += journey_devices()
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SIM_NAMESPACE}}
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "camfleet-sim-fleet", "namespace": SIM_NAMESPACE},
        "data": {"fleet.yaml": yaml.safe_dump(fleet)},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([namespace, config]))
    cluster.kubectl("apply", "-f", str(SIMULATOR_MANIFEST))
    cluster.kubectl("rollout", "status", "deployment/camfleet-sim", "-n", SIM_NAMESPACE, "--timeout=180s")


def verify_export_in_cluster(cluster: Cluster, namespace: str, job: dict[str, Any], camera: str) -> None:
    """Wait for the export Job, then run `camfleet export-verify` over its volume in a pod of the same image."""
    name = job["metadata"]["name"]
    cluster.kubectl("wait", "--for=condition=Complete", f"job/{name}", "-n", namespace, "--timeout=300s")
    pod_spec = job["spec"]["template"]["spec"]
    export = next(v for v in pod_spec["volumes"] if v["name"] == "export")
    container = pod_spec["containers"][0]
    verifier = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{name}-verify"[:63], "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": pod_spec.get("securityContext", {}),
                    "containers": [
                        {
                            "name": "verify",
                            "image": container["image"],
                            "command": ["camfleet", "export-verify", f"/export/{camera}"],
                            "volumeMounts": [{"name": "export", "mountPath": "/export", "readOnly": True}],
                            "securityContext": container.get("securityContext", {}),
                        }
                    ],
                    "volumes": [
                        {
                            "name": "export",
                            "persistentVolumeClaim": {**export["persistentVolumeClaim"], "readOnly": True},
                        }
                    ],
                }
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(verifier))
    done = cluster.kubectl("wait", "--for=condition=Complete", f"job/{verifier['metadata']['name']}", "-n",
                           namespace, "--timeout=180s", check=False)  # fmt: skip
    logs = cluster.kubectl("logs", f"job/{verifier['metadata']['name']}", "-n", namespace, check=False).stdout
    assert done.returncode == 0, f"export-verify refused the export in the cluster:\n{logs}"
