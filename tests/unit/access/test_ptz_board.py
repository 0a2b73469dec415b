"""The operator's PTZ holder board: what each request did (for the audit trail), and what the Camera status shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from camfleet.access import ControlRequest
from camfleet.access.tier_table import LEVEL_PRIORITY, OWNER_PRIORITY
from camfleet.api.camera import PtzControl, PtzRank
from camfleet.control.ptz_board import ControlEvent, PtzBoard
from tests.unit.access.builders import NOW

CAMERA = "owner/mast"


def test_grants_pre_emptions_locks_releases_and_refusals_are_told_apart() -> None:
    board = PtzBoard()
    owner = ControlRequest("owner", OWNER_PRIORITY)
    first = board.ask(CAMERA, owner, "li", NOW)
    assert (first.event, first.pre_empted) == (ControlEvent.GRANTED, None)
    assert board.ask(CAMERA, owner, "li", NOW).event == ControlEvent.KEPT

    flood = board.ask(CAMERA, ControlRequest("water", LEVEL_PRIORITY[2]), "wang", NOW + timedelta(seconds=1))
    assert flood.event == ControlEvent.GRANTED
    assert flood.pre_empted is not None
    assert flood.pre_empted.person == "li"
    assert board.ask(CAMERA, owner, "li", NOW + timedelta(seconds=2)).event == ControlEvent.REFUSED

    lock = ControlRequest("command", LEVEL_PRIORITY[1], True, NOW + timedelta(minutes=5))
    assert board.ask(CAMERA, lock, "zhao", NOW + timedelta(seconds=3)).event == ControlEvent.LOCKED
    assert board.release(CAMERA, "water", NOW + timedelta(seconds=4)).event == ControlEvent.REFUSED
    released = board.release(CAMERA, "command", NOW + timedelta(seconds=5))
    assert (released.event, released.seat) == (ControlEvent.RELEASED, None)
    assert board.status(CAMERA, NOW + timedelta(seconds=5)) is None


def test_the_status_shows_holder_rank_since_and_lock_and_a_silent_holder_disappears() -> None:
    board = PtzBoard(silent_after=timedelta(seconds=30))
    board.ask(CAMERA, ControlRequest("water", LEVEL_PRIORITY[2] + 1), "wang", NOW)
    board.ask(CAMERA, ControlRequest("water", LEVEL_PRIORITY[2] + 1), "wang", NOW + timedelta(seconds=20))
    shown = board.status(CAMERA, NOW + timedelta(seconds=40))
    assert shown is not None
    assert (shown.department, shown.rank, shown.since, shown.lock_until) == (
        "water",
        PtzRank.LEVEL_2_EMERGENCY,
        NOW,
        None,
    )
    assert board.next_change(CAMERA, NOW + timedelta(seconds=40)) == NOW + timedelta(seconds=50)
    assert board.status(CAMERA, NOW + timedelta(seconds=51)) is None, "silent for longer than 30 s: control lost"

    until = NOW + timedelta(minutes=2)
    board.ask(CAMERA, ControlRequest("command", LEVEL_PRIORITY[1], True, until), "zhao", NOW + timedelta(minutes=1))
    locked = board.status(CAMERA, NOW + timedelta(minutes=1, seconds=50))
    assert locked is not None
    assert (locked.rank, locked.lock_until) == (PtzRank.LEVEL_1, until), "a lock outlives silence"


# -- failover: the record in status.ptzControl, adopted by the replica that takes over --------------------------

SILENT = timedelta(seconds=30)
EMERGENCY_2 = ControlRequest("water", LEVEL_PRIORITY[2] + 1)
"""A level-2 department with an emergency grant: the strongest contender below level 1."""


def taken_over(record: PtzControl | None, at: datetime) -> PtzBoard:
    """The board of a replica that becomes active at `at` and sees the camera's recorded holder."""
    board = PtzBoard(silent_after=SILENT)
    assert board.adopt(CAMERA, record, at)
    return board


