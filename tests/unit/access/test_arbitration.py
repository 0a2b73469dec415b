"""PTZ control arbitration (R13): higher level pre-empts, the owner yields to levels 1 and 2, emergency need breaks
ties within a level only, a level-1 lock holds against everyone below level 1, a silent holder loses control.

`test_every_pair_of_contenders` is the full table: every contender (levels 1-4, the owner, emergency or not)
against every holder (the same, locked or not, silent or not), judged against the rule's words written out
independently of the numeric priorities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from camfleet.access import ControlHolder, ControlRequest, arbitrate, decide
from camfleet.access.arbitration import DEFAULT_SILENT_AFTER, release
from camfleet.access.tier_table import EMERGENCY_PRIORITY_BONUS, LEVEL_PRIORITY, OWNER_PRIORITY
from tests.unit.access.builders import ME, NOW, OWNER, camera, grant, tier

LEVEL_1, LEVEL_2, LEVEL_3 = LEVEL_PRIORITY[1], LEVEL_PRIORITY[2], LEVEL_PRIORITY[3]
EMERGENCY_LEVEL_3 = LEVEL_3 + EMERGENCY_PRIORITY_BONUS


@dataclass(frozen=True)
class Contender:
    kind: str
    """"level 1" .. "level 4" or "owner"."""
    emergency: bool = False

    @property
    def priority(self) -> int | None:
        if self.kind == "level 4" and not self.emergency:
            return None  # level 4 controls nothing (an emergency grant, R12, is the one way it borrows control)
        base = OWNER_PRIORITY if self.kind == "owner" else LEVEL_PRIORITY[int(self.kind[-1])]
        return base + (EMERGENCY_PRIORITY_BONUS if self.emergency else 0)

    def __str__(self) -> str:
        return self.kind + (" emergency" if self.emergency else "")


CONTENDERS = [
    Contender(kind, emergency)
    for kind in ("level 1", "level 2", "owner", "level 3", "level 4")
    for emergency in (False, True)
    if kind != "owner" or not emergency  # an owner needs no emergency grant on its own camera
]
RANK = {"level 1": 5, "level 2": 4, "owner": 3, "level 3": 2, "level 4": 1}
"""The rule's order in words: level 1, then level 2, then the owner ("when no higher level holds them"), then 3."""


def expected(holder: Contender, locked: bool, silent: bool, request: Contender) -> bool:
    if request.kind == "level 4" and not request.emergency:
        return False  # level 4 controls nothing
    if locked:
        return request.kind == "level 1" and (RANK[request.kind], request.emergency) > (
            RANK["level 1"],
            holder.emergency,
        )
    if silent:
        return True  # a silent holder has let go
    return (RANK[request.kind], request.emergency) > (RANK[holder.kind], holder.emergency)


HOLDER_STATES = [
    (holder, locked, silent)
    for holder in CONTENDERS
    if holder.priority is not None
    for locked in (False, True)
    if not locked or holder.kind == "level 1"
    for silent in (False, True)
]


@pytest.mark.parametrize(("holder", "locked", "silent"), HOLDER_STATES, ids=lambda v: str(v))
@pytest.mark.parametrize("request_by", CONTENDERS, ids=str)
def test_every_pair_of_contenders(holder: Contender, locked: bool, silent: bool, request_by: Contender) -> None:
    heard = NOW - (DEFAULT_SILENT_AFTER + timedelta(seconds=1) if silent else timedelta(seconds=1))
    assert holder.priority is not None
    current = ControlHolder(
        "held-by", holder.priority, NOW + timedelta(minutes=10) if locked else None, since=heard, heard_at=heard
    )
    result = arbitrate(current, ControlRequest("asked-by", request_by.priority), NOW)
    assert result.granted is expected(holder, locked, silent, request_by), result.because
    assert result.holder is not None
    assert result.holder.department == ("asked-by" if result.granted else "held-by")


def test_a_free_camera_goes_to_whoever_may_control_it() -> None:
    result = arbitrate(None, ControlRequest("transport", LEVEL_3), NOW)
    assert result.granted
    assert result.holder == ControlHolder("transport", LEVEL_3)
    assert result.holder.since == NOW


