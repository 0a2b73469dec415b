"""The operator's PTZ holder board: what each request did (for the audit trail), and what the Camera status shows."""

from __future__ import annotations

from datetime import timedelta

from camfleet.access import ControlRequest
from camfleet.access.tier_table import LEVEL_PRIORITY, OWNER_PRIORITY
from camfleet.api.camera import PtzRank
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
