"""AccessTier (cluster-scoped): which departments hold which of the four permission levels, and when.

The levels follow QD-TIERS art. 16 (R13):
1. view and control every shared camera, pre-empt and lock control, extract and store;
2. view and control all but restricted zones, own cameras when no higher level holds them, extract all but
   restricted zones;
3. view all but restricted zones, control only `authorizedCameras`;
4. view `authorizedCameras` only, no control; may apply for more through a SharingGrant.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from camfleet.api.base import CamfleetModel, CustomResource
from camfleet.api.common import CameraSelection, Period
from camfleet.api.conditions import ObjectStatus
from camfleet.api.rules import Cel, CelRule, ListMap
from camfleet.api.types import DnsLabel, Integer, Rfc3339Time, Text

MONTH_DAY_PATTERN = (
    r"^(01-(0[1-9]|[12][0-9]|3[01])|02-(0[1-9]|[12][0-9])|(04|06|09|11)-(0[1-9]|[12][0-9]|30)"
    r"|(03|05|07|08|10|12)-(0[1-9]|[12][0-9]|3[01]))$"
)
"""MM-DD of a day that exists in some year (02-29 counts: it exists in leap years)."""

_MONTH_DAY_MESSAGE = "a recurring window runs between real calendar days written MM-DD, e.g. 06-01 (seasonal rule R14)"

REAL_MONTH_DAY = CelRule(
    rule=f"self.matches('{MONTH_DAY_PATTERN}')",
    message=_MONTH_DAY_MESSAGE,
    check=lambda value: re.fullmatch(MONTH_DAY_PATTERN, value) is not None,
    message_expression=f"'\"' + self + '\" is not a calendar day; {_MONTH_DAY_MESSAGE}'",
    explain=lambda value: f'"{value}" is not a calendar day; {_MONTH_DAY_MESSAGE}',
)

MonthDay = Annotated[str, StringConstraints(strict=True, max_length=5), Cel(REAL_MONTH_DAY)]
"""A day of the year, MM-DD."""

TIER_LEVEL = CelRule(
    rule="self >= 1 && self <= 4",
    message="an access tier level is 1 (most rights) to 4 (fewest rights) (tier rule R13)",
    check=lambda level: 1 <= level <= 4,
)


class RecurringWindow(CamfleetModel):
    """A season that comes back every year, from `start` to `end` inclusive, in the cluster's time zone.
    When `end` is before `start` the window wraps over the new year (e.g. 11-15 to 03-15 for winter)."""

    start: MonthDay
    """First day of the season, MM-DD."""
    end: MonthDay
    """Last day of the season, MM-DD."""


class TimeWindow(CamfleetModel):
    """When a subject holds the level: either every year in a season, or once in an absolute period."""

    recurring: RecurringWindow | None = None
    """Yearly season, e.g. the flood season 06-01 to 09-30."""
    absolute: Period | None = None
    """One period with start and end times, e.g. a declared emergency."""

    cel_rules = (
        CelRule(
            rule="has(self.recurring) != has(self.absolute)",
            message="a time window is either recurring or absolute: set exactly one (seasonal rule R14)",
            check=lambda window: (window.recurring is None) != (window.absolute is None),
        ),
    )


class TierSubject(CamfleetModel):
    """A department holding the tier's level, always or only within its windows."""

    department: DnsLabel
    """The department's namespace."""
    windows: Annotated[list[TimeWindow], Field(max_length=8)] = Field(default_factory=list)
    """When the department holds the level (R14). Empty: always."""


class AccessTierSpec(CamfleetModel):
    """A permission level and the departments holding it."""

    level: Annotated[Integer, Cel(TIER_LEVEL)]
    """Permission level, 1 (most rights) to 4 (fewest), as defined in R13 (QD-TIERS art. 16)."""
    description: Text | None = None
    """What the tier is for."""
    subjects: Annotated[list[TierSubject], Field(max_length=64), ListMap("department")] = Field(default_factory=list)
    """Departments holding the level."""
    authorized_cameras: Annotated[list[CameraSelection], Field(max_length=32)] = Field(default_factory=list)
    """The authorized subset: cameras level 3 may control and level 4 may view. Ignored for levels 1 and 2."""


class AccessTierCondition(StrEnum):
    """Condition types an AccessTier reports: Ready is True while some department holds the level (reason
    Active) and also when none does (reason NoneActive: every window is closed)."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    """kstatus: True while the operator's own work for this generation is under way; the reason says which."""
    STALLED = "Stalled"
    """kstatus: True, with a CamelCase reason and a message, when it cannot proceed until someone changes
    something (Flux then reports Failed, Argo CD Degraded)."""


class AccessTierStatus(ObjectStatus):
    """Observed state: which subjects hold the level right now."""

    condition_types = AccessTierCondition

    active_departments: Annotated[list[DnsLabel], Field(max_length=64)] = Field(default_factory=list)
    """Departments whose windows are open now."""
    next_transition_time: Rfc3339Time | None = None
    """When the set of active departments next changes."""


class AccessTier(CustomResource):
    """A permission level (1-4) held by departments, always or in time windows such as a flood season."""

    kind: Literal["AccessTier"] = "AccessTier"
    """Kind of the object: AccessTier."""
    spec: AccessTierSpec
    """The level and who holds it."""
    status: AccessTierStatus | None = None
    """Observed state, written by the operator."""
