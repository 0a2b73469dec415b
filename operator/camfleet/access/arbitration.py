"""R13 PTZ control arbitration: who steers a camera when several departments want to.

- the higher PTZ priority pre-empts (see `tier_table`: level 1 > level 2 > owner > level 3 > borrowed
  control); emergency need (an emergency grant) breaks ties within one level only;
- equal priority keeps the current holder, so two equals never wrest the camera from each other;
- level 1 may lock control for a period: until the lock ends (or is released) nobody below level 1 takes
  control, emergency or not. Level 1 is the city's command centre, the body that directs emergencies, so its
  lock is final for the levels below it. A lock is capped (one hour unless configured) so that a forgotten lock
  cannot hold a camera forever; for the same reason it outlives the holder's silence (it is explicit and bounded);
- a holder without a running lock that has not been heard from for `silent_after` (every request of the holder
  counts as a sign of life) has lost control: the camera is free for the next request, whatever its priority.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from camfleet.access.city_time import require_aware
from camfleet.access.effective_permissions import Decision
from camfleet.access.tier_table import LEVEL_PRIORITY

DEFAULT_MAX_LOCK = timedelta(hours=1)
DEFAULT_SILENT_AFTER = timedelta(seconds=30)
"""A holder not heard from for this long has let go (a console closed, an operator gone): the camera is free."""
LOCK_PRIORITY = LEVEL_PRIORITY[1]
"""A lock holds against every priority below level 1's."""


@dataclass(frozen=True)
class ControlHolder:
    department: str
    priority: int
    lock_until: datetime | None = None
    since: datetime | None = field(default=None, compare=False)
    """When this department took control (kept while it renews)."""
    heard_at: datetime | None = field(default=None, compare=False)
    """The holder's last request; None: never silent (tests and callers that do not track it)."""

    def locked_at(self, at: datetime) -> bool:
        return self.lock_until is not None and at < self.lock_until

    def silent_at(self, at: datetime, silent_after: timedelta) -> bool:
        return not self.locked_at(at) and self.heard_at is not None and at - self.heard_at > silent_after


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
    holder: ControlHolder | None,
    request: ControlRequest,
    at: datetime,
    max_lock: timedelta = DEFAULT_MAX_LOCK,
    silent_after: timedelta = DEFAULT_SILENT_AFTER,
) -> Arbitration:
    """Who controls the camera once `request` is heard, given the current `holder` (None: nobody)."""
    require_aware(at)
    if request.priority is None:
        return Arbitration(False, holder, f"{request.department} has no PTZControl permission on this camera")
    lock_until, lock_note = _lock(request, at, max_lock)
    claim = ControlHolder(request.department, request.priority, lock_until, since=at, heard_at=at)

    if holder is not None and holder.department != request.department and holder.silent_at(at, silent_after):
        note = f" ({holder.department} fell silent and lost control)"
        return Arbitration(True, claim, f"{request.department} takes control{lock_note}{note}")
    if holder is None:
        return Arbitration(True, claim, f"{request.department} takes control of a free camera{lock_note}")
    if holder.department == request.department:
        return _renew(holder, claim, at, lock_note)
    if holder.locked_at(at) and request.priority < LOCK_PRIORITY:
        assert holder.lock_until is not None
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


def _renew(holder: ControlHolder, claim: ControlHolder, at: datetime, lock_note: str) -> Arbitration:
    lock_until = claim.lock_until
    if lock_until is None and holder.locked_at(at):
        lock_until = holder.lock_until  # renewing control must not drop a running lock
    renewed = replace(claim, lock_until=lock_until, since=holder.since or at)
    return Arbitration(True, renewed, f"{claim.department} keeps control{lock_note}")


def release(holder: ControlHolder | None, department: str) -> Arbitration:
    """`department` lets go of the camera (and of its lock); only the holder can release."""
    if holder is None or holder.department != department:
        return Arbitration(False, holder, f"{department} does not hold control of this camera")
    return Arbitration(True, None, f"{department} released control" + (" and its lock" if holder.lock_until else ""))


def _lock(request: ControlRequest, at: datetime, max_lock: timedelta) -> tuple[datetime | None, str]:
    if request.lock_until is None or request.lock_until <= at:
        return None, ""
    if not request.can_lock:
        return None, " (lock refused: only level 1 may lock control)"
    lock_until = min(request.lock_until, at + max_lock)
    return lock_until, f", locked until {lock_until.isoformat()}"
