"""Effective permissions of a department on a camera at a time, with every reason (R10, R12, R13, R14).

Effective permissions = ownership + levels held now + grants in force now, each source limited on its own
terms (see `tier_table` and `grants`): a source that would allow something but is limited or not in force
still leaves a reason, so that `camfleet access explain` shows why a permission is missing as well as why
one is present.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from camfleet.access.camera_selection import selection_covers
from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar, require_aware
from camfleet.access.decision_inputs import CameraFacts, GrantFacts
from camfleet.access.grants import grant_covers, grant_rights, hard_expiry, not_in_force_because
from camfleet.access.tier_table import NOTHING, Permissions, grant_priority, level_rights, owner_rights
from camfleet.access.windows import subject_active, subject_next_change
from camfleet.api.access_tier import AccessTier, TierSubject
from camfleet.api.sharing_grant import Permission

PERMISSION_ORDER = (Permission.LIVE_VIEW, Permission.PLAYBACK, Permission.PTZ_CONTROL, Permission.EXPORT)


class Effect(StrEnum):
    ALLOWS = "allows"
    LIMITED = "limited"
    """The source applies to the department and camera, but a rule leaves it nothing here."""
    NOT_IN_FORCE = "not in force"
    """The source exists but does not hold at this time (outside its windows, not approved, expired)."""


@dataclass(frozen=True)
class Reason:
    source: str
    """Where it comes from: "owner", "tier level-3-traffic (level 3)", "grant transport/typhoon"."""
    effect: Effect
    permissions: Permissions
    """What the source allows here (empty unless the effect is ALLOWS)."""
    because: str

    def __str__(self) -> str:
        if self.effect == Effect.ALLOWS:
            return f"+ {self.source} allows {format_permissions(self.permissions)}: {self.because}"
        return f"- {self.source} ({self.effect}): {self.because}"


@dataclass(frozen=True)
class Decision:
    department: str
    camera: str
    """namespace/name"""
    at: datetime
    permissions: Permissions
    ptz_priority: int | None
    """Priority of the department's PTZ control (higher takes control); None without PTZControl."""
    can_lock: bool
    """May pre-empt and lock PTZ control for a period (level 1)."""
    level: int | None
    """Best level the department holds at `at`, for credentials (R18); None when it holds none."""
    valid_until: datetime | None
    """Earliest time at which the decision may change by the clock alone (a window or grant opens or closes)."""
    reasons: tuple[Reason, ...]

    def allows(self, permission: Permission) -> bool:
        return permission in self.permissions


def format_permissions(permissions: Iterable[Permission]) -> str:
    present = set(permissions)
    return ", ".join(p.value for p in PERMISSION_ORDER if p in present) or "nothing"


def decide(
    department: str,
    camera: CameraFacts,
    at: datetime,
    tiers: Iterable[AccessTier],
    grants: Iterable[GrantFacts],
    calendar: CityCalendar = DEFAULT_CALENDAR,
) -> Decision:
    require_aware(at)
    held = _held_tiers(department, tiers)
    holds_now = [subject_active(subject, at, calendar) for _, subject in held]
    standing = min((tier.spec.level for (tier, _), now in zip(held, holds_now, strict=True) if now), default=None)
    own_grants = sorted(
        (g for g in grants if g.namespace == department and grant_covers(g.spec, camera)), key=lambda g: g.name
    )

    sources = _Sources()
    if camera.namespace == department:
        _add_owner(sources)
    for (tier, subject), now in zip(held, holds_now, strict=True):
        _add_tier(sources, tier, subject, now, camera)
    for grant in own_grants:
        _add_grant(sources, grant, camera, at, standing)

    reasons = sources.reasons
    permissions = frozenset().union(*(r.permissions for r in reasons))
    if not reasons:
        reasons.append(Reason("no source", Effect.LIMITED, NOTHING, "no ownership, level or grant applies"))
    return Decision(
        department=department,
        camera=camera.ref,
        at=at,
        permissions=permissions,
        ptz_priority=max(sources.priorities) if Permission.PTZ_CONTROL in permissions else None,
        can_lock=sources.can_lock,
        level=standing,
        valid_until=_valid_until(held, own_grants, at, calendar),
        reasons=tuple(reasons),
    )


