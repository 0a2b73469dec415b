"""Extraction by level (R13, QD-TIERS art. 16): whether a department may export another department's cameras. Pure.

Level 1 extracts from every shared camera; level 2 from all but restricted zones; levels 3 and 4, and a department
holding no level, do not extract other departments' footage. The level counts only while the department holds it
through an AccessTier inside one of its windows (R14), judged at `now`; a closed window refuses the export until it
opens again (the verdict says when the answer may next change by the clock alone). A NotShared camera is reached by
no level (R10). Approvals are judged elsewhere (`run_approval`): this decides only who may ask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar
from camfleet.access.decision_inputs import CameraFacts
from camfleet.access.tier_table import level_rights
from camfleet.access.windows import subject_active, subject_next_change
from camfleet.api.access_tier import AccessTier, TierSubject
from camfleet.api.sharing_grant import Permission

Blocker = tuple[str, str]

EXTRACTION_LEVELS = (1, 2)
NO_EXTRACTION_LEVEL = "NoExtractionLevel"
"""The requester holds no level that extracts (1 or 2), at any time."""
OUTSIDE_TIER_WINDOW = "OutsideTierWindow"
"""The requester holds level 1 or 2 only in windows that are closed now (R14)."""
RESTRICTED_ZONE = "RestrictedZone"
"""Level 2 asked for a camera in a restricted zone."""
CAMERA_NOT_SHARED = "CameraNotShared"
"""The camera is NotShared: no level reaches it (R10)."""
SOURCE_CAMERA_NOT_FOUND = "CameraNotFound"
"""A camera named by the export does not exist in the owner's namespace."""

_RULE = "only level 1 (every shared camera) and level 2 (all but restricted zones) extract other departments' footage"


@dataclass(frozen=True)
class ExtractionVerdict:
    blocker: Blocker | None
    """Why the export may not run (reason, message); None: the requester may extract every camera asked for."""
    level: int | None
    """The best level the requester holds now (any level, for the audit trail); None: it holds none."""
    recheck_at: datetime | None
    """When the verdict may change by the clock alone (a window of a level-1 or level-2 tier opens or closes)."""


def _held(requester: str, tiers: Iterable[AccessTier]) -> list[tuple[int, TierSubject]]:
    return [
        (tier.spec.level, subject)
        for tier in tiers
        for subject in tier.spec.subjects
        if subject.department == requester
    ]


def _camera_blocker(level: int, cameras: Mapping[str, CameraFacts]) -> Blocker | None:
    for name in sorted(cameras):
        rights = level_rights(level, cameras[name])
        if Permission.EXPORT in rights.permissions:
            continue
        reason = RESTRICTED_ZONE if cameras[name].restricted else CAMERA_NOT_SHARED
        return reason, f"camera {cameras[name].ref} may not be extracted at level {level}: {rights.because}"
    return None


def _level_blocker(requester: str, best: int | None, extracting: list[tuple[int, TierSubject]]) -> Blocker | None:
    """Why the requester's levels do not let it extract now: none that extracts, or only in closed windows."""
    if best is not None and best in EXTRACTION_LEVELS:
        return None
    if extracting:
        levels = ", ".join(str(level) for level in sorted({level for level, _ in extracting}))
        return (
            OUTSIDE_TIER_WINDOW,
            f"department {requester} holds level {levels} only in windows that are closed now (R14); {_RULE} (R13)",
        )
    holds = f"holds level {best}" if best is not None else "holds no level"
    return NO_EXTRACTION_LEVEL, f"department {requester} {holds}; {_RULE} (R13)"


def _next_change(extracting: list[tuple[int, TierSubject]], now: datetime, calendar: CityCalendar) -> datetime | None:
    changes = [subject_next_change(subject, now, calendar) for _, subject in extracting]
    return min((change for change in changes if change is not None), default=None)


def extraction_verdict(
    requester: str,
    cameras: Mapping[str, CameraFacts | None],
    tiers: Iterable[AccessTier],
    now: datetime,
    calendar: CityCalendar = DEFAULT_CALENDAR,
) -> ExtractionVerdict:
    """`cameras`: each camera asked for, by name, with its facts in the owner's namespace (None: not found)."""
    held = _held(requester, tiers)
    extracting = [(level, subject) for level, subject in held if level in EXTRACTION_LEVELS]
    recheck = _next_change(extracting, now, calendar)
    best = min((level for level, subject in held if subject_active(subject, now, calendar)), default=None)
    unknown = sorted(name for name, facts in cameras.items() if facts is None)
    if unknown:
        missing = (SOURCE_CAMERA_NOT_FOUND, f"camera(s) {', '.join(unknown)} not found in the owner's namespace")
        return ExtractionVerdict(missing, best, recheck)
    refused = _level_blocker(requester, best, extracting)
    if refused is not None or best is None:
        return ExtractionVerdict(refused, best, recheck)
    known = {name: facts for name, facts in cameras.items() if facts is not None}
    return ExtractionVerdict(_camera_blocker(best, known), best, recheck)
