"""A RecordingPolicy's status, decided from the recording states of the cameras it records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from camfleet.api.recording_policy import RecordingPolicyCondition, RecordingPolicyStatus
from camfleet.condition_merge import DesiredCondition, merge_conditions
from camfleet.recording.state import RecordingState

SHOWN_PROBLEMS = 3
READY = RecordingPolicyCondition.READY


def policy_ready(states: Mapping[str, RecordingState]) -> DesiredCondition[RecordingPolicyCondition]:
    """Ready when every camera the policy records is recording; otherwise the first problems, by camera."""
    failing = sorted((camera, state) for camera, state in states.items() if state.condition.status != "True")
    if not failing:
        return DesiredCondition(READY, "True", "Ready", f"recording {len(states)} camera(s)")
    shown = "; ".join(f"{camera}: {state.condition.reason}" for camera, state in failing[:SHOWN_PROBLEMS])
    more = f" and {len(failing) - SHOWN_PROBLEMS} more" if len(failing) > SHOWN_PROBLEMS else ""
    return DesiredCondition(
        READY,
        "False",
        failing[0][1].condition.reason,
        f"{len(failing)} of {len(states)} not recording: {shown}{more}",
    )


def policy_status(
    current: RecordingPolicyStatus | None,
    generation: int,
    states: Mapping[str, RecordingState],
    volumes: int,
    effective_retention_days: int,
    now: datetime,
) -> tuple[RecordingPolicyStatus, DesiredCondition[RecordingPolicyCondition]]:
    """The policy's whole new status (equal to `current` when nothing changed) and its Ready condition."""
    ready = policy_ready(states)
    current = current or RecordingPolicyStatus()
    status = RecordingPolicyStatus(
        observed_generation=generation,
        selected_cameras=len(states),
        retention_volumes=volumes,
        effective_retention_days=effective_retention_days,
        conditions=merge_conditions(current.conditions, [ready], generation, now),
    )
    return status, ready
