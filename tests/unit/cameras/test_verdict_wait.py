"""When a camera's status write waits for its recording verdict: its first write should already say Recording."""

from __future__ import annotations

from camfleet.api.camera import CameraCondition
from camfleet.condition_merge import DesiredCondition
from camfleet.controllers.camera import (
    RECORDER_START_PATIENCE_SECONDS,
    RECORDING_VERDICT_PATIENCE_SECONDS,
    verdict_wait,
)
from camfleet.controllers.recording import recording_fingerprint
from camfleet.recording.state import RECORDER_NOT_READY, WAITING_FOR_STREAM, RecordingState


def verdict(status: str, reason: str) -> RecordingState:
    return RecordingState(DesiredCondition(CameraCondition.RECORDING, status, reason, "m"), "city", required=True)


FIRST = 10.0  # the camera's first pass in this process
PATIENCE = RECORDING_VERDICT_PATIENCE_SECONDS


def test_a_first_write_waits_for_a_verdict_that_knows_the_stream_the_pass_found() -> None:
    assert verdict_wait(FIRST, FIRST, None, stream_found=True) == PATIENCE
    assert verdict_wait(FIRST, FIRST, verdict("False", WAITING_FOR_STREAM), stream_found=True) == PATIENCE
    assert verdict_wait(FIRST + 2, FIRST, verdict("False", WAITING_FOR_STREAM), stream_found=True) == PATIENCE - 2
    assert verdict_wait(FIRST, FIRST, verdict("True", "Recording"), stream_found=True) == 0.0


def test_a_first_write_waits_longer_for_a_recorder_that_is_not_ready_yet() -> None:
    """A new recorder's claim binds and its pod starts in tens of seconds on a busy cluster: written meanwhile, the
    camera would say RecorderNotReady (a Warning Event and a status write) and then Recording (another of each)."""
    not_ready = verdict("False", RECORDER_NOT_READY)
    assert (
        verdict_wait(FIRST + PATIENCE, FIRST, not_ready, stream_found=True)
        == RECORDER_START_PATIENCE_SECONDS - PATIENCE
    )
    # One that does not become ready is reported once that patience is over.
    assert verdict_wait(FIRST + RECORDER_START_PATIENCE_SECONDS, FIRST, not_ready, stream_found=True) == 0.0


def test_no_wait_when_waiting_cannot_change_the_verdict_or_patience_is_over() -> None:
    # The device gave no stream: WaitingForStream is the truth, written now.
    assert verdict_wait(FIRST, FIRST, verdict("False", WAITING_FOR_STREAM), stream_found=False) == 0.0
    assert verdict_wait(FIRST, FIRST, verdict("False", "NoRecordingPolicy"), stream_found=True) == 0.0
    # A verdict that never comes is reported at the deadline.
    assert verdict_wait(FIRST + PATIENCE, FIRST, verdict("False", WAITING_FOR_STREAM), stream_found=True) == 0.0
    assert verdict_wait(FIRST + PATIENCE + 1, FIRST, None, stream_found=True) == 0.0


def test_a_status_showing_the_stream_already_judged_is_no_change_for_recording() -> None:
    body = {"metadata": {"name": "gate", "namespace": "city", "labels": {"recorded": "yes"}}, "spec": {}}
    judged_with_observed = recording_fingerprint(body, "rtsp://10.0.0.7/main")
    written = {**body, "status": {"streamUris": [{"profile": "main", "uri": "rtsp://10.0.0.7/main"}]}}
    assert recording_fingerprint(written) == judged_with_observed
    assert recording_fingerprint(body) != judged_with_observed
    moved = {**body, "status": {"streamUris": [{"profile": "main", "uri": "rtsp://10.0.0.8/main"}]}}
    assert recording_fingerprint(moved) != judged_with_observed
