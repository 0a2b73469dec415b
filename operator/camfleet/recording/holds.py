"""Retention hold (R3): a volume outlives its camera or policy until its newest recording's retention passed."""

from __future__ import annotations

from datetime import datetime, timedelta

RETAIN_UNTIL = "camfleet.io/retain-until"
LEGAL_HOLD = "camfleet.io/legal-hold"


def retain_until(released_at: datetime, retention_days: int) -> datetime:
    """The newest segment on a released volume is at most as old as the release, so this is never early."""
    return released_at + timedelta(days=retention_days)


def may_delete(annotations: dict[str, str], now: datetime) -> bool:
    """Only a released volume, past its retain-until time, with no legal hold, may be deleted."""
    if annotations.get(LEGAL_HOLD):
        return False
    until = annotations.get(RETAIN_UNTIL)
    return until is not None and now >= datetime.fromisoformat(until.replace("Z", "+00:00"))
