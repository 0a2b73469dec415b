"""PTZ control arbitration (R13): higher priority pre-empts, emergencies outrank normal use, level 1 locks."""

from __future__ import annotations

from datetime import timedelta

from camfleet.access import ControlHolder, ControlRequest, arbitrate, decide
from tests.unit.access.builders import ME, NOW, OWNER, camera, grant, tier

LEVEL_1, OWNER_PRIORITY, LEVEL_2, LEVEL_3, EMERGENCY_LEVEL_3 = 40, 35, 30, 20, 120


def request(
    department: str, priority: int | None, can_lock: bool = False, lock_minutes: int | None = None
) -> ControlRequest:
    lock = NOW + timedelta(minutes=lock_minutes) if lock_minutes is not None else None
    return ControlRequest(department, priority, can_lock, lock)


def test_a_free_camera_goes_to_whoever_may_control_it() -> None:
    result = arbitrate(None, request("transport", LEVEL_3), NOW)
    assert result.granted
    assert result.holder == ControlHolder("transport", LEVEL_3)


def test_without_ptz_permission_nothing_is_granted() -> None:
    result = arbitrate(None, request("transport", None), NOW)
    assert not result.granted
    assert result.holder is None


def test_a_higher_priority_pre_empts() -> None:
    result = arbitrate(ControlHolder("transport", LEVEL_3), request("water-authority", LEVEL_2), NOW)
    assert result.granted
    assert result.holder is not None
    assert result.holder.department == "water-authority"
    assert "pre-empts transport" in result.because


def test_equal_or_lower_priority_keeps_the_current_holder() -> None:
    holder = ControlHolder("water-authority", LEVEL_2)
    for priority in (LEVEL_2, LEVEL_3):
        result = arbitrate(holder, request("fire-brigade", priority), NOW)
        assert not result.granted
        assert result.holder == holder


def test_the_owner_keeps_its_camera_unless_level_1_wants_it() -> None:
    owner = ControlHolder(OWNER, OWNER_PRIORITY)
    assert not arbitrate(owner, request("water-authority", LEVEL_2), NOW).granted
    assert arbitrate(owner, request("command", LEVEL_1), NOW).granted
    assert arbitrate(ControlHolder("water-authority", LEVEL_2), request(OWNER, OWNER_PRIORITY), NOW).granted


def test_an_emergency_outranks_normal_use_even_level_1() -> None:
    assert arbitrate(ControlHolder("command", LEVEL_1), request("transport", EMERGENCY_LEVEL_3), NOW).granted


def test_a_level_1_lock_holds_against_everyone_until_it_ends() -> None:
    taken = arbitrate(ControlHolder("transport", LEVEL_3), request("command", LEVEL_1, True, 30), NOW)
    assert taken.granted
    assert taken.holder == ControlHolder("command", LEVEL_1, NOW + timedelta(minutes=30))
    assert taken.holder is not None

    assert not arbitrate(taken.holder, request("transport", EMERGENCY_LEVEL_3), NOW + timedelta(minutes=29)).granted
    assert not arbitrate(taken.holder, request("other-command", LEVEL_1, True, 60), NOW).granted
    assert arbitrate(taken.holder, request("transport", EMERGENCY_LEVEL_3), NOW + timedelta(minutes=30)).granted


def test_a_lock_is_capped() -> None:
    result = arbitrate(None, request("command", LEVEL_1, True, 24 * 60), NOW)
    assert result.holder is not None
    assert result.holder.lock_until == NOW + timedelta(hours=1)
    capped = arbitrate(None, request("command", LEVEL_1, True, 24 * 60), NOW, max_lock=timedelta(minutes=5))
    assert capped.holder is not None
    assert capped.holder.lock_until == NOW + timedelta(minutes=5)


def test_only_level_1_locks() -> None:
    result = arbitrate(None, request("water-authority", LEVEL_2, False, 30), NOW)
    assert result.granted
    assert result.holder == ControlHolder("water-authority", LEVEL_2)
    assert "lock refused" in result.because


def test_renewing_control_keeps_a_running_lock() -> None:
    locked = ControlHolder("command", LEVEL_1, NOW + timedelta(minutes=10))
    result = arbitrate(locked, request("command", LEVEL_1, True), NOW)
    assert result.granted
    assert result.holder == locked


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

    held = arbitrate(None, ControlRequest.from_decision(owner), NOW).holder
    assert not arbitrate(held, ControlRequest.from_decision(flood), NOW).granted
    locked = arbitrate(held, ControlRequest.from_decision(command, NOW + timedelta(minutes=15)), NOW).holder
    assert locked == ControlHolder(OWNER, LEVEL_1, NOW + timedelta(minutes=15))
    assert not arbitrate(locked, ControlRequest.from_decision(rescue), NOW).granted
    assert arbitrate(locked, ControlRequest.from_decision(rescue), NOW + timedelta(minutes=15)).granted
    assert rescue.ptz_priority == EMERGENCY_LEVEL_3
