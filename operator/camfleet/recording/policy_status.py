"""A RecordingPolicy's status, decided from the recording states of the cameras it records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from camfleet.conditions import DesiredCondition, merge_conditions
from camfleet.recording.state import RecordingState

SHOWN_PROBLEMS = 3


def policy_ready(states: Mapping[str, RecordingState]) -> DesiredCondition:
    """Ready when every camera the policy records is recording; otherwise the first problems, by camera."""
    failing = sorted((camera, state) for camera, state in states.items() if state.condition.status != "True")
    if not failing:
        return DesiredCondition("Ready", "True", "Ready", f"recording {len(states)} camera(s)")
    shown = "; ".join(f"{camera}: {state.condition.reason}" for camera, state in failing[:SHOWN_PROBLEMS])
    more = f" and {len(failing) - SHOWN_PROBLEMS} more" if len(failing) > SHOWN_PROBLEMS else ""
    return DesiredCondition(
        "Ready",
        "False",
        failing[0][1].condition.reason,
        f"{len(failing)} of {len(states)} not recording: {shown}{more}",
    )


def policy_status(
    current: dict[str, Any] | None,
    generation: int,
    states: Mapping[str, RecordingState],
    volumes: int,
    effective_retention_days: int,
    now: datetime,
) -> tuple[dict[str, Any], DesiredCondition]:
    ready = policy_ready(states)
    current = dict(current or {})
    status = {
        **current,
        "observedGeneration": generation,
        "selectedCameras": len(states),
        "retentionVolumes": volumes,
        "effectiveRetentionDays": effective_retention_days,
        "conditions": merge_conditions(current.get("conditions"), [ready], generation, now),
    }
    return status, ready
