"""The operator as the Helm chart installs it, on a cluster whose pods cannot run (kwok fakes them).

`helm install` puts every object of the chart into the cluster: CRDs, ServiceAccount, RBAC, peering, Services,
Secrets (TLS, gateway credentials), webhook configurations, the Deployment (whose pods kwok only pretends to run).
The real operator process then runs on this machine as one of those pods would:

- authenticated with a token of the chart's ServiceAccount (`kubectl create token`), so only the chart's RBAC
  lets it act;
- with the arguments the chart rendered into the Deployment, except for what only makes sense inside a pod
  (listen addresses and ports, the certificate folder); `--pod` names one of the Deployment's pods, as the
  downward API would;
- answering the chart's webhook configurations (same rules, paths, failure policy), whose clientConfig is
  pointed at this process (the API server cannot reach a Service whose pods kwok fakes).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.helpers import wait_for

from camfleet.devcluster.chart import Chart, of_kind, one_of_kind
from camfleet.devcluster.cluster import ExternalCluster, LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.service_account import token_kubeconfig
from camfleet.kube.webhook_tls import make_webhook_certificate
from e2e.cluster_access import GATEWAY

Cluster = LocalCluster | ExternalCluster
RELEASE = "camfleet-e2e"
RELEASE_NAMESPACE = "camfleet-e2e-system"
# Values a user sets for this cluster: the simulated devices are on loopback.
VALUES = ("operator.deviceNetworks={127.0.0.0/8}",)
# Set by OperatorProcess for this machine (loopback, free ports): the chart's own values would not work here.
HOST_FLAGS = ("--http-host", "--http-port", "--webhook-addr", "--webhook-port", "--decision-addr", "--decision-port")


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    objects: list[dict[str, Any]]

    def deployment_args(self) -> list[str]:
        container = one_of_kind(self.objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        args: list[str] = container["args"]
        assert args[0] == "run", args
        return args[1:]


def install_chart(cluster: Cluster, workdir: Path) -> Release:
    chart = Chart()
    kubeconfig = ["--kubeconfig", str(cluster.kubeconfig)]
    settings = [part for value in VALUES for part in ("--set", value)]
    chart.run(
        "install", RELEASE, str(chart.directory), "--namespace", RELEASE_NAMESPACE, "--create-namespace",
        *settings, *kubeconfig,
    )  # fmt: skip
    manifest = chart.run("get", "manifest", RELEASE, "--namespace", RELEASE_NAMESPACE, *kubeconfig)
    workdir.mkdir(parents=True, exist_ok=True)
    return Release(RELEASE, RELEASE_NAMESPACE, [doc for doc in yaml.safe_load_all(manifest) if doc])


def uninstall_chart(cluster: Cluster, release: Release) -> None:
    Chart().run("uninstall", release.name, "--namespace", release.namespace, "--kubeconfig", str(cluster.kubeconfig))
    cluster.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


def host_args(chart_args: list[str], cert_dir: Path, pod: str) -> tuple[str, ...]:
    """The chart's `camfleet run` arguments for a process on this machine: its own listen flags dropped
    (OperatorProcess sets them), the webhook served on loopback with a certificate for it."""
    args = []
    for arg in chart_args:
        flag = arg.partition("=")[0]
        if flag in HOST_FLAGS:
            continue
        if flag in ("--webhook-cert-dir", "--decision-cert-dir"):
            arg = f"{flag}={cert_dir}"
        elif flag == "--webhook-host":
            arg = f"{flag}=127.0.0.1"
        args.append(arg)
    return (*args, f"--pod={pod}")


def webhooks_pointing_at(objects: list[dict[str, Any]], port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """The chart's webhook configurations, unchanged but for clientConfig: this process, same path."""
    configurations = []
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for original in of_kind(objects, kind):
            configuration = json.loads(json.dumps(original))
            for webhook in configuration["webhooks"]:
                path = webhook["clientConfig"]["service"]["path"]
                webhook["clientConfig"] = {
                    "url": f"https://127.0.0.1:{port}{path}",
                    "caBundle": base64.b64encode(ca_pem).decode(),
                }
            configurations.append(configuration)
    return configurations


class ChartOperator(OperatorProcess):
    release: Release
    cluster: Cluster
    ca_pem: bytes

    @classmethod
    def for_release(cls, cluster: Cluster, release: Release, workdir: Path) -> ChartOperator:
        account = one_of_kind(release.objects, "ServiceAccount")["metadata"]["name"]
        token = cluster.kubectl("create", "token", account, "-n", release.namespace, "--duration=2h").stdout.strip()
        kubeconfig = token_kubeconfig(cluster.kubeconfig, token, workdir / "chart-sa.kubeconfig", account)
        certificate = make_webhook_certificate(workdir / "tls", ["127.0.0.1"])
        (workdir / "tls" / "ca.crt").write_bytes(certificate.ca_pem)

        def operator_pod() -> str | None:
            found = cluster.kubectl(
                "get", "pods", "-n", release.namespace, "-l", "app.kubernetes.io/component=operator",
                "-o", "jsonpath={.items[0].metadata.name}", check=False,
            )  # fmt: skip
            return found.stdout.strip() or None

        pod = wait_for(operator_pod, timeout=60, what="a pod of the chart's Deployment")
        gateways = json.loads(
            cluster.kubectl(
                "get", "secret", f"{release.name}-gateway-credentials", "-n", release.namespace, "-o", "json"
            ).stdout
        )["data"]
        process = cls(
            kubeconfig=kubeconfig,
            log_path=workdir.parent / "operator-e2e-chart.log",
            extra_args=host_args(release.deployment_args(), workdir / "tls", f"{release.namespace}/{pod}"),
            install_crds=False,  # the chart installed them; its RBAC may only read them
            gateway=GATEWAY,
            gateway_token=base64.b64decode(gateways[f"{GATEWAY}.token"]).decode(),
        )
        process.log_path.unlink(missing_ok=True)
        process.release, process.cluster, process.ca_pem = release, cluster, certificate.ca_pem
        return process

    def start(self, timeout: float = 90) -> None:
        super().start(timeout)
        configurations = webhooks_pointing_at(self.release.objects, self.webhook_port, self.ca_pem)
        # Replaced, not applied: a merge would keep the chart's `service` beside the `url` (both are refused).
        done = self.cluster.kubectl("replace", "-f", "-", input=yaml.safe_dump_all(configurations), check=False)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"could not point the chart's webhooks at the operator: {done.stderr}")
