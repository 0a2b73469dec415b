"""Retention hold (R3): a volume outlives its camera or policy until its newest recording's retention passed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

RETAIN_UNTIL = "camfleet.io/retain-until"
LEGAL_HOLD = "camfleet.io/legal-hold"


def retain_until(released_at: datetime, retention_days: int) -> datetime:
    """The newest segment on a released volume is at most as old as the release, so this is never early."""
    return released_at + timedelta(days=retention_days)


def released_until(annotations: Mapping[str, str]) -> datetime | None:
    """The retain-until time of a released volume (None: not released)."""
    value = annotations.get(RETAIN_UNTIL)
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def may_delete(annotations: Mapping[str, str], now: datetime) -> bool:
    """Only a released volume, past its retain-until time, with no legal hold, may be deleted."""
    if annotations.get(LEGAL_HOLD):
        return False
    until = released_until(annotations)
    return until is not None and now >= until