def test_without_ptz_permission_nothing_is_granted() -> None:
    result = arbitrate(None, ControlRequest("transport", None), NOW)
    assert not result.granted
    assert result.holder is None


def test_a_level_1_lock_holds_until_it_ends_or_is_released() -> None:
    taken = arbitrate(
        ControlHolder("transport", LEVEL_3), ControlRequest("command", LEVEL_1, True, NOW + timedelta(minutes=30)), NOW
    )
    assert taken.granted
    assert taken.holder == ControlHolder("command", LEVEL_1, NOW + timedelta(minutes=30))
    emergency_2 = ControlRequest("water-authority", LEVEL_2 + EMERGENCY_PRIORITY_BONUS)
    assert not arbitrate(taken.holder, emergency_2, NOW + timedelta(minutes=29)).granted
    # silence does not end a lock: it is explicit and bounded
    assert not arbitrate(taken.holder, emergency_2, NOW + timedelta(minutes=29, seconds=59)).granted
    assert arbitrate(taken.holder, emergency_2, NOW + timedelta(minutes=30)).granted
    released = release(taken.holder, "command")
    assert released.granted
    assert released.holder is None
    assert not release(taken.holder, "water-authority").granted


def test_a_lock_is_capped_and_only_level_1_locks() -> None:
    result = arbitrate(None, ControlRequest("command", LEVEL_1, True, NOW + timedelta(days=1)), NOW)
    assert result.holder is not None
    assert result.holder.lock_until == NOW + timedelta(hours=1)
    capped = arbitrate(
        None, ControlRequest("command", LEVEL_1, True, NOW + timedelta(days=1)), NOW, max_lock=timedelta(minutes=5)
    )
    assert capped.holder is not None
    assert capped.holder.lock_until == NOW + timedelta(minutes=5)
    refused = arbitrate(None, ControlRequest("water-authority", LEVEL_2, False, NOW + timedelta(minutes=30)), NOW)
    assert refused.granted
    assert refused.holder == ControlHolder("water-authority", LEVEL_2)
    assert "lock refused" in refused.because


def test_renewing_control_keeps_a_running_lock_and_the_time_it_was_taken() -> None:
    locked = ControlHolder("command", LEVEL_1, NOW + timedelta(minutes=10), since=NOW - timedelta(minutes=3))
    result = arbitrate(locked, ControlRequest("command", LEVEL_1, True), NOW)
    assert result.granted
    assert result.holder == locked
    assert result.holder.since == NOW - timedelta(minutes=3)
    assert result.holder.heard_at == NOW


def test_requests_come_from_decisions() -> None:
    junction = camera(namespace=ME)
    rescue_grant = grant(
        namespace="fire-brigade",
        cameras={"namespace": ME, "selector": {}},
        emergency=True,
        share_class="NotShared",
        end=NOW + timedelta(hours=3),
    )
    owner = decide(ME, junction, NOW, [], [])
    flood = decide("water-authority", junction, NOW, [tier(2, "water-authority")], [])
    command = decide(OWNER, junction, NOW, [tier(1, OWNER)], [])
    rescue = decide("fire-brigade", junction, NOW, [tier(3, "fire-brigade")], [rescue_grant])
    assert (owner.ptz_priority, flood.ptz_priority, rescue.ptz_priority) == (OWNER_PRIORITY, LEVEL_2, EMERGENCY_LEVEL_3)

    held = arbitrate(None, ControlRequest.from_decision(owner), NOW).holder
    flooded = arbitrate(held, ControlRequest.from_decision(flood), NOW)
    assert flooded.granted, "level 2 pre-empts the owner"
    assert not arbitrate(flooded.holder, ControlRequest.from_decision(owner), NOW).granted
    assert not arbitrate(flooded.holder, ControlRequest.from_decision(rescue), NOW).granted, "no cross-level bonus"
    back = arbitrate(release(flooded.holder, "water-authority").holder, ControlRequest.from_decision(owner), NOW)
    assert back.granted, "the owner regains its camera once level 2 lets go"
    locked = arbitrate(back.holder, ControlRequest.from_decision(command, NOW + timedelta(minutes=15)), NOW).holder
    assert locked == ControlHolder(OWNER, LEVEL_1, NOW + timedelta(minutes=15))
