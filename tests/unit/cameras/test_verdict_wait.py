"""When a camera's status write waits for its recording verdict: its first write should already say Recording."""

from __future__ import annotations

from camfleet.api.camera import CameraCondition
from camfleet.condition_merge import DesiredCondition
from camfleet.controllers.camera import verdict_wait
from camfleet.controllers.recording import recording_fingerprint
from camfleet.recording.state import RECORDER_NOT_READY, WAITING_FOR_STREAM, RecordingState


def verdict(status: str, reason: str) -> RecordingState:
    return RecordingState(DesiredCondition(CameraCondition.RECORDING, status, reason, "m"), "city", required=True)


def test_a_first_write_waits_for_a_verdict_that_knows_the_stream_the_pass_found() -> None:
    assert verdict_wait(10.0, 15.0, None, stream_found=True) == 5.0
    assert verdict_wait(10.0, 15.0, verdict("False", WAITING_FOR_STREAM), stream_found=True) == 5.0
    assert verdict_wait(12.0, 15.0, verdict("False", RECORDER_NOT_READY), stream_found=True) == 3.0
    assert verdict_wait(10.0, 15.0, verdict("True", "Recording"), stream_found=True) == 0.0


def test_no_wait_when_waiting_cannot_change_the_verdict_or_patience_is_over() -> None:
    # The device gave no stream: WaitingForStream is the truth, written now.
    assert verdict_wait(10.0, 15.0, verdict("False", WAITING_FOR_STREAM), stream_found=False) == 0.0
    assert verdict_wait(10.0, 15.0, verdict("False", "NoRecordingPolicy"), stream_found=True) == 0.0
    # A recorder that does not start, or a verdict that never comes, is reported at the deadline.
    assert verdict_wait(15.0, 15.0, verdict("False", RECORDER_NOT_READY), stream_found=True) == 0.0
    assert verdict_wait(16.0, 15.0, None, stream_found=True) == 0.0


def test_a_status_showing_the_stream_already_judged_is_no_change_for_recording() -> None:
    body = {"metadata": {"name": "gate", "namespace": "city", "labels": {"recorded": "yes"}}, "spec": {}}
    judged_with_observed = recording_fingerprint(body, "rtsp://10.0.0.7/main")
    written = {**body, "status": {"streamUris": [{"profile": "main", "uri": "rtsp://10.0.0.7/main"}]}}
    assert recording_fingerprint(written) == judged_with_observed
    assert recording_fingerprint(body) != judged_with_observed
    moved = {**body, "status": {"streamUris": [{"profile": "main", "uri": "rtsp://10.0.0.8/main"}]}}
    assert recording_fingerprint(moved) != judged_with_observed
