"""Run a pod camfleet created as a kubelet would, on this machine: for clusters whose pods are fake (kwok).

Only what camfleet's own pods need: their first container's `camfleet <tool>` command and args, environment
values and Secret references (read from the cluster), and PersistentVolumeClaim mounts, each claim a folder of
its own here. Paths the pod sees (mount paths, the termination log) are rewritten to those folders, so the
recorder and the export Job run exactly what the operator asked for, on real files, with real ffmpeg.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camfleet.devcluster.cluster import ExternalCluster, LocalCluster, free_port

Cluster = LocalCluster | ExternalCluster
TERMINATION_LOG = "/dev/termination-log"


@dataclass
class HostPods:
    cluster: Cluster
    root: Path

    def claim_dir(self, namespace: str, claim: str) -> Path:
        """The folder standing for a claim's volume (shared by every pod that mounts the claim)."""
        folder = self.root / namespace / claim
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _secret_value(self, namespace: str, ref: dict[str, Any]) -> str:
        secret = json.loads(self.cluster.kubectl("get", "secret", ref["name"], "-n", namespace, "-o", "json").stdout)
        return base64.b64decode(secret["data"][ref["key"]]).decode()

    def _paths(self, pod_spec: dict[str, Any], namespace: str, container: dict[str, Any], name: str) -> dict[str, str]:
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod_spec.get("volumes", [])
            if "persistentVolumeClaim" in v
        }
        paths = {
            mount["mountPath"]: str(self.claim_dir(namespace, claims[mount["name"]]))
            for mount in container.get("volumeMounts", [])
            if mount["name"] in claims
        }
        paths[TERMINATION_LOG] = str(self.root / f"{name}.termination-log")
        return paths

    def command(self, pod_spec: dict[str, Any], namespace: str, name: str) -> tuple[list[str], dict[str, str]]:
        """argv and environment of the pod's first container, rewritten for this machine."""
        container = pod_spec["containers"][0]
        paths = self._paths(pod_spec, namespace, container, name)

        def here(text: str) -> str:
            for inside, outside in sorted(paths.items(), key=lambda item: -len(item[0])):
                if text == inside or text.startswith(inside + "/"):
                    return outside + text[len(inside) :]
            return text

        tool, *rest = container["command"]
        assert tool == "camfleet", container["command"]
        argv = [sys.executable, "-m", "camfleet.cli", *rest, *[here(arg) for arg in container.get("args", [])]]
        env = dict(os.environ)
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = here(variable["value"])
            elif "secretKeyRef" in variable.get("valueFrom", {}):
                env[variable["name"]] = self._secret_value(namespace, variable["valueFrom"]["secretKeyRef"])
        if "CAMFLEET_METRICS_PORT" in env:  # the pod's port, taken on this machine
            env["CAMFLEET_METRICS_PORT"] = str(free_port())
            env["CAMFLEET_METRICS_HOST"] = "127.0.0.1"
        return argv, env

    def start(self, pod_spec: dict[str, Any], namespace: str, name: str) -> subprocess.Popen[bytes]:
        argv, env = self.command(pod_spec, namespace, name)
        log = (self.root / f"{name}.log").open("ab")
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, pod_spec: dict[str, Any], namespace: str, name: str, timeout: float = 120) -> str:
        """Run to completion (a Job's pod); its stdout."""
        argv, env = self.command(pod_spec, namespace, name)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        (self.root / f"{name}.log").write_text(done.stderr)
        assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
        return done.stdout


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as the kubelet stops a pod (the recorder closes its segment)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
