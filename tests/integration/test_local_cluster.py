"""The local control plane is a real Kubernetes: real API server version, kwok nodes, Running pods."""

from __future__ import annotations

import json

import yaml

from camfleet.devcluster.build import KUBERNETES_VERSION
from camfleet.devcluster.cluster import LocalCluster
from tests.helpers import get_json, wait_for


def test_kubectl_version_reports_the_real_apiserver(cluster: LocalCluster) -> None:
    server = cluster.version()
    assert server["gitVersion"] == KUBERNETES_VERSION
    assert server["minor"] == KUBERNETES_VERSION.split(".")[1]


def test_nodes_are_kwok_fake_nodes_and_ready(cluster: LocalCluster) -> None:
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert nodes, "no nodes registered"
    for node in nodes:
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready
        assert ready[0]["status"] == "True"


def test_a_deployment_gets_running_pods(cluster: LocalCluster, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment))

    def running_pods() -> list[str]:
        pods = get_json(cluster, "pods", "-n", namespace, "-l", "app=web").get("items", [])
        running = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
        return running if len(running) == 2 else []

    assert len(wait_for(running_pods, timeout=60, what="2 Running pods")) == 2
    status = wait_for(
        lambda: get_json(cluster, "deployment", "web", "-n", namespace)["status"].get("readyReplicas") == 2,
        timeout=60,
        what="readyReplicas == 2",
    )
    assert status
