"""How long to wait before starting ffmpeg again after it exited on its own."""

from __future__ import annotations

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0


def restart_delay(consecutive_failures: int) -> float:
    """1 s, 2 s, 4 s, ... capped at a minute. A run that finished at least one segment resets the count to 0."""
    if consecutive_failures <= 0:
        return FIRST_DELAY_SECONDS
    return min(FIRST_DELAY_SECONDS * 2.0 ** min(consecutive_failures, 32), MAX_DELAY_SECONDS)
