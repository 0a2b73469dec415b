"""Helpers of the fault suite: operator processes, log scanning, what was captured for the leak scan."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from tests.helpers import condition, get_json
from tests.integration.conftest import OPERATOR_TEST_FLAGS

# The integration suite's short intervals and loopback-only devices; standalone or peered is chosen per process,
# and a media gateway only by the tests that start one (the integration session's MediaMTX is not there).
FAST_FLAGS = tuple(flag for flag in OPERATOR_TEST_FLAGS if flag != "--standalone" and not flag.startswith("--gateway-"))

# What an exception nobody handled looks like in the operator's log: kopf reporting a failed handler or a
# failed root task, asyncio reporting a task or callback that died, and any traceback at all.
UNCAUGHT_MARKERS = (
    "failed with an exception",
    "Task exception was never retrieved",
    "Exception in callback",
    "Unhandled error",
    "Root task",
    "Traceback (most recent call last)",
)


@dataclass
class Captured:
    """Secret values the fault tests used, and everything the operators wrote that a user or admin can read."""

    folder: Path
    secrets: set[str] = field(default_factory=set)
    logs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def secret(self, value: str) -> str:
        self.secrets.add(value)
        return value

    def snapshot(self, cluster: LocalCluster, namespace: str) -> None:
        """Events and the camfleet objects (with status) of a namespace, kept before it is deleted."""
        events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json", check=False).stdout
        objects = cluster.kubectl("get", "camfleet", "-n", namespace, "-o", "json", check=False).stdout
        (self.folder / f"{namespace}.events.json").write_text(events)
        (self.folder / f"{namespace}.objects.json").write_text(objects)

    def texts(self) -> dict[str, str]:
        """Every captured text by where it came from: operator logs, namespaces' Events and object status."""
        found = {f"log {path.name}": path.read_text(errors="replace") for path in self.logs if path.exists()}
        for path in sorted(self.folder.glob("*.json")):
            found[path.name] = path.read_text(errors="replace")
        return found


class OperatorLauncher:
    """Starts real operator processes with the fault suite's flags; remembers them so nothing is left running."""

    def __init__(self, cluster: LocalCluster, artifacts: Path, captured: Captured) -> None:
        self._cluster = cluster
        self._artifacts = artifacts
        self._captured = captured
        self.processes: list[OperatorProcess] = []
        self._managed_webhooks = False

    def start(
        self,
        label: str,
        *flags: str,
        standalone: bool,
        manage_webhooks: bool = False,
        timeout: float = 90,
        decision_cert_dir: Path | None = None,
    ) -> OperatorProcess:
        """`manage_webhooks`: only one process may own the webhook configuration (it names one port).
        `decision_cert_dir`: the decision endpoint's certificate, shared by replicas as a chart's Secret is."""
        args = [*FAST_FLAGS, *flags]
        if standalone:
            args.append("--standalone")
        if not manage_webhooks:
            args.append("--webhook-external-configuration")
        self._managed_webhooks = self._managed_webhooks or manage_webhooks
        process = OperatorProcess(
            kubeconfig=self._cluster.kubeconfig,
            log_path=self._artifacts / f"operator-fault-{label}-{os.getpid()}.log",
            extra_args=tuple(args),
            decision_cert_dir=decision_cert_dir,
        )
        process.log_path.unlink(missing_ok=True)
        self._captured.logs.append(process.log_path)
        self.processes.append(process)
        process.start(timeout=timeout)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()
        if self._managed_webhooks:  # the webhook configuration names a port nobody serves any more: remove it
            self._cluster.kubectl(
                "delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "camfleet.io",
                "--ignore-not-found", check=False,
            )  # fmt: skip


def kill_hard(process: OperatorProcess) -> None:
    """SIGKILL the operator (and anything it started): no cleanup, no goodbye to its peers."""
    assert process.process is not None
    os.killpg(process.process.pid, signal.SIGKILL)
    process.process.wait(timeout=30)


def uncaught_exceptions(log: str) -> list[str]:
    """Lines of the log that show an exception nobody handled, each with the lines that follow it."""
    lines = log.splitlines()
    return [
        "\n".join(lines[index : index + 12])
        for index, line in enumerate(lines)
        if any(marker in line for marker in UNCAUGHT_MARKERS)
    ]


EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Timeout)\w*)(?::|$)")


def tracebacks(log: str) -> list[list[str]]:
    """The exception lines (`type: message`) of each logged error that carries a traceback, chain included.

    A record runs from one timestamped log line to the next; a chained exception adds a line to its record.
    """
    records: list[list[str]] = []
    current: list[str] | None = None
    for line in log.splitlines():
        if line.startswith("[") or line.startswith("{"):
            current = None
        elif line.startswith("Traceback (most recent call last)") and current is None:
            current = []
            records.append(current)
        elif current is not None and EXCEPTION_LINE.match(line):
            current.append(line)
    return records


def rss_kib(process: OperatorProcess) -> int:
    """Resident memory of the operator process, from /proc."""
    assert process.process is not None
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def metric(process: OperatorProcess, name: str, **labels: str) -> float:
    """The sum of one Prometheus counter or gauge of an operator, over the series matching `labels`."""
    total = 0.0
    for line in process.get("/metrics").splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        if all(f'{key}="{wanted}"' in series for key, wanted in labels.items()):
            total += float(value)
    return total


def items(cluster: LocalCluster, kind: str, namespace: str, *selector: str) -> list[dict[str, Any]]:
    return list(get_json(cluster, kind, "-n", namespace, *selector).get("items", []))


def ready_count(cluster: LocalCluster, namespace: str) -> int:
    cameras = items(cluster, "cameras", namespace)
    return sum(1 for camera in cameras if (condition(camera, "Ready") or {}).get("status") == "True")


def condition_summary(body: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each condition's (status, reason): what `kubectl get` and a user's alerts see."""
    return {c["type"]: (c["status"], c["reason"]) for c in (body.get("status") or {}).get("conditions", [])}


def apply_json(cluster: LocalCluster, objects: list[dict[str, Any]]) -> None:
    done = cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}), check=False
    )
    assert done.returncode == 0, done.stderr


def wait_until(predicate: Any, timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until `predicate()` was true, or None on timeout (for measurements; tests assert on it)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    return None
