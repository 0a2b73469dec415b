"""Exponential backoff, shared by everything that retries a failing peer (devices, ffmpeg)."""

from __future__ import annotations


def exponential_delay(previous_failures: int, first: float, maximum: float) -> float:
    """`first`, then doubling with each consecutive failure before it, capped at `maximum`."""
    return min(first * 2.0 ** min(max(previous_failures, 0), 32), maximum)
