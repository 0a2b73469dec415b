from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from camfleet.condition_merge import DesiredCondition, merge_conditions, summarize_ready, transitions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_transition_time_kept_while_status_unchanged() -> None:
    first = merge_conditions(None, [DesiredCondition("Ready", "True", "Reconciled", "ok")], 1, T0)
    later = merge_conditions(first, [DesiredCondition("Ready", "True", "Reconciled", "ok")], 1, T0 + timedelta(hours=1))
    assert later == first


def test_transition_time_moves_when_status_changes() -> None:
    first = merge_conditions(None, [DesiredCondition("Ready", "True", "Reconciled")], 1, T0)
    later = merge_conditions(first, [DesiredCondition("Ready", "False", "Unreachable")], 2, T0 + timedelta(hours=1))
    stored = [c.model_dump(mode="json", by_alias=True) for c in later]
    assert stored[0]["lastTransitionTime"] == "2026-01-01T01:00:00Z"
    assert stored[0]["observedGeneration"] == 2


def test_reason_change_without_status_change_is_not_a_transition() -> None:
    current = merge_conditions(None, [DesiredCondition("Ready", "False", "Unreachable")], 1, T0)
    assert transitions(current, [DesiredCondition("Ready", "False", "AuthFailed")]) == []
    assert [t.type for t in transitions(current, [DesiredCondition("Ready", "True", "Reconciled")])] == ["Ready"]


def test_ready_carries_the_first_failing_reason() -> None:
    ready = summarize_ready(
        [
            DesiredCondition("Reachable", "True", "Reachable"),
            DesiredCondition("Authenticated", "False", "AuthFailed", "bad"),
        ],
        "Ready",
    )
    assert (ready.status, ready.reason) == ("False", "AuthFailed")
    assert "Authenticated" in ready.message


statuses = st.sampled_from(["True", "False", "Unknown"])


@given(st.lists(statuses, min_size=1, max_size=5))
def test_merge_is_idempotent(sequence: list[str]) -> None:
    conditions = None
    for step, status in enumerate(sequence):
        desired = [DesiredCondition("Ready", status, "Reason")]  # type: ignore[arg-type]
        conditions = merge_conditions(conditions, desired, 1, T0 + timedelta(minutes=step))
        assert merge_conditions(conditions, desired, 1, T0 + timedelta(days=1)) == conditions
