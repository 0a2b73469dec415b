"""Prometheus metrics of the access decision endpoint (default registry, served on the operator's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

GATEWAY_DECISIONS = Counter(
    "camfleet_gateway_decisions_total",
    "Access decisions answered, by endpoint (mediamtx, decide) and outcome (allowed, or why not).",
    ["endpoint", "outcome"],
)
GATEWAY_DECISION_SECONDS = Histogram(
    "camfleet_gateway_decision_seconds",
    "Time to answer one access decision, from the parsed request to the decision.",
    ["endpoint"],
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
)
GATEWAY_SESSIONS_ENDED = Counter(
    "camfleet_gateway_sessions_ended_total",
    "Live gateway sessions of revoked grants, by result (ended, failed).",
    ["result"],
)
GATEWAY_CALLERS_REFUSED = Counter(
    "camfleet_gateway_callers_refused_total",
    "Requests to the decision endpoint refused before any decision, by endpoint (mediamtx, decide) and reason: "
    "missing (no gateway credential, 401), invalid (a wrong one, 401), department (department mode for a "
    "department the gateway may not speak for, 403).",
    ["endpoint", "reason"],
)
