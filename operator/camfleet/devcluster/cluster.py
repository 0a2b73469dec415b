"""A real local control plane: kwokctl's binary runtime driving locally built binaries.

kube-apiserver, etcd, kube-controller-manager and kube-scheduler are the real
programs; kwok stands in only for kubelets, so pods scheduled onto its fake nodes
become Running without containers. Everything binds to 127.0.0.1 and lives in one
work folder per cluster, so tearing down can prove that no process is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from camfleet.devcluster.build import KUBERNETES_VERSION, Binaries, cache_root, ensure_built

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 15


# Below Linux's ephemeral range (32768-60999): a port the kernel picked for bind(0) is also one it may hand to the
# next outgoing connection (kubectl, the operator's watches), which then holds it when our server binds; seen as
# "address already in use" in a fault test. Ports handed out are remembered, so one process never gets one twice.
LISTEN_PORTS = range(20000, 32000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback TCP port no one listens on, outside the ephemeral range, not handed out before by this process."""
    for _ in range(1000):
        port = random.choice(LISTEN_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1}")


def kwokctl_configuration(
    bins: Binaries, apiserver_port: int, apiserver_args: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """kwokctl configuration: local binaries, loopback only, RBAC and admission on; `apiserver_args` are extra
    kube-apiserver flags (a test's dedicated cluster only)."""
    options = {
        "runtime": "binary",
        "bindAddress": LOOPBACK,
        "kubeApiserverPort": apiserver_port,
        "etcdPort": free_port(),
        "etcdPeerPort": free_port(),
        "kubeControllerManagerPort": free_port(),
        "kubeSchedulerPort": free_port(),
        "kwokControllerPort": free_port(),
        "securePort": True,
        "kubeAuthorization": True,
        "kubeAdmission": True,
        "kubeVersion": KUBERNETES_VERSION,
        "kubeApiserverBinary": str(bins.kube_apiserver),
        "kubeControllerManagerBinary": str(bins.kube_controller_manager),
        "kubeSchedulerBinary": str(bins.kube_scheduler),
        "kubectlBinary": str(bins.kubectl),
        "etcdBinary": str(bins.etcd),
        "kwokControllerBinary": str(bins.kwok),
        # Tests create thousands of objects; the default client QPS of the
        # controllers would make the control plane, not camfleet, the bottleneck.
        "disableQPSLimits": True,
    }
    configuration: dict[str, object] = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
    }
    if apiserver_args:
        extra = [{"key": key, "value": value} for key, value in apiserver_args.items()]
        configuration["componentsPatches"] = [{"name": "kube-apiserver", "extraArgs": extra}]
    return [configuration]


def fake_node(name: str) -> dict[str, object]:
    """A kwok-managed node without the usual NoSchedule taint, so ordinary pods land on it."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "2000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "2000"},
        },
    }


@dataclass
class LocalCluster:
    """One named local cluster. `start()` and `stop()` are idempotent."""

    name: str = "camfleet"
    nodes: int = 2
    bins: Binaries | None = None
    apiserver_args: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def workdir(self) -> Path:
        return cache_root() / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return cache_root() / "kubeconfig" / f"{self.name}.yaml"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KWOK_WORKDIR"] = str(self.workdir)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def _kwokctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bins is not None
        return subprocess.run(
            [str(self.bins.kwokctl), *args], env=self._env(), text=True, capture_output=True, check=check
        )

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster."""
        return run_kubectl(self.kubeconfig, *args, input=input, check=check, timeout=timeout)

    def is_running(self) -> bool:
        if not self.kubeconfig.exists() or not self.cluster_dir.exists():
            return False
        return self.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0

    def start(self) -> None:
        started = time.monotonic()
        self.bins = ensure_built()
        self.timings["build"] = time.monotonic() - started
        if self.is_running():
            self.timings["start"] = 0.0
            return
        self.stop()  # a half-started or crashed cluster of the same name goes first
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.name}.kwokctl.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump_all(kwokctl_configuration(self.bins, free_port(), self.apiserver_args)))
        began = time.monotonic()
        done = self._kwokctl(
            "create", "cluster", "--name", self.name, "--config", str(config),
            "--kubeconfig", str(self.kubeconfig), "--wait", "2m", check=False,
        )  # fmt: skip
        if done.returncode != 0:
            logs = self._component_logs()
            self.stop()
            raise RuntimeError(f"kwokctl create cluster failed:\n{done.stderr[-4000:]}\n{logs}")
        self._wait_for_default_service_account()
        nodes = [fake_node(f"kwok-node-{i}") for i in range(self.nodes)]
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(nodes))
        self.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
        self.timings["start"] = time.monotonic() - began

    def _wait_for_default_service_account(self, timeout: float = 60) -> None:
        # Pods are refused until the controller-manager has made the namespace's default ServiceAccount.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.kubectl("get", "serviceaccount", "default", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError("the default ServiceAccount never appeared: is kube-controller-manager running?")

    def _component_logs(self) -> str:
        logs = self.cluster_dir / "logs"
        if not logs.is_dir():
            return ""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(logs.glob("*.log")))

    def stop(self) -> list[int]:
        """Delete the cluster; return the pids that had to be killed because kwokctl left them."""
        self.bins = self.bins or ensure_built()
        if self.cluster_dir.exists():
            self._kwokctl("delete", "cluster", "--name", self.name, check=False)
        # kwokctl signals the components and can return before they have exited (slowly, on a loaded
        # machine): only what is still running after a grace period was left behind.
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while (leftovers := processes_using(self.cluster_dir)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.kubeconfig.unlink(missing_ok=True)
        return leftovers

    def version(self) -> dict[str, str]:
        out = self.kubectl("version", "-o", "json").stdout
        server: dict[str, str] = json.loads(out)["serverVersion"]
        return server


@dataclass
class ExternalCluster:
    """Any cluster a kubeconfig names (kind, a real one); used by e2e when KUBECONFIG is set."""

    kubeconfig: Path

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.kubeconfig, *args, input=input, check=check, timeout=timeout)


def run_kubectl(
    kubeconfig: Path, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The kubectl built with the control plane (same version as the API server), never a PATH guess."""
    done = subprocess.run(
        [str(ensure_built().kubectl), "--kubeconfig", str(kubeconfig), *args],
        input=input,
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done


def session_cluster(prefix: str) -> LocalCluster:
    """A cluster private to this process (`<prefix>-<pid>`), after removing ones whose process died.

    Concurrent test sessions on one machine then never share or tear down each other's cluster.
    """
    clusters = cache_root() / "kwok" / "clusters"
    for stale in clusters.glob(f"{prefix}-*") if clusters.is_dir() else ():
        owner = stale.name.rsplit("-", 1)[-1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            LocalCluster(name=stale.name).stop()
            shutil.rmtree(stale, ignore_errors=True)
    return LocalCluster(name=f"{prefix}-{os.getpid()}")


def processes_using(folder: Path) -> list[int]:
    """Pids whose command line mentions a path inside `folder` (every control-plane process of a cluster does).

    The trailing separator matters: cluster `camfleet` must not match cluster `camfleet-test-42`.
    """
    needle = str(folder) + os.sep
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found
