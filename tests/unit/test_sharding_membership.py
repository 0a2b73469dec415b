"""Shard membership from Lease records, judged with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from camfleet.clock import FakeClock
from camfleet.sharding.leases import LeaseGate
from camfleet.sharding.membership import (
    LEASE_SECONDS,
    RENEW_SECONDS,
    LeaseRecord,
    fenced,
    lease_spec,
    live_members,
    may_hold,
)

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def lease(name: str, holder: str | None, renewed: datetime | None, seconds: int = LEASE_SECONDS) -> dict[str, object]:
    spec: dict[str, object] = {"leaseDurationSeconds": seconds}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"metadata": {"name": name}, "spec": spec}


def test_live_members_are_the_unexpired_shard_leases() -> None:
    leases = [
        lease("camfleet-shard-b", "b", NOW - timedelta(seconds=3)),
        lease("camfleet-shard-a", "a", NOW - timedelta(seconds=14)),
        lease("camfleet-shard-dead", "dead", NOW - timedelta(seconds=15)),  # expired exactly now
        lease("camfleet-shard-never", None, None),
        lease("camfleet-sharder", "a", NOW),  # the election Lease is no member
    ]
    assert live_members(leases, NOW) == ["a", "b"]
    assert live_members(leases, NOW + timedelta(seconds=2)) == ["b"]


def test_a_lease_written_by_the_api_server_as_a_datetime_is_understood() -> None:
    body = {"metadata": {"name": "camfleet-shard-a"}, "spec": {"holderIdentity": "a", "renewTime": NOW}}
    assert live_members([body], NOW + timedelta(seconds=1)) == ["a"]


def test_a_lease_may_be_taken_when_absent_expired_or_already_ours() -> None:
    mine = LeaseRecord("me", NOW, LEASE_SECONDS)
    theirs = LeaseRecord("other", NOW - timedelta(seconds=5), LEASE_SECONDS)
    assert may_hold(None, "me", NOW)
    assert may_hold(mine, "me", NOW + timedelta(hours=1))
    assert not may_hold(theirs, "me", NOW)
    assert may_hold(theirs, "me", NOW + timedelta(seconds=10))


def test_renewal_keeps_the_acquire_time_and_a_takeover_sets_it() -> None:
    acquired = NOW - timedelta(minutes=5)
    renewed = lease_spec("me", NOW, LeaseRecord("me", NOW, LEASE_SECONDS), acquired)
    assert renewed["acquireTime"] == acquired.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert renewed["renewTime"] == NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    taken = lease_spec("me", NOW, LeaseRecord("other", NOW, LEASE_SECONDS), acquired)
    assert taken["acquireTime"] == taken["renewTime"]
    assert taken["leaseDurationSeconds"] == LEASE_SECONDS


def test_a_replica_stops_working_before_its_lease_can_expire() -> None:
    assert fenced(None, 100.0)
    assert not fenced(100.0, 100.0 + LEASE_SECONDS - RENEW_SECONDS)
    assert fenced(100.0, 100.0 + LEASE_SECONDS - RENEW_SECONDS + 0.1)


def test_the_work_gate_closes_by_itself_when_the_lease_was_not_renewed_in_time() -> None:
    """A process frozen past its fencing time finds its gate closed at the first look after it wakes, before
    its Lease loop has had a turn (which would take a round trip to the API server)."""
    clock = FakeClock()
    gate = LeaseGate(clock)
    assert not gate.is_open  # nothing renewed yet
    gate.renewed = clock.monotonic()
    gate.resume("camfleet-shard-a")
    assert gate.is_open
    clock.advance(LEASE_SECONDS - RENEW_SECONDS)
    assert gate.is_open
    clock.advance(0.5)
    assert not gate.is_open
