"""When a camera's status write waits for its recording verdict: its first write should already say Recording."""

from __future__ import annotations

import copy

from camfleet.api.camera import CameraCondition
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.clock import FakeClock
from camfleet.condition_merge import DesiredCondition
from camfleet.config import OperatorConfig
from camfleet.controllers.camera import (
    RECORDER_START_PATIENCE_SECONDS,
    RECORDING_VERDICT_PATIENCE_SECONDS,
    CameraController,
    verdict_wait,
)
from camfleet.controllers.recording import RecordingController, RecordingSettings, recording_fingerprint
from camfleet.kube.store import CameraStore
from camfleet.recording import workloads
from camfleet.recording.selection import Selection
from camfleet.recording.state import (
    RECORDER_NOT_READY,
    WAITING_FOR_STREAM,
    RecordingState,
    placement_pending,
    recording_state,
)
from tests.unit.recording_logic.test_workloads import CAMERA

POLICY = RecordingPolicy.model_validate(
    {"metadata": {"name": "city", "namespace": "transport", "uid": "p-1"}, "spec": {"cameraSelector": {}}}
)


def verdict(status: str, reason: str, starting: bool = False) -> RecordingState:
    condition = DesiredCondition(CameraCondition.RECORDING, status, reason, "m")
    return RecordingState(condition, "city", required=True, starting=starting)


FIRST = 10.0  # the camera's first pass in this process
PATIENCE = RECORDING_VERDICT_PATIENCE_SECONDS


def test_a_first_write_waits_for_a_verdict_that_knows_the_stream_the_pass_found() -> None:
    assert verdict_wait(FIRST, FIRST, None, stream_found=True) == PATIENCE
    assert verdict_wait(FIRST, FIRST, verdict("False", WAITING_FOR_STREAM), stream_found=True) == PATIENCE
    assert verdict_wait(FIRST + 2, FIRST, verdict("False", RECORDER_NOT_READY), stream_found=True) == PATIENCE - 2
    assert verdict_wait(FIRST, FIRST, verdict("True", "Recording"), stream_found=True) == 0.0


def test_a_first_write_waits_longer_for_a_recorder_pod_that_is_only_starting() -> None:
    """A pod starting on a busy cluster takes tens of seconds: written meanwhile, the camera would say
    RecorderNotReady (a Warning Event and a status write) and then Recording (another of each)."""
    starting = verdict("False", RECORDER_NOT_READY, starting=True)
    assert (
        verdict_wait(FIRST + PATIENCE, FIRST, starting, stream_found=True) == RECORDER_START_PATIENCE_SECONDS - PATIENCE
    )
    # It is reported once the longer patience is over too, and a volume that is not bound at once (nothing to
    # wait for: it needs someone to act).
    assert verdict_wait(FIRST + RECORDER_START_PATIENCE_SECONDS, FIRST, starting, stream_found=True) == 0.0
    unbound = verdict("False", RECORDER_NOT_READY, starting=False)
    assert verdict_wait(FIRST + PATIENCE, FIRST, unbound, stream_found=True) == 0.0


def test_no_wait_when_waiting_cannot_change_the_verdict_or_patience_is_over() -> None:
    # The device gave no stream: WaitingForStream is the truth, written now.
    assert verdict_wait(FIRST, FIRST, verdict("False", WAITING_FOR_STREAM), stream_found=False) == 0.0
    assert verdict_wait(FIRST, FIRST, verdict("False", "NoRecordingPolicy"), stream_found=True) == 0.0
    # A recorder that does not start, or a verdict that never comes, is reported at the deadline.
    assert verdict_wait(FIRST + PATIENCE, FIRST, verdict("False", RECORDER_NOT_READY), stream_found=True) == 0.0
    assert verdict_wait(FIRST + PATIENCE + 1, FIRST, None, stream_found=True) == 0.0


def test_only_a_recorder_waiting_for_nothing_but_its_pod_counts_as_starting() -> None:
    selection = Selection(winner=POLICY)
    assert recording_state(selection, None, True, 0, "v", 30).starting
    assert not recording_state(selection, None, True, 0, "v", 30, unbound_volume="claim v is Pending").starting
    assert not recording_state(selection, None, True, 1, "v", 30).starting


def test_a_status_showing_the_stream_already_judged_is_no_change_for_recording() -> None:
    body = {"metadata": {"name": "gate", "namespace": "city", "labels": {"recorded": "yes"}}, "spec": {}}
    judged_with_observed = recording_fingerprint(body, "rtsp://10.0.0.7/main")
    written = {**body, "status": {"streamUris": [{"profile": "main", "uri": "rtsp://10.0.0.7/main"}]}}
    assert recording_fingerprint(written) == judged_with_observed
    assert recording_fingerprint(body) != judged_with_observed
    moved = {**body, "status": {"streamUris": [{"profile": "main", "uri": "rtsp://10.0.0.8/main"}]}}
    assert recording_fingerprint(moved) != judged_with_observed


def test_without_a_verdict_a_selected_camera_is_pending_placement_and_an_unselected_one_has_no_recording() -> None:
    """What the camera's status says of its recording when the recording controller has not judged it yet (and its
    status shows nothing from before): pending placement when a policy selects it, nothing when none does."""
    store = CameraStore()
    controller = CameraController(None, None, OperatorConfig(), store, FakeClock())  # type: ignore[arg-type]
    recording = RecordingController(
        None, None, store, RecordingSettings(workloads.RecorderSettings()), FakeClock(),  # type: ignore[arg-type]
        controller.set_recording,
    )  # fmt: skip
    controller.attach_recording(lambda key, streams: None, None, recording.selecting_policy)
    key, body = ("transport", "a"), copy.deepcopy(CAMERA)
    assert controller._verdict(key, body) is None, "no policy selects it yet"
    recording.policy_changed(POLICY.model_dump(by_alias=True, exclude_none=True), deleted=False)
    assert controller._verdict(key, body) == placement_pending("city")
    placed = verdict("True", "Recording")
    controller.set_recording(key, placed)
    assert controller._verdict(key, body) == placed
