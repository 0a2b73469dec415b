"""What the API server saw: request counters from its own /metrics, and who wrote what from its audit log.

`apiserver_request_total` counts every request by verb and resource, but not by client. The control plane
itself writes all the time (leader-election leases, kwok's node heartbeats), so "writes per idle minute" also
needs the audit log, which names each request's user agent: the operator is kopf (watches, finalizers) plus
lightkube (everything else); the benchmark's own client calls itself camfleet-bench.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
AUDIT_WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
BENCH_AGENT = "camfleet-bench"
OPERATOR_AGENTS = ("kopf/", "python-httpx")

# Only writes and reads are recorded (no watches: they last minutes and say nothing about rates), at the
# Metadata level: who, what, which object; never a request body, so no Secret's content reaches the log.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    verbs: [watch]
  - level: Metadata
"""

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_totals(metrics_text: str) -> Counter[tuple[str, str]]:
    """apiserver_request_total summed by (verb, resource[/subresource])."""
    totals: Counter[tuple[str, str]] = Counter()
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        totals[(labels.get("verb", ""), resource)] += int(float(match["value"]))
    return totals


def by_verb(delta: Counter[tuple[str, str]]) -> Counter[str]:
    verbs: Counter[str] = Counter()
    for (verb, _), count in delta.items():
        verbs[verb] += count
    return verbs


def writes(delta: Counter[tuple[str, str]]) -> int:
    return sum(count for (verb, _), count in delta.items() if verb in WRITE_VERBS)


def format_counts(counts: Counter[str], limit: int = 12) -> str:
    shown = [f"{key} {value}" for key, value in counts.most_common(limit) if value]
    rest = sum(value for _, value in counts.most_common()[limit:])
    return ", ".join(shown + ([f"other {rest}"] if rest else [])) or "none"


def client_of(user_agent: str) -> str:
    """operator, bench, or the control-plane component (kube-controller-manager/<controller>, kwok, ...)."""
    if user_agent.startswith(OPERATOR_AGENTS):
        return "operator"
    if user_agent.startswith((BENCH_AGENT, "kubectl")):
        return "bench"
    program = user_agent.split("/", 1)[0]
    controller = user_agent.rsplit("/", 1)[-1] if "system:serviceaccount:" in user_agent else ""
    return f"{program}/{controller.rsplit(':', 1)[-1]}" if controller else program


class AuditLog:
    """Reads the audit log window by window: `take()` returns what was written since the previous call.

    The API server rotates its audit log at 100 MB (lumberjack's default size, which `--audit-log-maxsize` 0
    keeps): the file is renamed to `audit-<time>.log` beside it and a new `audit.log` begun, which a 10,000-camera
    build-up reaches. A window that spans a rotation reads the rest of the renamed file (found by its inode) and
    then the new file from its start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode, self._offset = self._position()

    def _position(self) -> tuple[int, int]:
        if not self.path.exists():
            return 0, 0
        stat = self.path.stat()
        return stat.st_ino, stat.st_size

    def skip(self) -> None:
        self._inode, self._offset = self._position()

    def _read(self, path: Path, offset: int) -> tuple[list[dict[str, object]], int]:
        with path.open("rb") as log:
            log.seek(offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()], offset + len(complete)

    def _rotated(self) -> Path | None:
        return next((old for old in self.path.parent.glob("audit-*.log") if old.stat().st_ino == self._inode), None)

    def take(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        entries: list[dict[str, object]] = []
        inode = self.path.stat().st_ino
        if inode != self._inode:
            rotated = self._rotated()
            if rotated is not None:
                entries, _ = self._read(rotated, self._offset)
            self._inode, self._offset = inode, 0
        taken, self._offset = self._read(self.path, self._offset)
        return entries + taken


def audit_counts(entries: list[dict[str, object]]) -> Counter[tuple[str, str, str]]:
    """(client, verb, resource[/subresource]) for every request in `entries`."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for entry in entries:
        ref = entry.get("objectRef") or {}
        assert isinstance(ref, dict)
        resource = str(ref.get("resource", entry.get("requestURI", "?")))
        if ref.get("subresource"):
            resource += "/" + str(ref["subresource"])
        counts[(client_of(str(entry.get("userAgent", ""))), str(entry.get("verb")), resource)] += 1
    return counts


HEARTBEAT_RESOURCES = frozenset({"leases"})
"""Writes that renew a client's own Leases (leader election, shard membership): a constant per replica whatever the
fleet's size, counted apart from the writes the fleet causes, as the control plane's own leases are."""


def client_writes(counts: Counter[tuple[str, str, str]], client: str, heartbeats: bool = True) -> Counter[str]:
    """`verb resource` -> count, the writes of one client (without its Lease renewals unless `heartbeats`)."""
    found: Counter[str] = Counter()
    for (who, verb, resource), count in counts.items():
        if not heartbeats and resource in HEARTBEAT_RESOURCES:
            continue
        if who == client and verb in AUDIT_WRITE_VERBS:
            found[f"{verb} {resource}"] += count
    return found


def client_requests(counts: Counter[tuple[str, str, str]], client: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for (who, verb, resource), count in counts.items():
        if who == client:
            found[f"{verb} {resource}"] += count
    return found


def writers(counts: Counter[tuple[str, str, str]]) -> Counter[str]:
    """Writes per client."""
    found: Counter[str] = Counter()
    for (who, verb, _), count in counts.items():
        if verb in AUDIT_WRITE_VERBS:
            found[who] += count
    return found
