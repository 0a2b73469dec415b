"""A RecordingPolicy's status, decided from the recording states of the cameras it records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from camfleet.api.recording_policy import RecordingPolicyCondition, RecordingPolicyStatus
from camfleet.condition_merge import DesiredCondition, Progress, merge_conditions, progress_conditions
from camfleet.recording.state import RecordingState

SHOWN_PROBLEMS = 3
C = RecordingPolicyCondition
READY = C.READY
# A camera's recording reasons that pass without anyone acting: the stream URI comes, the recorder pod starts.
PASSING_REASONS = frozenset({"WaitingForStream", "RecorderNotReady"})
NO_CAMERA_SELECTED = "NoCameraSelected"
NO_CAMERA_MESSAGE = (
    "records no camera: the selector matches no camera in this namespace, or each one it matches is recorded by"
    " another policy (higher priority, or spec.recordingPolicyRef)"
)


def policy_ready(states: Mapping[str, RecordingState]) -> DesiredCondition[RecordingPolicyCondition]:
    """Ready when every camera the policy records is recording; otherwise the first problems, by camera."""
    if not states:
        return DesiredCondition(READY, "False", NO_CAMERA_SELECTED, NO_CAMERA_MESSAGE)
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


def policy_progress(states: Mapping[str, RecordingState]) -> Progress:
    """Stalled when it records nothing or a camera cannot be recorded without a change (storage class missing
    or not encrypted, volume too small); Reconciling while cameras wait for their stream or recorder."""
    if not states:
        return Progress(stuck=(NO_CAMERA_SELECTED, NO_CAMERA_MESSAGE))
    failing = sorted((camera, state.condition) for camera, state in states.items() if state.condition.status != "True")
    count = f"{len(failing)} of {len(states)} not recording"
    stuck = next(((camera, c) for camera, c in failing if c.reason not in PASSING_REASONS), None)
    if stuck is not None:
        return Progress(stuck=(stuck[1].reason, f"{count}; camera {stuck[0]}: {stuck[1].message}"))
    if failing:
        return Progress(working=(failing[0][1].reason, f"{count}; camera {failing[0][0]}: {failing[0][1].message}"))
    return Progress()


def policy_status(
    current: RecordingPolicyStatus | None,
    generation: int,
    states: Mapping[str, RecordingState],
    volumes: int,
    effective_retention_days: int,
    now: datetime,
) -> tuple[RecordingPolicyStatus, DesiredCondition[RecordingPolicyCondition]]:
    """The policy's whole new status (equal to `current` when nothing changed) and its Ready condition
    (Reconciling and Stalled, in status too, restate it and are not announced)."""
    ready = policy_ready(states)
    progress = policy_progress(states)
    if progress.stuck is not None:
        # Ready names what needs a person, not the first camera in name order (which may merely be starting).
        ready = DesiredCondition(READY, "False", progress.stuck[0], ready.message)
    kstatus = progress_conditions(C.RECONCILING, C.STALLED, progress)
    current = current or RecordingPolicyStatus()
    status = RecordingPolicyStatus(
        observed_generation=generation,
        selected_cameras=len(states),
        retention_volumes=volumes,
        effective_retention_days=effective_retention_days,
        conditions=merge_conditions(current.conditions, [ready, *kstatus], generation, now),
    )
    return status, ready