def test_a_running_lock_survives_the_failover_and_holds_against_a_level_2_emergency_until_it_ends() -> None:
    before = PtzBoard(silent_after=SILENT)
    until = NOW + timedelta(minutes=2)
    before.ask(CAMERA, ControlRequest("command", LEVEL_PRIORITY[1], True, until), "zhao", NOW)
    record = before.status(CAMERA, NOW + timedelta(seconds=5))
    assert record is not None
    assert (record.person, record.lock_until) == ("zhao", until)

    after = taken_over(record, NOW + timedelta(seconds=70))
    assert after.status(CAMERA, NOW + timedelta(seconds=70)) == record, "the new replica shows the same holder"
    refused = after.ask(CAMERA, EMERGENCY_2, "wang", NOW + timedelta(seconds=71))
    assert refused.event == ControlEvent.REFUSED
    assert "level 1 lock" in refused.because
    assert after.ask(CAMERA, EMERGENCY_2, "wang", until - timedelta(seconds=1)).event == ControlEvent.REFUSED

    # The lock ended and the level-1 holder, silent since the takeover, has let go: level 2 takes the camera.
    taken = after.ask(CAMERA, EMERGENCY_2, "wang", until + timedelta(seconds=1))
    assert (taken.event, taken.seat and taken.seat.rank) == (ControlEvent.GRANTED, PtzRank.LEVEL_2_EMERGENCY)


def test_a_recorded_holder_without_lock_keeps_control_for_one_silence_timeout_after_the_takeover() -> None:
    record = PtzControl(department="water", person="wang", rank=PtzRank.LEVEL_2, since=NOW)
    takeover = NOW + timedelta(minutes=10)  # the holder had been steering all along: since says nothing of silence
    after = taken_over(record, takeover)
    owner = ControlRequest("owner", OWNER_PRIORITY)
    assert after.ask(CAMERA, owner, "li", takeover + SILENT - timedelta(seconds=1)).event == ControlEvent.REFUSED
    assert after.ask(CAMERA, owner, "li", takeover + SILENT + timedelta(seconds=1)).event == ControlEvent.GRANTED

    steering = taken_over(record, takeover)
    kept = steering.ask(CAMERA, ControlRequest("water", LEVEL_PRIORITY[2]), "wang", takeover + SILENT / 2)
    assert kept.event == ControlEvent.KEPT, "the holder's next command keeps control"
    assert kept.seat is not None
    assert kept.seat.holder.since == NOW, "since is kept across the failover"


def test_a_lock_that_ended_before_the_takeover_is_dropped_and_so_is_a_holder_silent_since() -> None:
    ended = NOW - timedelta(seconds=5)
    record = PtzControl(department="command", person="zhao", rank=PtzRank.LEVEL_1, since=NOW, lock_until=ended)
    recent = taken_over(record, NOW)
    shown = recent.status(CAMERA, NOW)
    assert shown is not None
    assert shown.lock_until is None, "the ended lock is gone"
    assert recent.next_change(CAMERA, NOW) == ended + SILENT, "its holder is silent from the lock's end"
    assert recent.status(CAMERA, ended + SILENT + timedelta(seconds=1)) is None

    late = taken_over(record, ended + SILENT + timedelta(seconds=1))
    assert late.status(CAMERA, ended + SILENT + timedelta(seconds=1)) is None
    assert late.ask(CAMERA, EMERGENCY_2, "wang", ended + SILENT + timedelta(seconds=2)).event == ControlEvent.GRANTED


def test_a_record_is_adopted_once_per_term_so_the_boards_own_writes_coming_back_change_nothing() -> None:
    board = PtzBoard(silent_after=SILENT)
    assert board.adopt(CAMERA, None, NOW)
    board.ask(CAMERA, ControlRequest("water", LEVEL_PRIORITY[2]), "wang", NOW)
    stale = PtzControl(department="owner", person="li", rank=PtzRank.OWNER, since=NOW)
    assert not board.adopt(CAMERA, stale, NOW + timedelta(seconds=1)), "an older status coming back"
    assert board.release(CAMERA, "water", NOW + timedelta(seconds=2)).event == ControlEvent.RELEASED
    assert not board.adopt(CAMERA, stale, NOW + timedelta(seconds=3))
    assert board.status(CAMERA, NOW + timedelta(seconds=3)) is None, "a released camera is not taken back"

    board.new_term()  # paused for a peer, active again: the peer's record is the truth now
    assert board.adopt(CAMERA, stale, NOW + timedelta(seconds=4))
    shown = board.status(CAMERA, NOW + timedelta(seconds=4))
    assert shown is not None
    assert (shown.department, shown.person) == ("owner", "li")
    board.new_term()
    assert board.adopt(CAMERA, None, NOW + timedelta(seconds=5))
    assert board.status(CAMERA, NOW + timedelta(seconds=5)) is None, "nobody recorded: nobody holds it"

    board.forget(CAMERA)  # deleted; a camera made again under the name starts from its own record
    assert board.adopt(CAMERA, stale, NOW + timedelta(seconds=6))
