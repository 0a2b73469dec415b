"""The status condition every kind reports, shaped like `metav1.Condition`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import Field, StringConstraints, model_validator

from camfleet.api.base import StatusModel
from camfleet.api.rules import ListMap
from camfleet.api.types import Integer, Rfc3339Time

CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

READY = "Ready"
"""The summary condition every kind sets: True when the object does what its spec asks."""


class ConditionStatus(StrEnum):
    """Whether a condition holds; compares equal to the plain strings "True", "False", "Unknown"."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One aspect of the object's observed state, following the Kubernetes API conventions."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    """Condition type in CamelCase, e.g. Ready, Reachable, Approved."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)]
    """Machine-readable CamelCase reason for the last transition, e.g. FilingOverdue."""
    message: Annotated[str, StringConstraints(max_length=32768)] = ""
    """Human-readable details of the last transition."""
    last_transition_time: Rfc3339Time
    """When the condition last changed status (RFC 3339)."""
    observed_generation: Integer | None = Field(default=None, ge=0)
    """The `metadata.generation` the condition was computed from."""


Conditions = Annotated[list[Condition], Field(max_length=32), ListMap("type")]
"""Conditions keyed by type: at most one condition of each type."""


class ObjectStatus(StatusModel):
    """Status fields every kind shares; kinds add their own.

    Each kind names its condition enum in `condition_types`; a condition of any other type is refused,
    so a status function cannot write a condition its kind does not declare (and document).
    """

    condition_types: ClassVar[type[StrEnum] | None] = None
    """The kind's condition enum; None only for this base class."""

    observed_generation: Integer | None = Field(default=None, ge=0)
    """The `metadata.generation` this status describes; older than the object means "not yet handled"."""
    conditions: Conditions = Field(default_factory=list)
    """Current conditions; `Ready` summarises them."""

    @model_validator(mode="after")
    def _only_declared_condition_types(self) -> Self:
        declared = type(self).condition_types
        if declared is None:
            return self
        allowed = {member.value for member in declared}
        unknown = sorted({c.type for c in self.conditions} - allowed)
        if unknown:
            raise ValueError(
                f"condition type(s) {', '.join(unknown)} not declared by {declared.__name__}"
                f" ({', '.join(sorted(allowed))})"
            )
        return self
