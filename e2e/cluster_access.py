"""The decision endpoint (the door the media gateway asks) as the journeys reach it, and the grant tokens.

Here: the operator process's own address. In the cluster (`make e2e-kind`): `kubectl port-forward` to the
chart's decision Service, with the chart's gateway credential read from its Secret.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from camfleet.devcluster.build import ensure_built
from camfleet.devcluster.cluster import ExternalCluster, LocalCluster, free_port

Cluster = LocalCluster | ExternalCluster
# Where `make e2e-kind` installs the chart.
IN_CLUSTER_RELEASE = os.environ.get("CAMFLEET_E2E_RELEASE", "camfleet")
IN_CLUSTER_NAMESPACE = os.environ.get("CAMFLEET_E2E_RELEASE_NAMESPACE", "camfleet-system")
GATEWAY = "mediamtx"  # the chart's default gateway credential


@dataclass(frozen=True)
class Door:
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def ask(self, route: str, body: dict[str, Any]) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.url}{route}", data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        for name, value in self.headers.items():
            request.add_header(name, value)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the operator's private CA; what is checked is the answer
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def lets_read(self, token: str, camera: str) -> bool:
        """MediaMTX's question for an RTSP reader that sent the grant token as its password."""
        body = {"user": "", "password": token, "token": "", "ip": "127.0.0.1", "action": "read", "path": camera,
                "protocol": "rtsp", "id": str(uuid.uuid4()), "query": ""}  # fmt: skip
        return self.ask("/v1/mediamtx/auth", body)[0] == 200


def basic_auth(user: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def grant_token(cluster: Cluster, namespace: str, grant: str) -> str | None:
    """The grant's token from its access Secret in the grantee namespace; None once revoked."""
    done = cluster.kubectl(
        "get", "secret", f"{grant}-access", "-n", namespace, "-o", "jsonpath={.data.token}", check=False
    )
    if done.returncode != 0 or not done.stdout:
        return None
    return base64.b64decode(done.stdout).decode()


def gateway_credential(cluster: Cluster, release: str, namespace: str, gateway: str = GATEWAY) -> dict[str, str]:
    """The chart's generated credential of `gateway` (Secret `<release>-gateway-credentials`)."""
    done = cluster.kubectl(
        "get", "secret", f"{release}-gateway-credentials", "-n", namespace, "-o", "json"
    )  # fmt: skip
    token = base64.b64decode(json.loads(done.stdout)["data"][f"{gateway}.token"]).decode()
    return basic_auth(gateway, token)


class DoorForward:
    """`kubectl port-forward` to the installed chart's decision Service, for as long as the block runs."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DoorForward:
        kubeconfig = self.cluster.kubeconfig
        self.process = subprocess.Popen(
            [str(ensure_built().kubectl), "--kubeconfig", str(kubeconfig), "port-forward", "-n",
             IN_CLUSTER_NAMESPACE, f"service/{IN_CLUSTER_RELEASE}-decision", f"{self.port}:8443"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        time.sleep(2)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)


def in_cluster_door(cluster: Cluster, forward: DoorForward) -> Door:
    headers = gateway_credential(cluster, IN_CLUSTER_RELEASE, IN_CLUSTER_NAMESPACE)
    return Door(url=f"https://127.0.0.1:{forward.port}", headers=headers)
