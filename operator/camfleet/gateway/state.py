"""What the gateway knows, kept in memory, and the access decisions it takes from it (R12, R18).

The operator's controllers feed `AccessState` as they watch cameras, tiers and grants; the decision endpoint
reads it on every connection without calling the API server. A decision on a grant token is a few dictionary
lookups plus one Ed25519 verification, whatever the number of grants loaded.

A token alone never opens the door: it must verify, its grant must not be revoked, and the live state must
still grant what it claims (the grant exists, is in force now, still covers the camera, and its share class
and security limits still allow the permission). So revocation, expiry and a camera's relabelling take effect
at the next connection even while a token is still within its `exp`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar
from camfleet.access.decision_inputs import CameraFacts, GrantFacts
from camfleet.access.effective_permissions import Decision, decide
from camfleet.access.grants import grant_covers, grant_rights, hard_expiry, not_in_force_because
from camfleet.access.masked_streams import StreamVerdict, decide_stream
from camfleet.access.tier_tokens import TierClaims, credential_prefix, is_tier_credential
from camfleet.access.tokens import (
    Claims,
    SigningKeys,
    TokenError,
    TokenExpired,
    check_validity,
    verified_payload,
)
from camfleet.access.windows import subject_active
from camfleet.api.access_tier import AccessTier
from camfleet.api.sharing_grant import Permission

VERIFIED_TOKENS_KEPT = 20_000
"""Good tokens remembered (about 1 KiB each with their claims): more than the grants of a large city."""


class Outcome(StrEnum):
    """Why a request was answered as it was; a bounded set, used as a metric label."""

    ALLOWED = "allowed"
    NO_CREDENTIALS = "no_credentials"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    NOT_IN_TOKEN = "not_in_token"
    REVOKED = "revoked"
    UNKNOWN_GRANT = "unknown_grant"
    GRANT_NOT_IN_FORCE = "grant_not_in_force"
    UNKNOWN_CAMERA = "unknown_camera"
    NOT_GRANTED = "not_granted"
    WRONG_PROFILE = "wrong_profile"
    MASKED_ONLY = "masked_only"
    BAD_PATH = "bad_path"
    ACTION_NOT_ALLOWED = "action_not_allowed"
    BAD_PUBLISHER = "bad_publisher"
    BAD_REQUEST = "bad_request"


_STREAM_OUTCOMES = {StreamVerdict.MASKED_ONLY: Outcome.MASKED_ONLY, StreamVerdict.WRONG_PROFILE: Outcome.WRONG_PROFILE}


@dataclass(frozen=True, slots=True)
class GatewayDecision:
    allowed: bool
    outcome: Outcome
    reasons: tuple[str, ...]
    department: str | None = None
    camera: str | None = None
    grant: str | None = None
    """namespace/name of the grant whose token was used."""
    grant_id: str | None = None
    tier: str | None = None
    """The AccessTier whose credential was used (then `grant_id` is the credential's id)."""

    @classmethod
    def deny(cls, outcome: Outcome, reason: str, **about: str | None) -> GatewayDecision:
        return cls(False, outcome, (reason,), **about)


@dataclass(frozen=True, slots=True)
class _GrantEntry:
    uid: str
    facts: GrantFacts
    expires_at: datetime
    """Hard expiry, computed once (R12)."""
    until: str
    """`expires_at` in the words of an allowed decision, also computed once."""

    @classmethod
    def of(cls, uid: str, facts: GrantFacts) -> _GrantEntry:
        expires_at = hard_expiry(facts.spec)
        return cls(uid, facts, expires_at, f" until {expires_at.isoformat()}")


class AccessState:
    """Cameras, tiers, grants and revocations, as the operator last saw them."""

    def __init__(self, keys: SigningKeys | None = None, calendar: CityCalendar = DEFAULT_CALENDAR) -> None:
        self._keys = keys
        self._calendar = calendar
        self._cameras: dict[str, CameraFacts] = {}
        self._masking_profiles: dict[str, frozenset[str]] = {}
        self._tiers: dict[str, AccessTier] = {}
        self._tiers_by_department: dict[str, dict[str, AccessTier]] = {}
        self._grants: dict[str, _GrantEntry] = {}
        self._grants_by_department: dict[str, dict[str, GrantFacts]] = {}
        self._revoked: set[str] = set()
        self._verified: OrderedDict[str, Claims | TierClaims] = OrderedDict()

    # -- fed by the controllers ----------------------------------------------------------------------------

    @property
    def keys(self) -> SigningKeys | None:
        return self._keys

    def set_keys(self, keys: SigningKeys) -> None:
        self._keys = keys
        self._verified.clear()

    def set_camera(self, camera: CameraFacts) -> None:
        self._cameras[camera.ref] = camera

    def remove_camera(self, namespace: str, name: str) -> None:
        self._cameras.pop(f"{namespace}/{name}", None)

    def camera(self, ref: str) -> CameraFacts | None:
        return self._cameras.get(ref)

    def set_masking_profiles(self, camera: str, profiles: frozenset[str]) -> None:
        """The transcode profiles that blank camera `namespace/name`'s privacy masks (from its recording policy);
        empty when none is produced. Outside the owner, a masked camera is read only through these (R17)."""
        if profiles:
            self._masking_profiles[camera] = profiles
        else:
            self._masking_profiles.pop(camera, None)

    def masking_profiles(self, camera: str) -> frozenset[str]:
        return self._masking_profiles.get(camera, frozenset())

    def set_tier(self, tier: AccessTier) -> None:
        name = tier.metadata.name
        if not name:
            raise ValueError("an access tier needs metadata.name")
        self.remove_tier(name)
        self._tiers[name] = tier
        for subject in tier.spec.subjects:
            self._tiers_by_department.setdefault(subject.department, {})[name] = tier

    def remove_tier(self, name: str) -> None:
        tier = self._tiers.pop(name, None)
        if tier is None:
            return
        for subject in tier.spec.subjects:
            held = self._tiers_by_department.get(subject.department, {})
            held.pop(name, None)
            if not held:
                self._tiers_by_department.pop(subject.department, None)

    def set_grant(self, uid: str, grant: GrantFacts) -> None:
        """Add or replace the grant with this uid (the token's `jti`). Revocation sticks: a grant revoked
        here stays revoked whatever a later, possibly stale, copy of the object says."""
        if uid in self._revoked and not grant.revoked:
            grant = replace(grant, revoked=True)
        self.remove_grant(uid)
        self._grants[uid] = _GrantEntry.of(uid, grant)
        self._grants_by_department.setdefault(grant.namespace, {})[uid] = grant

    def remove_grant(self, uid: str) -> None:
        """Forget the grant; its tokens are refused from now on (an unknown grant grants nothing)."""
        entry = self._grants.pop(uid, None)
        if entry is None:
            return
        own = self._grants_by_department.get(entry.facts.namespace, {})
        own.pop(uid, None)
        if not own:
            self._grants_by_department.pop(entry.facts.namespace, None)

    def revoke(self, grant_id: str) -> None:
        """Refuse the grant's tokens from now on, whatever its object still says (R12)."""
        self._revoked.add(grant_id)
        entry = self._grants.get(grant_id)
        if entry is not None and not entry.facts.revoked:
            self.set_grant(grant_id, replace(entry.facts, revoked=True))

    def is_revoked(self, grant_id: str) -> bool:
        return grant_id in self._revoked

    def forget_revocations(self, grant_ids: Iterable[str]) -> None:
        """Drop revocations that no longer matter (the grant is gone and its tokens have expired), so that the
        set does not grow without end. The caller decides when; `revoke` never forgets on its own."""
        for grant_id in grant_ids:
            if grant_id not in self._grants:
                self._revoked.discard(grant_id)

    def cameras(self) -> list[CameraFacts]:
        return list(self._cameras.values())

    def grant_count(self) -> int:
        return len(self._grants)

    # -- decisions -----------------------------------------------------------------------------------------

    def decide_request(
        self,
        camera: str,
        permission: Permission,
        now: datetime,
        *,
        token: str | None = None,
        department: str | None = None,
        profile: str | None = None,
    ) -> GatewayDecision:
        """A token decides when there is one (and must belong to `department` when that is given too); without
        one, the effective permissions of `department`, which the caller has authenticated, decide."""
        if token is not None:
            decision = self.decide_token(token, camera, permission, now, profile)
            if department is not None and decision.department not in (None, department):
                return GatewayDecision.deny(
                    Outcome.NOT_IN_TOKEN, f"the token belongs to another department than {department}", camera=camera
                )
            return decision
        if department is not None:
            return self.decide_department(department, camera, permission, now, profile)
        return GatewayDecision.deny(Outcome.NO_CREDENTIALS, "give a token or a department", camera=camera)

    def decide_token(
        self, token: str | None, camera: str, permission: Permission, now: datetime, profile: str | None = None
    ) -> GatewayDecision:
        """May the bearer of `token` use `permission` on camera `namespace/name` (stream `profile`) at `now`?"""
        if not token:
            return GatewayDecision.deny(Outcome.NO_CREDENTIALS, "no token was presented", camera=camera)
        if self._keys is None:
            return GatewayDecision.deny(Outcome.INVALID_TOKEN, "no signing keys are loaded yet", camera=camera)
        try:
            claims = self._verified_claims(token, self._keys, now)
        except TokenExpired as error:
            return GatewayDecision.deny(Outcome.TOKEN_EXPIRED, f"token refused: {error}", camera=camera)
        except TokenError as error:
            return GatewayDecision.deny(Outcome.INVALID_TOKEN, f"token refused ({error.code}): {error}", camera=camera)
        if isinstance(claims, TierClaims):
            return self.decide_tier_claims(claims, camera, permission, now, profile)
        return self.decide_claims(claims, camera, permission, now, profile)

    def _verified_claims(self, token: str, keys: SigningKeys, now: datetime) -> Claims | TierClaims:
        # Verifying a signature is most of a decision's cost; clients reconnect and HLS asks for every segment
        # with the same token, so good tokens are remembered. Times and the signing key are checked again on
        # every use, and keys changing empties the cache.
        known = self._verified.get(token)
        if known is not None and known.key_id is not None and keys.verification_key(known.key_id, now) is not None:
            self._verified.move_to_end(token)
            check_validity(known, now)
            return known
        payload, kid = verified_payload(token, keys, now)
        reader = TierClaims if is_tier_credential(payload) else Claims
        claims: Claims | TierClaims = replace(reader.from_payload(payload), key_id=kid)
        check_validity(claims, now)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return claims

    def decide_claims(
        self, claims: Claims, camera: str, permission: Permission, now: datetime, profile: str | None = None
    ) -> GatewayDecision:
        """The checks after a token verified: its own scope, then the live state."""
        about = {"department": claims.department, "camera": camera, "grant": claims.grant, "grant_id": claims.grant_id}
        if not claims.covers(camera, permission):
            return GatewayDecision.deny(
                Outcome.NOT_IN_TOKEN,
                f"the token of grant {claims.grant} does not give {permission} on {camera}",
                **about,
            )
        if claims.grant_id in self._revoked:
            return GatewayDecision.deny(Outcome.REVOKED, f"grant {claims.grant} is revoked", **about)
        entry = self._grants.get(claims.grant_id)
        if entry is None or entry.facts.ref != claims.grant or entry.facts.namespace != claims.department:
            return GatewayDecision.deny(Outcome.UNKNOWN_GRANT, f"grant {claims.grant} no longer exists", **about)
        inactive = not_in_force_because(entry.facts, now)
        if inactive is not None:
            outcome = Outcome.REVOKED if entry.facts.revoked else Outcome.GRANT_NOT_IN_FORCE
            return GatewayDecision.deny(outcome, f"grant {claims.grant} is not in force: {inactive}", **about)
        facts = self._cameras.get(camera)
        if facts is None:
            return GatewayDecision.deny(Outcome.UNKNOWN_CAMERA, f"camera {camera} is not known", **about)
        if not grant_covers(entry.facts.spec, facts):
            return GatewayDecision.deny(
                Outcome.NOT_GRANTED, f"grant {claims.grant} no longer selects camera {camera}", **about
            )
        rights = grant_rights(entry.facts.spec, facts)
        if permission not in rights.permissions:
            return GatewayDecision.deny(
                Outcome.NOT_GRANTED,
                f"grant {claims.grant} gives no {permission} on {camera}: {rights.because}",
                **about,
            )
        stream = decide_stream(
            facts, claims.department, profile, self.masking_profiles(camera), entry.facts.spec.transcode_profile
        )
        if not stream.allowed:
            # R17: the grantee receives the masked or reduced stream, never the original or another profile.
            return GatewayDecision.deny(
                _STREAM_OUTCOMES[stream.verdict], f"grant {claims.grant}: {stream.reason}", **about
            )
        return GatewayDecision(
            True,
            Outcome.ALLOWED,
            (
                f"token of grant {claims.grant} verified",
                f"grant {claims.grant} allows {permission} on {camera}: {rights.because};{entry.until}",
            ),
            **about,
        )

    def decide_tier_claims(
        self, claims: TierClaims, camera: str, permission: Permission, now: datetime, profile: str | None = None
    ) -> GatewayDecision:
        """A tier credential, verified: its scope, then the live state. The tier must still exist (same uid) and
        the department hold its level now (in a window, R14); then the level's rules alone decide (tier_table),
        as they stand now, not as they stood at issue."""
        about = {
            "department": claims.department,
            "camera": camera,
            "tier": claims.tier,
            "grant_id": claims.credential_id,
        }
        if not claims.covers(camera):
            return GatewayDecision.deny(
                Outcome.NOT_IN_TOKEN, f"the credential of tier {claims.tier} does not reach {camera}", **about
            )
        if claims.credential_id in self._revoked:
            return GatewayDecision.deny(Outcome.REVOKED, f"the credential of tier {claims.tier} is revoked", **about)
        tier = self._tiers.get(claims.tier)
        if tier is None or not claims.credential_id.startswith(
            credential_prefix(str(tier.metadata.uid), claims.department)
        ):
            return GatewayDecision.deny(Outcome.UNKNOWN_GRANT, f"tier {claims.tier} no longer exists", **about)
        subjects = [s for s in tier.spec.subjects if s.department == claims.department]
        if not any(subject_active(s, now, self._calendar) for s in subjects):
            return GatewayDecision.deny(
                Outcome.GRANT_NOT_IN_FORCE, f"{claims.department} does not hold tier {claims.tier} now", **about
            )
        facts = self._cameras.get(camera)
        if facts is None:
            return GatewayDecision.deny(Outcome.UNKNOWN_CAMERA, f"camera {camera} is not known", **about)
        decision = decide(claims.department, facts, now, [tier], [], self._calendar)
        reasons = tuple(str(reason) for reason in decision.reasons)
        if not decision.allows(permission):
            return GatewayDecision(
                False, Outcome.NOT_GRANTED, (f"tier {claims.tier} gives no {permission} on {camera}", *reasons), **about
            )
        stream = decide_stream(facts, claims.department, profile, self.masking_profiles(camera))
        if not stream.allowed:
            return GatewayDecision(False, _STREAM_OUTCOMES[stream.verdict], (stream.reason, *reasons), **about)
        return GatewayDecision(True, Outcome.ALLOWED, (f"credential of tier {claims.tier} verified", *reasons), **about)

    def standing(self, department: str, camera: str, now: datetime) -> Decision | None:
        """The whole access engine's decision for `department` on `camera` (None: unknown camera), for callers that
        need more than allowed-or-not (the PTZ control service needs the priority and whether it may lock)."""
        facts = self._cameras.get(camera)
        return None if facts is None else self._standing_on(department, facts, now)

    def _standing_on(self, department: str, facts: CameraFacts, now: datetime) -> Decision:
        return decide(
            department,
            facts,
            now,
            self._tiers_by_department.get(department, {}).values(),
            self._grants_by_department.get(department, {}).values(),
            self._calendar,
        )

    def decide_department(
        self, department: str, camera: str, permission: Permission, now: datetime, profile: str | None = None
    ) -> GatewayDecision:
        """The whole access engine (ownership, tiers, grants) for a department a gateway has authenticated itself."""
        about = {"department": department, "camera": camera}
        facts = self._cameras.get(camera)
        if facts is None:
            return GatewayDecision.deny(Outcome.UNKNOWN_CAMERA, f"camera {camera} is not known", **about)
        decision = self._standing_on(department, facts, now)
        reasons = tuple(str(reason) for reason in decision.reasons)
        if decision.allows(permission):
            stream = decide_stream(facts, department, profile, self.masking_profiles(camera))
            if not stream.allowed:
                return GatewayDecision(False, _STREAM_OUTCOMES[stream.verdict], (stream.reason, *reasons), **about)
            return GatewayDecision(True, Outcome.ALLOWED, reasons, **about)
        return GatewayDecision(
            False, Outcome.NOT_GRANTED, (f"{department} has no {permission} on {camera}", *reasons), **about
        )
