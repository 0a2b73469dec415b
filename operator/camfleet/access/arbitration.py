"""R13 PTZ control arbitration: who steers a camera when several departments want to.

- the higher PTZ priority pre-empts (see `tier_table`: level 1 > owner > level 2 > level 3 > borrowed
  control, and any emergency grant above all normal use);
- equal priority keeps the current holder, so two equals never wrest the camera from each other;
- level 1 may lock control for a period: until the lock ends nobody else takes control, emergency or not.
  Level 1 is the city's command centre, the body that directs emergencies, so its lock is final.
  A lock is capped (one hour unless configured) so that a forgotten lock cannot hold a camera forever.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from camfleet.access.city_time import require_aware
from camfleet.access.effective_permissions import Decision

DEFAULT_MAX_LOCK = timedelta(hours=1)


@dataclass(frozen=True)
class ControlHolder:
    department: str
    priority: int
    lock_until: datetime | None = None

    def locked_at(self, at: datetime) -> bool:
        return self.lock_until is not None and at < self.lock_until


@dataclass(frozen=True)
class ControlRequest:
    department: str
    priority: int | None
    """The requester's PTZ priority on this camera; None without PTZControl."""
    can_lock: bool = False
    lock_until: datetime | None = None
    """Requested lock; honoured only for a requester that may lock (level 1)."""

    @classmethod
    def from_decision(cls, decision: Decision, lock_until: datetime | None = None) -> ControlRequest:
        return cls(decision.department, decision.ptz_priority, decision.can_lock, lock_until)


@dataclass(frozen=True)
class Arbitration:
    granted: bool
    holder: ControlHolder | None
    """Who controls the camera after the request."""
    because: str


def arbitrate(
    holder: ControlHolder | None, request: ControlRequest, at: datetime, max_lock: timedelta = DEFAULT_MAX_LOCK
) -> Arbitration:
    """Who controls the camera once `request` is heard, given the current `holder` (None: nobody)."""
    require_aware(at)
    if request.priority is None:
        return Arbitration(False, holder, f"{request.department} has no PTZControl permission on this camera")
    lock_until, lock_note = _lock(request, at, max_lock)
    claim = ControlHolder(request.department, request.priority, lock_until)

    if holder is None:
        return Arbitration(True, claim, f"{request.department} takes control of a free camera{lock_note}")
    if holder.department == request.department:
        if lock_until is None and holder.locked_at(at):
            claim = replace(claim, lock_until=holder.lock_until)  # renewing control must not drop a running lock
        return Arbitration(True, claim, f"{request.department} keeps control{lock_note}")
    if holder.lock_until is not None and at < holder.lock_until:
        return Arbitration(
            False, holder, f"locked by {holder.department} until {holder.lock_until.isoformat()} (level 1 lock, R13)"
        )
    if request.priority > holder.priority:
        return Arbitration(
            True,
            claim,
            f"{request.department} (priority {request.priority}) pre-empts {holder.department}"
            f" (priority {holder.priority}){lock_note}",
        )
    return Arbitration(
        False,
        holder,
        f"{holder.department} holds control with priority {holder.priority}, not below {request.department}'s"
        f" {request.priority}; equal priority keeps the current holder",
    )


def _lock(request: ControlRequest, at: datetime, max_lock: timedelta) -> tuple[datetime | None, str]:
    if request.lock_until is None or request.lock_until <= at:
        return None, ""
    if not request.can_lock:
        return None, " (lock refused: only level 1 may lock control)"
    lock_until = min(request.lock_until, at + max_lock)
    return lock_until, f", locked until {lock_until.isoformat()}"
