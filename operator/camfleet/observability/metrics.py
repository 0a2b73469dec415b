"""Prometheus metrics the operator exports on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECONCILIATIONS = Counter(
    "camfleet_reconciliations_total",
    "Reconciliations finished, by kind and outcome.",
    ["kind", "outcome"],
)
STATUS_WRITES = Counter(
    "camfleet_status_writes_total",
    "Status patches sent; a reconcile that finds nothing changed sends none.",
    ["kind"],
)
READY_OBJECTS = Gauge(
    "camfleet_ready",
    "1 when the object's Ready condition is True, 0 otherwise.",
    ["kind", "namespace", "name"],
)
