"""A RecordingPolicy's status, from the recording states of its cameras."""

from __future__ import annotations

import datetime as dt

from camfleet.api.camera import CameraCondition
from camfleet.condition_merge import DesiredCondition
from camfleet.recording.policy_status import policy_status
from camfleet.recording.state import RecordingState

NOW = dt.datetime(2030, 8, 12, 10, 0, tzinfo=dt.UTC)


def state(status: str, reason: str) -> RecordingState:
    return RecordingState(DesiredCondition(CameraCondition.RECORDING, status, reason), "p", True)  # type: ignore[arg-type]


def test_counts_and_ready() -> None:
    states = {"a": state("True", "Recording"), "b": state("False", "RecorderNotReady")}
    status, ready = policy_status(None, 4, states, 1, 30, NOW)
    assert status.to_api() | {"conditions": []} == {
        "observedGeneration": 4,
        "selectedCameras": 2,
        "retentionVolumes": 1,
        "effectiveRetentionDays": 30,
        "conditions": [],
    }
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "RecorderNotReady")
    assert status.conditions[0].message == "1 of 2 not recording: b: RecorderNotReady"


def test_unchanged_facts_give_the_same_status() -> None:
    states = {"a": state("True", "Recording")}
    first, ready = policy_status(None, 1, states, 1, 30, NOW)
    assert (ready.status, ready.message) == ("True", "recording 1 camera(s)")
    again, _ = policy_status(first, 1, states, 1, 30, NOW + dt.timedelta(hours=1))
    assert again == first
