"""Pure helpers for status conditions, following the Kubernetes API conventions.

A condition's `lastTransitionTime` moves only when its status changes, so a
reconcile that finds nothing new produces an identical status and no write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]
READY = "Ready"


@dataclass(frozen=True)
class DesiredCondition:
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Transition:
    """A condition whose status changed (or appeared): the only occasions for an Event."""

    type: str
    previous: str | None
    current: DesiredCondition


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    current: Sequence[dict[str, Any]] | None,
    desired: Iterable[DesiredCondition],
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """The new condition list: desired conditions in order, transition times kept when status is unchanged."""
    by_type = {c.get("type"): c for c in current or ()}
    merged = []
    for want in desired:
        previous = by_type.get(want.type)
        unchanged = previous is not None and previous.get("status") == want.status
        merged.append(
            {
                "type": want.type,
                "status": want.status,
                "reason": want.reason,
                "message": want.message,
                "lastTransitionTime": previous["lastTransitionTime"]
                if unchanged and previous and "lastTransitionTime" in previous
                else rfc3339(now),
                "observedGeneration": generation,
            }
        )
    return merged


def transitions(current: Sequence[dict[str, Any]] | None, desired: Iterable[DesiredCondition]) -> list[Transition]:
    by_type = {c.get("type"): c.get("status") for c in current or ()}
    return [
        Transition(type=want.type, previous=by_type.get(want.type), current=want)
        for want in desired
        if by_type.get(want.type) != want.status
    ]


def summarize_ready(
    conditions: Sequence[DesiredCondition], ready_reason: str = "Ready", ready_message: str = "all conditions hold"
) -> DesiredCondition:
    """Ready is True only when every given condition is; otherwise it carries the first failing reason."""
    for condition in conditions:
        if condition.type != READY and condition.status != "True":
            return DesiredCondition(READY, "False", condition.reason, f"{condition.type}: {condition.message}")
    return DesiredCondition(READY, "True", ready_reason, ready_message)
