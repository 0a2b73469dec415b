"""The status a Camera should have, decided without I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from camfleet.conditions import DesiredCondition, merge_conditions, summarize_ready


def camera_conditions() -> list[DesiredCondition]:
    """Conditions of a Camera whose spec the API server accepted.

    Device checks (Reachable, Authenticated, TimeSynced, Configured) join this
    list once the ONVIF client reconciles real devices.
    """
    accepted = DesiredCondition("SpecAccepted", "True", "Accepted", "the spec passed validation")
    return [accepted, summarize_ready([accepted], ready_reason="Reconciled")]


def desired_status(
    current: dict[str, Any] | None, conditions: list[DesiredCondition], generation: int, now: datetime
) -> dict[str, Any]:
    current = current or {}
    return {
        **current,
        "observedGeneration": generation,
        "conditions": merge_conditions(current.get("conditions"), conditions, generation, now),
    }
