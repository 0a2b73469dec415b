"""Tier credentials (R18 for levels held through an AccessTier, issue 19 point 3): what they state and how they
are read.

A department that holds a level through an AccessTier, inside the subject's windows (R14), gets a JWT signed
with the grant tokens' keys (`access.tokens`: EdDSA, same issuer, audience and key rotation) but of a kind of
its own, so that neither can pass for the other:

- registered claims: `sub` the department, `jti` "<tier uid>.<department>.<issued, epoch seconds>" (one per
  credential written, so that revoking one window's credentials never refuses a later window's), `iat`, `nbf`,
  `exp`;
- camfleet claims: `kind` "tier" (a grant token has no `kind`, and lacks `tier`), `tier` (the AccessTier's
  name), `level` (1-4), `cameras` (["namespace/name", ...], the scope: the cameras the level reaches when the
  credential is issued; restricted zones and authorized subsets already applied).

`exp` is never later than the end of the window the department is in, so a copied credential stops by itself
at the window's end; the operator also revokes it then (the gateway refuses its `jti`) and deletes its Secret.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar, require_aware
from camfleet.access.decision_inputs import CameraFacts
from camfleet.access.effective_permissions import decide
from camfleet.access.tokens import (
    AUDIENCE,
    ISSUER,
    Claims,
    InvalidClaims,
    SigningKeys,
    check_validity,
    sign_payload,
    verified_payload,
)
from camfleet.access.windows import subject_active, subject_next_change
from camfleet.api.access_tier import AccessTier

TIER_KIND = "tier"
CREDENTIAL_LIFETIME = timedelta(hours=1)
"""A tier credential lives at most this long (less when its window ends sooner); rotated before it ends."""
ROTATE_BEFORE = timedelta(minutes=15)
"""A new credential is written this long before the current one expires (a client re-reads its Secret)."""


@dataclass(frozen=True)
class TierClaims:
    """What a tier credential states: level, scope and time (R18)."""

    department: str
    credential_id: str
    """`jti`: "<tier uid>.<department>.<issued>"; revocation names it."""
    tier: str
    """The AccessTier's name (cluster-scoped)."""
    level: int
    cameras: frozenset[str]
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    key_id: str | None = field(default=None, compare=False)

    def covers(self, camera: str) -> bool:
        return camera in self.cameras

    def to_payload(self) -> dict[str, Any]:
        return {
            "iss": ISSUER,
            "sub": self.department,
            "aud": AUDIENCE,
            "jti": self.credential_id,
            "iat": math.floor(self.issued_at.timestamp()),
            # Issued inside a window, valid from the second it is issued (ceil would refuse it for up to a second).
            "nbf": math.floor(self.not_before.timestamp()),
            "exp": math.floor(self.expires_at.timestamp()),
            "kind": TIER_KIND,
            "tier": self.tier,
            "level": self.level,
            "cameras": sorted(self.cameras),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> TierClaims:
        """Strict reading; InvalidClaims names the claim, never its value."""
        if payload.get("kind") != TIER_KIND:
            raise InvalidClaims("not a tier credential")
        tier = payload.get("tier")
        if not isinstance(tier, str) or not tier:
            raise InvalidClaims("claim 'tier' must name an AccessTier")
        level = payload.get("level")
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 4:
            raise InvalidClaims("claim 'level' must be a level from 1 to 4")
        # The grant token's readers check the shared claims the same way.
        shared = Claims.from_payload({**payload, "permissions": [], "grant": "x/x", "emergency": False})
        return cls(
            department=shared.department,
            credential_id=shared.grant_id,
            tier=tier,
            level=level,
            cameras=shared.cameras,
            issued_at=shared.issued_at,
            not_before=shared.not_before,
            expires_at=shared.expires_at,
        )


def credential_prefix(tier_uid: str, department: str) -> str:
    """What every credential id of the department in the tier (of this uid) starts with."""
    return f"{tier_uid}.{department}."


def credential_id(tier_uid: str, department: str, issued_at: datetime) -> str:
    return f"{credential_prefix(tier_uid, department)}{math.floor(issued_at.timestamp())}"


def is_tier_credential(payload: Mapping[str, Any]) -> bool:
    return payload.get("kind") == TIER_KIND


def verify_tier(token: str, keys: SigningKeys, now: datetime) -> TierClaims:
    """The tier credential's claims, or a TokenError saying why it is refused (a grant token is refused here)."""
    payload, kid = verified_payload(token, keys, now)
    claims = replace(TierClaims.from_payload(payload), key_id=kid)
    check_validity(claims, now)
    return claims


def tier_scope(department: str, tier: AccessTier, cameras: Iterable[CameraFacts], at: datetime) -> frozenset[str]:
    """The cameras the tier's level gives the department anything on at `at` (tier_table's rules: restricted
    zones for levels 2-4, authorized subsets for 3 and 4)."""
    reached = set()
    for camera in cameras:
        if decide(department, camera, at, [tier], []).permissions:
            reached.add(camera.ref)
    return frozenset(reached)


def window_end(tier: AccessTier, department: str, at: datetime, calendar: CityCalendar) -> datetime | None:
    """When the department stops holding the tier's level, if it holds it at `at`; None: it holds it for good."""
    for subject in tier.spec.subjects:
        if subject.department == department and subject_active(subject, at, calendar):
            return subject_next_change(subject, at, calendar)
    return None


def holds(tier: AccessTier, department: str, at: datetime, calendar: CityCalendar = DEFAULT_CALENDAR) -> bool:
    return any(s.department == department and subject_active(s, at, calendar) for s in tier.spec.subjects)


def claims_for_tier(
    tier: AccessTier,
    department: str,
    cameras: Iterable[CameraFacts],
    now: datetime,
    calendar: CityCalendar = DEFAULT_CALENDAR,
    lifetime: timedelta = CREDENTIAL_LIFETIME,
) -> TierClaims:
    """The claims of the department's credential for `tier`, issued at `now` (the department must hold the level
    now): scope as at `now`, expiry the earlier of `now + lifetime` and the window's end."""
    require_aware(now)
    end = window_end(tier, department, now, calendar)
    expires = now + lifetime if end is None else min(end, now + lifetime)
    return TierClaims(
        department=department,
        credential_id=credential_id(str(tier.metadata.uid), department, now),
        tier=str(tier.metadata.name),
        level=tier.spec.level,
        cameras=tier_scope(department, tier, cameras, now),
        issued_at=now,
        not_before=now,
        expires_at=expires,
    )


def scope_digest(claims: TierClaims) -> str:
    """What the credential says apart from its times: a change needs a new credential at once."""
    payload = {k: v for k, v in claims.to_payload().items() if k not in ("jti", "iat", "nbf", "exp")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Issued:
    """A credential as written: what it says and until when."""

    digest: str
    expires_at: datetime


def needs_new_credential(
    issued: Issued | None, wanted: TierClaims, now: datetime, rotate_before: timedelta = ROTATE_BEFORE
) -> bool:
    """Whether to write a new credential: none yet, the scope or level changed, the window now ends before the
    one written does, or it expires within `rotate_before` and a later one is possible."""
    if issued is None or issued.digest != scope_digest(wanted):
        return True
    if wanted.expires_at < issued.expires_at:
        return True
    return issued.expires_at - now <= rotate_before and wanted.expires_at > issued.expires_at


def issue_tier(claims: TierClaims, keys: SigningKeys) -> str:
    """Signed with the active key, as grant tokens are."""
    return sign_payload(claims.to_payload(), keys)
