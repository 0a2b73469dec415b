"""Who holds PTZ control of each camera: `arbitrate` applied request by request, in the active operator replica.

The board is pure state (no I/O, every method takes `now`). The active replica keeps it in memory and records it in
each Camera's `status.ptzControl` (department, person, rank, since, lockUntil), written only when control changes
hands, a lock is taken or ends, or the holder falls silent: never per move, so a holder steering hard costs no
writes. That record is what survives a failover: the replica that becomes active (at start-up or on taking over
from a peer) adopts each camera's record the first time it sees the camera in its term (`adopt`), before the camera
reaches its access state, so no request is ever arbitrated against a board that forgot the record:

- a lock still running holds as before, against everyone below level 1, until its `lockUntil`;
- a lock that ended before the takeover is dropped; its holder, last known alive when the lock ended, is dropped
  too once it has been silent for the timeout since then;
- a holder's liveness is not recorded (that would be a write per command): it restarts at the takeover, so a holder
  that stays silent loses control one silence timeout after it.

Only the holder that the old replica had recorded survives: a change of hands in the moment between an answer and
its status write (milliseconds) is lost with the replica. Run one active access replica (the operator's leader
election already makes it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from camfleet.access.arbitration import (
    DEFAULT_MAX_LOCK,
    DEFAULT_SILENT_AFTER,
    ControlHolder,
    ControlRequest,
    arbitrate,
    release,
)
from camfleet.access.tier_table import EMERGENCY_PRIORITY_BONUS, LEVEL_PRIORITY, OWNER_PRIORITY
from camfleet.api.camera import PtzControl, PtzRank

_BONUS = EMERGENCY_PRIORITY_BONUS
_RANKS: dict[int, PtzRank] = {
    LEVEL_PRIORITY[1] + _BONUS: PtzRank.LEVEL_1_EMERGENCY,
    LEVEL_PRIORITY[1]: PtzRank.LEVEL_1,
    LEVEL_PRIORITY[2] + _BONUS: PtzRank.LEVEL_2_EMERGENCY,
    LEVEL_PRIORITY[2]: PtzRank.LEVEL_2,
    OWNER_PRIORITY: PtzRank.OWNER,
    LEVEL_PRIORITY[3] + _BONUS: PtzRank.LEVEL_3_EMERGENCY,
    LEVEL_PRIORITY[3]: PtzRank.LEVEL_3,
    LEVEL_PRIORITY[4] + _BONUS: PtzRank.LEVEL_4_EMERGENCY,
}

_PRIORITIES: dict[PtzRank, int] = {rank: value for value, rank in _RANKS.items()}


def rank_of(priority: int) -> PtzRank:
    """The rank a PTZ priority stands for (the highest rank not above it, should a priority fall between)."""
    return next((rank for value, rank in _RANKS.items() if value <= priority), PtzRank.LEVEL_4_EMERGENCY)


class ControlEvent(StrEnum):
    """What one request did; the audit action's suffix and the API's `outcome`."""

    GRANTED = "Granted"
    KEPT = "Kept"
    PRE_EMPTED = "PreEmpted"
    """Audited for the holder that lost the camera (the request itself is Granted or Locked)."""
    LOCKED = "Locked"
    RELEASED = "Released"
    REFUSED = "Refused"


@dataclass(frozen=True)
class Seat:
    """The holder of one camera, and the person steering for it."""

    holder: ControlHolder
    person: str

    @property
    def rank(self) -> PtzRank:
        return rank_of(self.holder.priority)


@dataclass(frozen=True)
class BoardOutcome:
    event: ControlEvent
    because: str
    seat: Seat | None
    """Who holds the camera after the request."""
    pre_empted: Seat | None = None
    """The holder the request pre-empted, if any (one that had fallen silent is not pre-empted: it had let go)."""

    @property
    def granted(self) -> bool:
        return self.event != ControlEvent.REFUSED


class PtzBoard:
    def __init__(self, max_lock: timedelta = DEFAULT_MAX_LOCK, silent_after: timedelta = DEFAULT_SILENT_AFTER) -> None:
        self.max_lock = max_lock
        self.silent_after = silent_after
        self._seats: dict[str, Seat] = {}
        self._adopted: set[str] = set()
        """Cameras whose recorded holder this board has adopted in the current term (later records are its own)."""

    def seat(self, camera: str, now: datetime) -> Seat | None:
        """The live holder of `camera` (None: free, or its holder fell silent without a lock)."""
        seat = self._seats.get(camera)
        if seat is not None and seat.holder.silent_at(now, self.silent_after):
            return None
        return seat

    def status(self, camera: str, now: datetime) -> PtzControl | None:
        """The Camera status field (`status.ptzControl`) for `camera` at `now`."""
        seat = self.seat(camera, now)
        if seat is None:
            return None
        holder = seat.holder
        lock = holder.lock_until if holder.locked_at(now) else None
        return PtzControl(
            department=holder.department,
            person=seat.person or None,
            rank=seat.rank,
            since=holder.since or now,
            lock_until=lock,
        )

    def next_change(self, camera: str, now: datetime) -> datetime | None:
        """When the status may change by the clock alone (the lock ends, the holder counts as silent)."""
        seat = self.seat(camera, now)
        if seat is None:
            return None
        holder = seat.holder
        if holder.locked_at(now):
            return holder.lock_until
        return holder.heard_at + self.silent_after if holder.heard_at else None

    def ask(self, camera: str, request: ControlRequest, person: str, now: datetime) -> BoardOutcome:
        """Arbitrate `request` for `camera` and remember the result."""
        before = self._seats.get(camera)
        result = arbitrate(before.holder if before else None, request, now, self.max_lock, self.silent_after)
        if not result.granted or result.holder is None:
            return BoardOutcome(ControlEvent.REFUSED, result.because, before)
        seat = Seat(result.holder, person)
        self._seats[camera] = seat
        kept = before is not None and before.holder.department == request.department
        live_before = before is not None and not before.holder.silent_at(now, self.silent_after)
        pre_empted = before if live_before and not kept else None
        return BoardOutcome(_event(before, seat, kept, now), result.because, seat, pre_empted)

    def release(self, camera: str, department: str, now: datetime) -> BoardOutcome:
        before = self.seat(camera, now)
        result = release(before.holder if before else None, department)
        if not result.granted:
            return BoardOutcome(ControlEvent.REFUSED, result.because, before)
        del self._seats[camera]
        return BoardOutcome(ControlEvent.RELEASED, result.because, None)

    def forget(self, camera: str) -> None:
        """The camera is gone: nobody holds it (a camera made again under its name starts from its own record)."""
        self._seats.pop(camera, None)
        self._adopted.discard(camera)

    def adopt(self, camera: str, record: PtzControl | None, now: datetime) -> bool:
        """Take the holder recorded in the camera's status (by the replica active before) the first time this term
        sees the camera; later records are this board's own writes coming back, and change nothing. True: adopted."""
        if camera in self._adopted:
            return False
        self._adopted.add(camera)
        seat = recorded_seat(record, now, self.silent_after)
        if seat is None:
            self._seats.pop(camera, None)
        else:
            self._seats[camera] = seat
        return True

    def new_term(self) -> None:
        """This replica becomes active again after a pause: another replica may have changed every holder since, so
        each camera's record is adopted anew at its next sighting (kopf lists every camera again on resuming)."""
        self._adopted.clear()


