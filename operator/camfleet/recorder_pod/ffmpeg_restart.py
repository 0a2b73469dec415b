"""How long to wait before starting ffmpeg again after it exited on its own."""

from __future__ import annotations

from camfleet.retry_backoff import exponential_delay

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0


def restart_delay(consecutive_failures: int) -> float:
    """1 s, 2 s, 4 s, ... capped at a minute. A run that finished at least one segment resets the count to 0."""
    return exponential_delay(consecutive_failures, FIRST_DELAY_SECONDS, MAX_DELAY_SECONDS)
