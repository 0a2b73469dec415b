"""The one source of time every controller and queue is handed (cert-manager's injected clock).

Pure code takes `now` as an argument; controllers ask their `Clock`. Production uses `SystemClock`;
tests use `FakeClock`, whose `advance()` moves wall and monotonic time together and wakes every
queue waiting on it, so expiries and due dates are tested without waiting real seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: for due times and durations."""
        ...

    def wake_on_jump(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever time moves other than by waiting (a fake clock's advance)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def wake_on_jump(self, wake: Callable[[], None]) -> None:
        """Real time only moves by waiting."""


class FakeClock:
    """Time that moves only when told to; for tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._monotonic = 0.0
        self._waiters: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def wake_on_jump(self, wake: Callable[[], None]) -> None:
        self._waiters.append(wake)

    def advance(self, seconds: float) -> None:
        """Move both clocks forward and wake every waiting queue."""
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
        for wake in self._waiters:
            wake()


SYSTEM_CLOCK = SystemClock()
