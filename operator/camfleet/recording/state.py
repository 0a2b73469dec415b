"""What a camera's status says about its recording, decided from the facts the recording controller gathered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from camfleet.api.camera import Camera, CameraCondition, CameraStatus, StreamUri
from camfleet.condition_merge import DesiredCondition, stored_condition
from camfleet.recording.selection import Selection


@dataclass(frozen=True)
class RecordingState:
    """`required`: a policy selects the camera, so Ready depends on the Recording condition. `starting`: the
    recorder is only starting (its volume is bound, its pod not ready yet): a camera's first status write waits a
    while for it (`controllers.camera.verdict_wait`)."""

    condition: DesiredCondition[CameraCondition]
    policy: str | None = None
    required: bool = False
    starting: bool = False


NOT_SELECTED = RecordingState(
    DesiredCondition(CameraCondition.RECORDING, "False", "NoRecordingPolicy", "no RecordingPolicy selects this camera")
)
PLACEMENT_PENDING = "PlacementPending"


def placement_pending(policy: str) -> RecordingState:
    """A policy selects the camera but the recording controller has not placed it yet (its queue still behind, at a
    fleet's start), and the camera's first status has waited long enough for it: Ready waits for the placement
    (Unknown: nothing has failed) instead of counting a camera nobody records yet as Ready."""
    message = f"RecordingPolicy {policy} selects this camera; the recorder that records it is not decided yet"
    condition = DesiredCondition(CameraCondition.RECORDING, "Unknown", PLACEMENT_PENDING, message)
    return RecordingState(condition, policy, required=True)


def _contest_note(selection: Selection) -> str:
    if not selection.contested:
        return ""
    others = ", ".join(str(p.metadata.name) for p in selection.contenders)
    return f"; also selected by {others} (lower priority or later name); set spec.recordingPolicyRef to choose"


# A recorded camera that is Stalled itself (wrong password, unreachable for good) will not report a stream until
# someone acts: its policy must not wait for it as if it were starting. The camera counts this reason as passing
# (its own Stalled condition already names the cause), so it never keeps itself stalled.
CAMERA_STALLED = "CameraStalled"
WAITING_FOR_STREAM = "WaitingForStream"
RECORDER_NOT_READY = "RecorderNotReady"


def recording_state(
    selection: Selection,
    problem: tuple[str, str] | None,
    stream_known: bool,
    ready_replicas: int | None,
    volume: str | None,
    retention_days: int | None,
    unbound_volume: str | None = None,
    camera_stalled: tuple[str, str] | None = None,
) -> RecordingState:
    """`problem` is (reason, message) of anything that stops provisioning (storage class, volume size).
    `unbound_volume`: why the retention volume is not bound yet, when it is not (a recorder cannot start without
    it, so that is what the message must name).
    `camera_stalled`: the (reason, message) of the camera's own Stalled condition when it is True."""
    if selection.pinned_missing is not None:
        condition = DesiredCondition(
            CameraCondition.RECORDING,
            "False",
            "PolicyNotFound",
            f"spec.recordingPolicyRef names {selection.pinned_missing}, which does not exist",
        )
        return RecordingState(condition, required=True)
    if selection.winner is None:
        return NOT_SELECTED
    policy = str(selection.winner.metadata.name)
    note = _contest_note(selection)
    if problem is not None:
        reason, message = problem
        return RecordingState(
            DesiredCondition(CameraCondition.RECORDING, "False", reason, message + note), policy, required=True
        )
    if not stream_known and camera_stalled is not None:
        condition = DesiredCondition(
            CameraCondition.RECORDING,
            "False",
            CAMERA_STALLED,
            f"the camera is Stalled ({camera_stalled[0]}: {camera_stalled[1]}); recording starts once it reports a"
            " stream" + note,
        )
        return RecordingState(condition, policy, required=True)
    if not stream_known:
        condition = DesiredCondition(
            CameraCondition.RECORDING,
            "False",
            WAITING_FOR_STREAM,
            "the device has not reported a stream URI yet" + note,
        )
        return RecordingState(condition, policy, required=True)
    if not ready_replicas:
        waiting = f"is waiting for its volume: {unbound_volume}" if unbound_volume else "is starting"
        condition = DesiredCondition(
            CameraCondition.RECORDING, "False", RECORDER_NOT_READY, f"recorder for policy {policy} {waiting}" + note
        )
        return RecordingState(condition, policy, required=True, starting=not unbound_volume)
    message = f"recorded by policy {policy} to volume {volume}, kept {retention_days} days" + note
    return RecordingState(
        DesiredCondition(CameraCondition.RECORDING, "True", "Recording", message), policy, required=True
    )


STREAM_NOT_RECORDED = "StreamNotRecorded"


def member_problem(group: str, camera: str, ready_replicas: int, recording: bool | None) -> tuple[str, str] | None:
    """Why a grouped camera is not recorded although its group's pod runs (the pod stays Ready while one of its
    cameras fails, so only the pod's `/chain/<camera>` says it). `recording` None: not asked yet."""
    if not ready_replicas or recording is not False:
        return None
    return (
        STREAM_NOT_RECORDED,
        f"recorder group {group} runs, but does not record this camera's stream (its ffmpeg fails: see /chain/{camera}"
        f' and camfleet_recorder_recording{{camera="{camera}"}} of the group\'s pod)',
    )


def with_observed_streams(camera: Camera, observed: list[StreamUri] | None) -> Camera:
    """The camera as recording sees it: its status's streams, or while the status shows none, the streams its
    device pass found (`observed`, handed over in memory before the status write)."""
    if observed is None or (camera.status is not None and camera.status.stream_uris):
        return camera
    status = camera.status or CameraStatus()
    return camera.model_copy(update={"status": status.model_copy(update={"stream_uris": observed})})


def recording_from_status(body: Mapping[str, Any] | None) -> tuple[str | None, RecordingState | None]:
    """The policy a Camera's status says records it, and its Recording condition as a recording state."""
    status = (body or {}).get("status") or {}
    found = stored_condition(status, CameraCondition.RECORDING)
    policy = status.get("recordingPolicy")
    if not found or policy is None:
        return policy, None
    condition = DesiredCondition(
        CameraCondition.RECORDING,
        found.get("status", "Unknown"),
        str(found.get("reason", "")),
        str(found.get("message", "")),
    )
    return policy, RecordingState(condition, policy, required=True)
