"""Filing (R5) and signage (R6): conditions that warn but do not stop a camera from working."""

from __future__ import annotations

from datetime import date, timedelta

from camfleet.api.camera import CameraCondition, CameraSpec
from camfleet.condition_merge import DesiredCondition

FILING_DEADLINE = timedelta(days=30)


def filing_due(spec: CameraSpec) -> date | None:
    if spec.acceptance_date is None or spec.filing_reference:
        return None
    return spec.acceptance_date + FILING_DEADLINE


def filed_condition(spec: CameraSpec, today: date) -> DesiredCondition[CameraCondition]:
    """R5: a system is filed with the police within 30 days of acceptance."""
    if spec.filing_reference:
        return DesiredCondition(
            CameraCondition.FILED, "True", "Filed", f"filed with the police as {spec.filing_reference}"
        )
    due = filing_due(spec)
    if due is None:
        return DesiredCondition(
            CameraCondition.FILED, "Unknown", "NotAccepted", "no acceptance date yet; filing is due 30 days after"
        )
    if today > due:
        return DesiredCondition(
            CameraCondition.FILED,
            "False",
            "FilingOverdue",
            f"accepted without a filing reference; filing was due on {due} (rule R5)",
        )
    return DesiredCondition(
        CameraCondition.FILED, "Unknown", "FilingPending", f"file with the police by {due} (rule R5)"
    )


def signage_condition(spec: CameraSpec) -> DesiredCondition[CameraCondition]:
    """R6: cameras in public places carry visible signage."""
    if spec.signage.confirmed:
        return DesiredCondition(CameraCondition.SIGNAGE, "True", "SignageConfirmed", "warning signage is in place")
    return DesiredCondition(
        CameraCondition.SIGNAGE,
        "False",
        "SignageUnconfirmed",
        "warning signage not confirmed; set spec.signage.confirmed (rule R6)",
    )
