"""The access engine (R10-R15): who may view, play back, control or export which camera, when, and why.

Pure decisions, no I/O: the API objects (or the small facts taken from them) and the time go in,
decisions with their reasons come out.

- `decide`: effective permissions of a department on a camera at a time; `format_explanation` words it.
- `tier_permissions`: the R13 table; `window_active`: R14 seasons and periods.
- `grant_in_force`, `grant_rights`, `effective_cameras`: what grants give.
- `grant_phase`: the SharingGrant lifecycle; `working_days_after`: R11 deadlines.
- `arbitrate`: who steers a PTZ camera.
"""

from camfleet.access.approvals import ApprovalFacts, ApprovalTally, departments_of, tally_approvals
from camfleet.access.arbitration import Arbitration, ControlHolder, ControlRequest, arbitrate
from camfleet.access.camera_selection import selection_covers
from camfleet.access.city_time import DEFAULT_CALENDAR, DEFAULT_TIME_ZONE, CityCalendar, working_days_after
from camfleet.access.decision_inputs import CameraFacts, GrantFacts
from camfleet.access.effective_permissions import Decision, Effect, Reason, decide
from camfleet.access.explain import format_explanation
from camfleet.access.grants import effective_cameras, grant_covers, grant_in_force, grant_rights, hard_expiry
from camfleet.access.lifecycle import GrantLifecycle, GrantPhase, approval_due, approvals_required, grant_phase
from camfleet.access.tier_table import R13_TABLE, Rights, level_rights, owner_rights, tier_permissions
from camfleet.access.windows import (
    active_departments,
    subject_active,
    subject_next_change,
    tier_next_transition,
    window_active,
)
from camfleet.label_selectors import selector_matches

__all__ = [
    "DEFAULT_CALENDAR",
    "DEFAULT_TIME_ZONE",
    "R13_TABLE",
    "ApprovalFacts",
    "ApprovalTally",
    "Arbitration",
    "CameraFacts",
    "CityCalendar",
    "ControlHolder",
    "ControlRequest",
    "Decision",
    "Effect",
    "GrantFacts",
    "GrantLifecycle",
    "GrantPhase",
    "Reason",
    "Rights",
    "active_departments",
    "approval_due",
    "approvals_required",
    "arbitrate",
    "decide",
    "departments_of",
    "effective_cameras",
    "format_explanation",
    "grant_covers",
    "grant_in_force",
    "grant_phase",
    "grant_rights",
    "hard_expiry",
    "level_rights",
    "owner_rights",
    "selection_covers",
    "selector_matches",
    "subject_active",
    "subject_next_change",
    "tally_approvals",
    "tier_next_transition",
    "tier_permissions",
    "window_active",
    "working_days_after",
]
