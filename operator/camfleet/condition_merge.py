"""Pure helpers for status conditions, following the Kubernetes API conventions.

A condition's `lastTransitionTime` moves only when its status changes, so a
reconcile that finds nothing new produces an identical status and no write.

`DesiredCondition` is generic over the kind's condition enum (`CameraCondition`,
`SharingGrantCondition`, ...): a status function declares the enum it speaks, so a
condition type the kind does not declare is a type error, and the kind's status model
refuses it at run time (`ObjectStatus.condition_types`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from camfleet.api.conditions import Condition
from camfleet.api.conditions import ConditionStatus as ConditionState

ConditionStatus = Literal["True", "False", "Unknown"]
READY = "Ready"

T = TypeVar("T", bound=StrEnum)


@dataclass(frozen=True)
class DesiredCondition(Generic[T]):
    type: T
    status: ConditionStatus
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Transition(Generic[T]):
    """A condition whose status changed (or appeared): the only occasions for an Event."""

    type: T
    previous: str | None
    current: DesiredCondition[T]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whole_seconds(moment: datetime) -> datetime:
    """The moment as status stores it: UTC, to the second (RFC 3339 as `rfc3339` writes it)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def merge_conditions(
    current: Sequence[Condition] | None,
    desired: Iterable[DesiredCondition[T]],
    generation: int,
    now: datetime,
) -> list[Condition]:
    """The new condition list: desired conditions in order, transition times kept when status is unchanged."""
    by_type = {c.type: c for c in current or ()}
    merged = []
    for want in desired:
        previous = by_type.get(want.type)
        unchanged = previous is not None and previous.status == want.status
        merged.append(
            Condition(
                type=want.type,
                status=ConditionState(want.status),
                reason=want.reason,
                message=want.message,
                last_transition_time=previous.last_transition_time
                if unchanged and previous is not None
                else whole_seconds(now),
                observed_generation=generation,
            )
        )
    return merged


def transitions(current: Sequence[Condition] | None, desired: Iterable[DesiredCondition[T]]) -> list[Transition[T]]:
    by_type = {c.type: str(c.status) for c in current or ()}
    return [
        Transition(type=want.type, previous=by_type.get(want.type), current=want)
        for want in desired
        if by_type.get(want.type) != want.status
    ]


def reason_changes(
    current: Sequence[Condition] | None, desired: Iterable[DesiredCondition[T]]
) -> list[DesiredCondition[T]]:
    """Conditions still False but for another reason (DeviceError -> SettingsNotApplied): news too."""
    before = {c.type: (str(c.status), c.reason) for c in current or ()}
    return [
        want
        for want in desired
        if want.status == "False"
        and before.get(want.type, ("", ""))[0] == "False"
        and before[want.type][1] != want.reason
    ]


def condition_of(current: Sequence[Condition] | None, condition_type: StrEnum) -> Condition | None:
    return next((c for c in current or () if c.type == condition_type), None)


def stored_condition(status: Mapping[str, Any] | None, condition_type: str) -> Mapping[str, Any]:
    """A condition of an object's status as the API server returns it (plain dicts, not parsed into the model), by
    type; {} when the status has none of that type."""
    return next((c for c in (status or {}).get("conditions") or () if c.get("type") == condition_type), {})


def summarize_ready(
    conditions: Sequence[DesiredCondition[T]],
    ready: T,
    ready_reason: str = "Ready",
    ready_message: str = "all conditions hold",
) -> DesiredCondition[T]:
    """Ready is True only when every given condition is; otherwise it carries the first failing reason."""
    for condition in conditions:
        if condition.type != ready and condition.status != "True":
            return DesiredCondition(ready, "False", condition.reason, f"{condition.type}: {condition.message}")
    return DesiredCondition(ready, "True", ready_reason, ready_message)


RECONCILING = "Reconciling"
"""kstatus's in-progress condition: True while the operator's own work for this generation is under way."""
STALLED = "Stalled"
"""kstatus's failure condition: True when the object cannot proceed until someone changes something."""


@dataclass(frozen=True)
class Progress:
    """Where the operator's work on an object stands, as kstatus (Flux) and Argo CD read it.

    `working` and `stuck` are (reason, message); at most one is set. Neither: the object is settled (Ready says
    in which state), which kstatus calls Current.
    """

    working: tuple[str, str] | None = None
    stuck: tuple[str, str] | None = None


SETTLED = Progress()


def progress_conditions(reconciling: T, stalled: T, progress: Progress) -> list[DesiredCondition[T]]:
    """The kind's Reconciling and Stalled conditions, always both present ("abnormal-true": False is normal).

    Never both True: kstatus takes the first True one in list order, and a stall is the more useful news.
    """
    if progress.stuck is not None:
        reason, message = progress.stuck
        return [
            DesiredCondition(reconciling, "False", "Stalled", "no work under way: the Stalled condition says why"),
            DesiredCondition(stalled, "True", reason, message),
        ]
    if progress.working is not None:
        reason, message = progress.working
        return [
            DesiredCondition(reconciling, "True", reason, message),
            DesiredCondition(stalled, "False", "NotStalled", "nothing needs a change to proceed"),
        ]
    return [
        DesiredCondition(reconciling, "False", "Reconciled", "no work under way for this generation"),
        DesiredCondition(stalled, "False", "NotStalled", "nothing needs a change to proceed"),
    ]