@dataclass
class _Sources:
    """What the sources found so far, as `decide` walks owner, tiers and grants."""

    reasons: list[Reason] = field(default_factory=list)
    priorities: list[int] = field(default_factory=list)
    can_lock: bool = False


def _add_owner(sources: _Sources) -> None:
    owner = owner_rights()
    sources.reasons.append(Reason("owner", Effect.ALLOWS, owner.permissions, owner.because))
    if owner.ptz_priority is not None:
        sources.priorities.append(owner.ptz_priority)


def _add_tier(sources: _Sources, tier: AccessTier, subject: TierSubject, now: bool, camera: CameraFacts) -> None:
    source = f"tier {tier.metadata.name} (level {tier.spec.level})"
    if not now:
        sources.reasons.append(Reason(source, Effect.NOT_IN_FORCE, NOTHING, f"held only {_windows_words(subject)}"))
        return
    authorized = any(selection_covers(selection, camera) for selection in tier.spec.authorized_cameras)
    rights = level_rights(tier.spec.level, camera, authorized=authorized)
    effect = Effect.ALLOWS if rights.permissions else Effect.LIMITED
    sources.reasons.append(Reason(source, effect, rights.permissions, rights.because))
    if rights.ptz_priority is not None:
        sources.priorities.append(rights.ptz_priority)
    sources.can_lock = sources.can_lock or rights.can_lock


def _add_grant(sources: _Sources, grant: GrantFacts, camera: CameraFacts, at: datetime, standing: int | None) -> None:
    source = f"{'emergency ' if grant.emergency else ''}grant {grant.ref}"
    inactive = not_in_force_because(grant, at)
    if inactive is not None:
        sources.reasons.append(Reason(source, Effect.NOT_IN_FORCE, NOTHING, inactive))
        return
    given = grant_rights(grant.spec, camera)
    if not given.permissions:
        sources.reasons.append(Reason(source, Effect.LIMITED, NOTHING, given.because))
        return
    until = f"; until {hard_expiry(grant.spec).isoformat()}"
    sources.reasons.append(Reason(source, Effect.ALLOWS, given.permissions, given.because + until))
    if Permission.PTZ_CONTROL in given.permissions:
        sources.priorities.append(grant_priority(standing, grant.emergency))


def _held_tiers(department: str, tiers: Iterable[AccessTier]) -> list[tuple[AccessTier, TierSubject]]:
    """The tiers naming the department, in a fixed order so that decisions do not depend on input order."""
    held = [(tier, subject) for tier in tiers for subject in tier.spec.subjects if subject.department == department]
    return sorted(held, key=lambda pair: (pair[0].spec.level, pair[0].metadata.name or ""))


def _windows_words(subject: TierSubject) -> str:
    spans = []
    for window in subject.windows:
        if window.recurring is not None:
            spans.append(f"every year {window.recurring.start} to {window.recurring.end}")
        elif window.absolute is not None:
            spans.append(f"from {window.absolute.start.isoformat()} until {window.absolute.end.isoformat()}")
    return "; ".join(spans) + ", not now (R14)"


def _valid_until(
    held: list[tuple[AccessTier, TierSubject]], grants: list[GrantFacts], at: datetime, calendar: CityCalendar
) -> datetime | None:
    changes = [subject_next_change(subject, at, calendar) for _, subject in held]
    for grant in grants:
        if grant.approved and not grant.revoked:
            changes.extend(t for t in (grant.spec.period.start, hard_expiry(grant.spec)) if t > at)
    return min((change for change in changes if change is not None), default=None)
