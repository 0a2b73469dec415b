"""An AccessTier's status: which departments hold the level now, and when that next changes (R14 windows)."""

from __future__ import annotations

from datetime import datetime

from camfleet.access.city_time import CityCalendar
from camfleet.access.windows import active_departments, tier_next_transition
from camfleet.api.access_tier import AccessTier, AccessTierCondition, AccessTierStatus
from camfleet.condition_merge import DesiredCondition, Progress, merge_conditions, progress_conditions, whole_seconds


def tier_ready(tier: AccessTier, active: list[str]) -> DesiredCondition[AccessTierCondition]:
    holders = ", ".join(active) if active else "none: every window is closed"
    return DesiredCondition(
        AccessTierCondition.READY,
        "True",
        "Active" if active else "NoneActive",
        f"level {tier.spec.level} held by {holders}",
    )


def tier_status(
    current: AccessTierStatus | None, tier: AccessTier, generation: int, now: datetime, calendar: CityCalendar
) -> AccessTierStatus:
    """The tier's whole new status; equal to `current` when nothing changed.

    Always settled (kstatus Current): a closed window is the tier working as specified, not a fault."""
    active = active_departments(tier, now, calendar)
    following = tier_next_transition(tier, now, calendar)
    current = current or AccessTierStatus()
    return AccessTierStatus(
        observed_generation=generation,
        active_departments=active,
        next_transition_time=whole_seconds(following) if following is not None else None,
        conditions=merge_conditions(
            current.conditions,
            [
                tier_ready(tier, active),
                *progress_conditions(AccessTierCondition.RECONCILING, AccessTierCondition.STALLED, Progress()),
            ],
            generation,
            now,
        ),
    )
