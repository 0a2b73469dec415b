"""Decisions that need the city's authorities (CamfleetAuthorities), without I/O.

- who may request emergency access at all (QD-2010 art. 23) and the 72-hour budget of one incident (R12);
- who may classify a camera: set or change its security level and share class (R10, R13; QD-TIERS art. 13);
- the CamfleetAuthorities status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from camfleet.api.authorities import (
    AUTHORITIES_NAME,
    AuthorityMembers,
    CamfleetAuthorities,
    CamfleetAuthoritiesCondition,
    CamfleetAuthoritiesStatus,
)
from camfleet.api.camera import CameraSpec, SecurityLevel, ShareClass
from camfleet.api.common import Period
from camfleet.api.sharing_grant import EMERGENCY_MAX_DURATION
from camfleet.condition_merge import DesiredCondition, Progress, merge_conditions, progress_conditions

CLUSTER_ADMINS = "system:masters"
"""Cluster administrators classify too: they can edit CamfleetAuthorities anyway (see docs/concepts.md)."""
DEFAULT_CLASSIFICATION = (SecurityLevel.STANDARD, ShareClass.CONDITIONAL)
"""What a camera created without a security level or share class gets: anyone who may create cameras may use it."""


def not_configured() -> str:
    return f"no CamfleetAuthorities named {AUTHORITIES_NAME} is configured"


def emergency_request_refusal(department: str, authorities: CamfleetAuthorities | None) -> str | None:
    """Why `department` may not request emergency access, or None when it may (R12, QD-2010 art. 23)."""
    if authorities is None:
        return f"{not_configured()}, so no department may request emergency access (emergency rule R12)"
    if department not in authorities.spec.emergency_departments:
        return (
            f"department {department} is not among the departments that may request emergency access"
            f" (CamfleetAuthorities {AUTHORITIES_NAME}, spec.emergencyDepartments); only departments with powers to"
            " handle public emergencies may (emergency rule R12)"
        )
    return None


def covered_time(periods: Iterable[tuple[datetime, datetime]]) -> timedelta:
    """Length of the union of the periods: time during which at least one of them runs."""
    total, reach = timedelta(0), None
    for start, end in sorted(periods):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def incident_budget_refusal(incident: str, period: Period, others: Sequence[Period]) -> str | None:
    """Why a new emergency grant for `incident` would exceed 72 hours of emergency time, or None (R12).

    `others`: periods of the incident's existing emergency grants. Emergency time is the union of the periods
    (two departments working the same hours spend it once); each period counts up to its hard expiry.
    """
    spans = [(p.start, min(p.end, p.start + EMERGENCY_MAX_DURATION)) for p in [*others, period]]
    used = covered_time(spans)
    if used <= EMERGENCY_MAX_DURATION:
        return None
    hours = used.total_seconds() / 3600
    return (
        f"incident {incident} would reach {hours:.1f} hours of emergency access across its {len(spans)} grants;"
        " an incident gets at most 72 hours in all: a renewal beyond that needs a new incident (emergency rule R12)"
    )


@dataclass(frozen=True)
class Classification:
    security_level: SecurityLevel
    share_class: ShareClass
    legal_basis: str | None = None

    @classmethod
    def of(cls, spec: CameraSpec) -> Classification:
        return cls(spec.security_level, spec.share_class, spec.legal_basis)

    @classmethod
    def of_raw(cls, spec: Mapping[str, Any]) -> Classification | None:
        """From a stored spec without parsing all of it (camera events are many); None when it does not parse."""
        try:
            return cls(
                SecurityLevel(spec.get("securityLevel", SecurityLevel.STANDARD)),
                ShareClass(spec.get("shareClass", ShareClass.CONDITIONAL)),
                spec.get("legalBasis"),
            )
        except ValueError:
            return None

    def words(self) -> str:
        return f"securityLevel {self.security_level}, shareClass {self.share_class}"


def is_classifier(authorities: CamfleetAuthorities | None, username: str, groups: Sequence[str]) -> bool:
    if CLUSTER_ADMINS in groups:
        return True
    return authorities is not None and authorities.spec.classification.includes(username, groups)


def classification_refusal(
    old: Classification | None,
    new: Classification,
    username: str,
    groups: Sequence[str],
    authorities: CamfleetAuthorities | None,
) -> str | None:
    """Why `username` may not create (old None) or change a camera to `new`, or None when they may (R10, R13).

    Creating a camera with the default classification (Standard, Conditional) needs no authority; any other
    classification, and every change of security level, share class or legal basis, needs the classification
    authority.
    """
    if old is None:
        if (new.security_level, new.share_class) == DEFAULT_CLASSIFICATION:
            return None
    elif old == new:
        return None
    if is_classifier(authorities, username, groups):
        return None
    members = authorities.spec.classification.describe() if authorities is not None else not_configured()
    what = f"create a camera with {new.words()}" if old is None else f"change {old.words()} to {new.words()}"
    return (
        f"{username} may not {what}: only the classification authority ({members}) sets a camera's security level"
        " and share class (classification rule R10, R13)"
    )


def _count(members: AuthorityMembers) -> int:
    return len(members.users) + len(members.groups)


def authorities_status(
    current: CamfleetAuthoritiesStatus | None, authorities: CamfleetAuthorities, generation: int, now: datetime
) -> CamfleetAuthoritiesStatus:
    """The configuration's whole new status; equal to `current` when nothing changed."""
    spec = authorities.spec
    empty = [
        name
        for name, members in (("emergency", spec.emergency), ("classification", spec.classification))
        if not _count(members)
    ]
    message = f"enforced; {len(spec.emergency_departments)} department(s) may request emergency access" + (
        f"; nobody is named in: {', '.join(empty)}" if empty else ""
    )
    ready = DesiredCondition(CamfleetAuthoritiesCondition.READY, "True", "Enforced", message)
    current = current or CamfleetAuthoritiesStatus()
    return CamfleetAuthoritiesStatus(
        observed_generation=generation,
        emergency_members=_count(spec.emergency),
        classification_members=_count(spec.classification),
        legal_hold_members=_count(spec.legal_hold),
        conditions=merge_conditions(
            current.conditions,
            [
                ready,
                *progress_conditions(
                    CamfleetAuthoritiesCondition.RECONCILING, CamfleetAuthoritiesCondition.STALLED, Progress()
                ),
            ],
            generation,
            now,
        ),
    )


