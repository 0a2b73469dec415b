"""Shard membership through Leases: who is alive, judged from Lease records with an injected `now`.

Each replica renews a Lease `camfleet-shard-<id>` every RENEW_SECONDS, valid for LEASE_SECONDS. A Lease not
renewed within its duration belongs to a dead (or cut off) replica. A replica that cannot renew its own Lease
stops its camera work before the Lease can expire (`fenced`), so the sharder never hands its cameras to
another replica while it may still be working on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SHARD_LEASE_PREFIX = "camfleet-shard-"
SHARDER_LEASE = "camfleet-sharder"
SHARD_LEASE_LABEL = "camfleet.io/shard-lease"
MANAGED_LABELS = {"app.kubernetes.io/managed-by": "camfleet"}
SHARD_LEASE_LABELS = {**MANAGED_LABELS, SHARD_LEASE_LABEL: "true"}
RENEW_SECONDS = 5.0
LEASE_SECONDS = 15


@dataclass(frozen=True)
class LeaseRecord:
    holder: str | None
    renewed: datetime | None
    duration_seconds: int

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> LeaseRecord:
        spec = body.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity"),
            renewed=_time(spec.get("renewTime") or spec.get("acquireTime")),
            duration_seconds=int(spec.get("leaseDurationSeconds") or LEASE_SECONDS),
        )

    def expired(self, now: datetime) -> bool:
        if self.holder is None or self.renewed is None:
            return True
        return now >= self.renewed + timedelta(seconds=self.duration_seconds)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def lease_name(shard_id: str) -> str:
    return SHARD_LEASE_PREFIX + shard_id


def live_members(leases: Iterable[Mapping[str, Any]], now: datetime) -> list[str]:
    """The shard ids of the unexpired membership Leases (a Lease's holder is its replica's id), sorted."""
    members = set()
    for body in leases:
        name = str(body.get("metadata", {}).get("name", ""))
        record = LeaseRecord.of(body)
        if name.startswith(SHARD_LEASE_PREFIX) and not record.expired(now) and record.holder:
            members.add(record.holder)
    return sorted(members)


def may_hold(record: LeaseRecord | None, holder: str, now: datetime) -> bool:
    """Whether `holder` may write the Lease: it is absent, expired, or already `holder`'s."""
    return record is None or record.holder == holder or record.expired(now)


def lease_spec(holder: str, now: datetime, previous: LeaseRecord | None, acquired: datetime | None) -> dict[str, Any]:
    """The Lease spec `holder` writes at `now`; `acquired`: when it took the Lease (kept across renewals)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    taken = previous is None or previous.holder != holder
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": LEASE_SECONDS,
        "renewTime": stamp,
        "acquireTime": stamp if taken or acquired is None else acquired.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def fenced(last_renewed: float | None, monotonic_now: float) -> bool:
    """A replica stops working once its own Lease may be about to expire (one renewal before it would)."""
    return last_renewed is None or monotonic_now - last_renewed > LEASE_SECONDS - RENEW_SECONDS
