"""Prometheus metrics the operator exports on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
ONVIF_SESSIONS_IN_FLIGHT = Gauge(
    "camfleet_onvif_sessions_in_flight",
    "Device passes in progress (waiting for or holding the ONVIF concurrency limit).",
)
DEVICE_PASS_SECONDS = Histogram(
    "camfleet_device_pass_seconds",
    "Duration of one pass over a device: connect, authenticate, configure, read back.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DEVICE_PASSES = Counter(
    "camfleet_device_passes_total",
    "Device passes by kind (lean: re-verification of the clock and managed settings; full) and why that kind.",
    ["kind", "reason"],
)
GRANTS_BY_PHASE = Counter(
    "camfleet_grant_transitions_total",
    "SharingGrant phase changes, by the phase entered.",
    ["phase"],
)
REVOCATION_DELAY_SECONDS = Histogram(
    "camfleet_revocation_delay_seconds",
    "Time from a grant's expiry to the revocation of its access (credentials deleted, gateway denies).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
PENDING_GRANTS_OVERDUE = Gauge(
    "camfleet_grants_approval_overdue",
    "Grants still pending after their approval due date (R11: 3 working days).",
)
CAMERA_REACHABLE = Gauge(
    "camfleet_camera_reachable",
    "1 when the camera's device answers (Reachable=True); per department: avg by (namespace) is the online rate.",
    ["namespace", "name"],
)
CAMERA_FILING_OVERDUE = Gauge(
    "camfleet_camera_filing_overdue",
    "1 when the camera was accepted more than 30 days ago without a police filing reference (R5).",
    ["namespace", "name"],
)
EVENT_LOOP_LAG = Histogram(
    "camfleet_event_loop_lag_seconds",
    "How late the operator's event loop ran a timer: what every request, webhook and expiry waited for on top.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