UNKNOWN_CLASSIFIER = "an identity the classification authority admitted (see its ClassificationAdmitted audit record)"


class ClassificationLedger:
    """What each camera's classification was when last seen, and who the webhook let change it (in memory).

    The webhook's ClassificationAdmitted record is the authoritative who/when/old/new (R16); the ledger lets the
    watch that sees the change stored name the same person in the camera's Event.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], Classification] = {}
        self._who: dict[tuple[str, str], str] = {}

    @staticmethod
    def non_default(classification: Classification) -> bool:
        return (classification.security_level, classification.share_class) != DEFAULT_CLASSIFICATION

    def admitted(self, key: tuple[str, str], username: str) -> None:
        self._who[key] = username

    def observe(
        self, key: tuple[str, str], classification: Classification | None
    ) -> tuple[Classification, Classification, str] | None:
        """(before, after, who) when the stored classification changed since last seen; None otherwise."""
        if classification is None:
            return None
        before = self._known.get(key)
        self._known[key] = classification
        if before is None or before == classification:
            if before is None:
                self._who.pop(key, None)
            return None
        return before, classification, self._who.pop(key, UNKNOWN_CLASSIFIER)

    def forget(self, key: tuple[str, str]) -> None:
        self._known.pop(key, None)
        self._who.pop(key, None)