def recorded_seat(record: PtzControl | None, now: datetime, silent_after: timedelta) -> Seat | None:
    """The seat a recorded `status.ptzControl` stands for at `now`, the moment a replica takes over.

    A running lock holds until its end. A lock that has ended counts as the holder's last sign of life: silent for
    longer than `silent_after` since, the holder is dropped. Otherwise the holder's liveness restarts at `now`
    (moves are not recorded), so a holder that stays silent loses control `silent_after` after the takeover.
    """
    if record is None:
        return None
    lock_until = record.lock_until if record.lock_until is not None and now < record.lock_until else None
    heard_at = now
    if record.lock_until is not None and lock_until is None:
        if now - record.lock_until > silent_after:
            return None
        heard_at = record.lock_until
    holder = ControlHolder(
        record.department, _PRIORITIES[record.rank], lock_until, since=record.since, heard_at=heard_at
    )
    return Seat(holder, record.person or "")


def _event(before: Seat | None, seat: Seat, kept: bool, now: datetime) -> ControlEvent:
    newly_locked = seat.holder.locked_at(now) and (before is None or before.holder.lock_until != seat.holder.lock_until)
    if newly_locked:
        return ControlEvent.LOCKED
    return ControlEvent.KEPT if kept else ControlEvent.GRANTED
