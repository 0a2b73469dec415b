from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from camfleet.api.recording_policy import RecordingPolicy
from camfleet.recording.holds import LEGAL_HOLD, RETAIN_UNTIL, may_delete, retain_until
from camfleet.recording.selection import select_policy
from camfleet.recording.state import recording_state


def policy(name: str, priority: int = 0, **selector: Any) -> RecordingPolicy:
    return RecordingPolicy.model_validate(
        {
            "metadata": {"name": name, "namespace": "d"},
            "spec": {"cameraSelector": selector or {}, "priority": priority},
        }
    )


def test_highest_priority_wins_then_name() -> None:
    chosen = select_policy({"zone": "a"}, None, [policy("b"), policy("a"), policy("z", priority=5)])
    assert chosen.winner is not None
    assert chosen.winner.metadata.name == "z"
    assert [p.metadata.name for p in chosen.contenders] == ["a", "b"]
    tie = select_policy({}, None, [policy("b"), policy("a")])
    assert tie.winner is not None
    assert tie.winner.metadata.name == "a"


def test_selectors_decide_and_a_pinned_policy_overrides_them() -> None:
    labelled = policy("labelled", matchLabels={"zone": "a"})
    assert select_policy({"zone": "b"}, None, [labelled]).winner is None
    pinned = select_policy({"zone": "b"}, "labelled", [labelled, policy("all", priority=9)])
    assert pinned.winner is not None
    assert pinned.winner.metadata.name == "labelled"
    missing = select_policy({}, "gone", [labelled])
    assert (missing.winner, missing.pinned_missing) == (None, "gone")


@given(st.permutations([("a", 1), ("b", 1), ("c", 3), ("d", 0)]))
def test_the_winner_does_not_depend_on_order(order: list[tuple[str, int]]) -> None:
    winner = select_policy({}, None, [policy(name, priority) for name, priority in order]).winner
    assert winner is not None
    assert winner.metadata.name == "c"


def test_contention_is_named_in_the_recording_condition() -> None:
    selection = select_policy({}, None, [policy("a"), policy("b", priority=2)])
    state = recording_state(selection, None, True, 1, "cam-recordings", 30)
    assert state.condition.status == "True"
    assert "also selected by a" in state.condition.message
    assert state.required


def test_released_volumes_wait_for_retention_and_legal_holds_forever() -> None:
    released = datetime(2026, 1, 1, tzinfo=UTC)
    until = retain_until(released, 30)
    assert until == released + timedelta(days=30)
    annotations = {RETAIN_UNTIL: until.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert not may_delete(annotations, until - timedelta(seconds=1))
    assert may_delete(annotations, until)
    assert not may_delete({**annotations, LEGAL_HOLD: "Court order 7"}, until + timedelta(days=3650))
    assert not may_delete({}, until), "a volume in use (never released) is never deleted"


def test_a_recorder_waiting_for_an_unbound_volume_names_the_volume() -> None:
    selection = select_policy({}, None, [policy("a")])
    why = "PersistentVolumeClaim cam-recordings is Pending, not bound to a volume; fast-ssd must provision one"
    state = recording_state(selection, None, True, 0, "cam-recordings", 30, unbound_volume=why)
    assert (state.condition.status, state.condition.reason) == ("False", "RecorderNotReady")
    assert "waiting for its volume: PersistentVolumeClaim cam-recordings is Pending" in state.condition.message
    starting = recording_state(selection, None, True, 0, "cam-recordings", 30)
    assert starting.condition.message == "recorder for policy a is starting"


def test_a_stalled_camera_without_a_stream_stalls_its_recording_rather_than_waiting() -> None:
    """Its policy must not wait, InProgress for ever, for a stream a camera with a wrong password never reports."""
    selection = select_policy({}, None, [policy("p")])
    waiting = recording_state(selection, None, False, None, None, None)
    assert (waiting.condition.reason, waiting.required) == ("WaitingForStream", True)
    stalled = recording_state(selection, None, False, None, None, None, camera_stalled=("AuthFailed", "wrong password"))
    assert (stalled.condition.status, stalled.condition.reason) == ("False", "CameraStalled")
    assert "AuthFailed: wrong password" in stalled.condition.message
    # A camera that has its stream is recorded whatever else it says.
    assert (
        recording_state(selection, None, True, 1, "v", 30, camera_stalled=("ClockDrift", "off")).condition.reason
        == "Recording"
    )
