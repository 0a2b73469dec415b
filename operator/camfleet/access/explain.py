"""Decisions in words, for `camfleet access explain` (in the manner of `kubectl auth can-i`)."""

from __future__ import annotations

from camfleet.access.effective_permissions import PERMISSION_ORDER, Decision
from camfleet.api.sharing_grant import Permission


def format_explanation(decision: Decision) -> str:
    lines = [f"department {decision.department} on camera {decision.camera} at {decision.at.isoformat()}"]
    level = f"level {decision.level}" if decision.level is not None else "no level"
    lines.append(f"  holds: {level}")
    for permission in PERMISSION_ORDER:
        answer = "yes" if decision.allows(permission) else "no"
        if answer == "yes" and decision.ptz_priority is not None and permission == Permission.PTZ_CONTROL:
            answer += f" (priority {decision.ptz_priority})"
        lines.append(f"  {permission.value + ':':<12} {answer}")
    lines.append(f"  {'PTZLock:':<12} {'yes' if decision.can_lock else 'no'}")
    if decision.valid_until is not None:
        lines.append(f"  valid until {decision.valid_until.isoformat()}")
    lines.append("reasons:")
    lines.extend(f"  {reason}" for reason in decision.reasons)
    return "\n".join(lines)
