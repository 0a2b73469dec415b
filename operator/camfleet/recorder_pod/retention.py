"""Which segments may be deleted: only those whose retention has fully passed (COMPLIANCE R2-R4).

A segment's retention runs from its END: the last frame in it must be kept for the whole period. At the exact
instant retention ends the segment is still kept; it becomes deletable strictly after. A legal hold keeps
everything, whatever its age.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

SECONDS_PER_DAY = 86_400
# R2: recordings are kept at least 30 days. The API server enforces it on the policy; the recorder refuses a
# shorter retention too, so a hand-edited Deployment cannot make it delete early.
RETENTION_FLOOR_DAYS = 30


class HasEnd(Protocol):
    @property
    def end(self) -> float: ...


SegmentT = TypeVar("SegmentT", bound=HasEnd)


def expires_at(end: float, retention_seconds: float) -> float:
    """The last instant at which a segment that ended at `end` must still be kept."""
    return end + retention_seconds


def is_expired(end: float, now: float, retention_seconds: float) -> bool:
    return now > expires_at(end, retention_seconds)


def expired_segments(
    segments: Iterable[SegmentT], now: float, retention_seconds: float, legal_hold: bool
) -> list[SegmentT]:
    """The segments that may be deleted now, in the order given."""
    if legal_hold:
        return []
    return [segment for segment in segments if is_expired(segment.end, now, retention_seconds)]
