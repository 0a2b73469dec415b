"""Tier credentials (R18, issue 19 point 3): a department holding a level through an AccessTier, inside its windows
(R14), gets a signed credential (`access.tier_tokens`) in a Secret of its namespace, `<tier>-tier-credential`.

The credential is re-written when what it says changes (level, scope), when the window now ends earlier than the
credential does, and `ROTATE_BEFORE` its expiry (rotation; `--tier-credential-rotate-before-seconds`, lifetime
`--tier-credential-lifetime-seconds`); an idle fleet writes nothing between rotations. A rotated-out credential is
not revoked: it keeps working until its own `exp`, so a client that re-reads its Secret late loses nothing.
When the department stops holding the level (the window ends, it leaves the tier, the tier is deleted) the
credential is revoked: the gateway refuses its ids at once, in memory, its live sessions end, and the Secret goes.
A Secret of that name that camfleet did not create (labels, owner) is never overwritten nor deleted.

One pass computes everything from memory (tiers as watched, cameras as the gateway knows them); it runs when a
tier or a camera changes and when the next window boundary or rotation is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar
from camfleet.access.decision_inputs import CameraFacts
from camfleet.access.tier_tokens import (
    CREDENTIAL_LIFETIME,
    ROTATE_BEFORE,
    Issued,
    TierClaims,
    claims_for_tier,
    holds,
    issue_tier,
    needs_new_credential,
    scope_digest,
)
from camfleet.access.tokens import SigningKeys
from camfleet.access.windows import tier_next_transition
from camfleet.active_gate import ActiveGate
from camfleet.api import API_VERSION
from camfleet.api.access_tier import AccessTier
from camfleet.clock import Clock
from camfleet.gateway.service import Gateway
from camfleet.kube.apply import apply, get_or_none
from camfleet.kube.ownership import NameConflict, delete_owned, foreign_because
from camfleet.observability.audit import audit

log = logging.getLogger(__name__)

TIER_LABEL = "camfleet.io/tier"
TOKEN_KEY = "token"
LONGEST_SLEEP = 30.0
"""Seconds between passes when nothing is due: a camera relabelled without an event still reaches the scope."""

COALESCE_SECONDS = 0.5

Key = tuple[str, str]
"""(tier name, department)"""


def tier_secret_name(tier: str) -> str:
    return f"{tier}-tier-credential"


def tier_secret(tier: AccessTier, claims: TierClaims, token: str) -> dict[str, object]:
    name = str(tier.metadata.name)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": tier_secret_name(name),
            "namespace": claims.department,
            "labels": {"app.kubernetes.io/managed-by": "camfleet", TIER_LABEL: name},
            "annotations": {
                "camfleet.io/level": str(claims.level),
                "camfleet.io/expires-at": claims.expires_at.isoformat(),
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "AccessTier",
                    "name": name,
                    "uid": tier.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "stringData": {
            TOKEN_KEY: token,
            "level": str(claims.level),
            "cameras": "\n".join(sorted(claims.cameras)),
            "expiresAt": claims.expires_at.isoformat(),
        },
    }


@dataclass
class _Held:
    """A credential written, and every id of the department's credentials in the tier still unexpired."""

    issued: Issued
    tier_uid: str
    cameras: frozenset[str]
    ids: dict[str, datetime]
    """credential id -> its expiry"""


def next_pass_in(
    tiers: list[AccessTier],
    held: list[Issued],
    now: datetime,
    calendar: CityCalendar,
    rotate_before: timedelta = ROTATE_BEFORE,
) -> float:
    """Seconds until the next window boundary of any tier or the next rotation, at most LONGEST_SLEEP."""
    due = [change for tier in tiers if (change := tier_next_transition(tier, now, calendar)) is not None]
    due += [issued.expires_at - rotate_before for issued in held]
    due += [issued.expires_at for issued in held]
    seconds = min(((at - now).total_seconds() for at in due), default=LONGEST_SLEEP)
    return min(LONGEST_SLEEP, max(0.05, seconds))


class TierCredentials:
    def __init__(
        self,
        client: AsyncClient,
        gateway: Gateway,
        keys: SigningKeys,
        clock: Clock,
        calendar: CityCalendar = DEFAULT_CALENDAR,
        lifetime: timedelta = CREDENTIAL_LIFETIME,
        rotate_before: timedelta = ROTATE_BEFORE,
    ) -> None:
        self._lifetime = lifetime
        self._rotate_before = rotate_before
        self._client = client
        self._gateway = gateway
        self._keys = keys
        self._clock = clock
        self._calendar = calendar
        self._tiers: dict[str, AccessTier] = {}
        self._held: dict[Key, _Held] = {}
        self._seen: set[tuple[str, str, str]] = set()
        """(tier uid, department, "") pairs checked for a left-over Secret since this process started."""
        self._wake = asyncio.Event()

    def tier_changed(self, tier: AccessTier | None, name: str) -> None:
        if tier is None:
            self._tiers.pop(name, None)
        else:
            self._tiers[name] = tier
        self._wake.set()

    def cameras_changed(self) -> None:
        self._wake.set()

    async def run(self, gate: ActiveGate) -> None:
        self._clock.wake_on_jump(self._wake.set)
        while True:
            await gate.wait_open()
            self._wake.clear()
            try:
                await self.reconcile()
                now = self._clock.now()
                held = [h.issued for h in self._held.values()]
                pause = next_pass_in(list(self._tiers.values()), held, now, self._calendar, self._rotate_before)
            except Exception:
                log.exception("tier credentials pass failed; retrying in 10s")
                pause = 10.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)
                # Woken by a change: let a burst (a camera's status writes, a fleet applied at once) settle into one
                # pass. The door needs no pass to refuse at a window's end (expiry and live state), only the Secret.
                await asyncio.sleep(COALESCE_SECONDS)

    async def reconcile(self) -> None:
        """One pass: issue or rotate for every department holding a level now, revoke for every other."""
        now = self._clock.now()
        cameras = self._gateway.state.cameras()
        for tier in list(self._tiers.values()):
            for department in sorted({subject.department for subject in tier.spec.subjects}):
                try:
                    await self._settle(tier, department, cameras, now)
                except Exception:  # one department's namespace out of reach must not stop the others'
                    log.exception("tier %s: the credential of %s could not be settled", tier.metadata.name, department)
        for name, department in list(self._held):
            current = self._tiers.get(name)
            if current is None or department not in {s.department for s in current.spec.subjects}:
                why = "the tier is gone" if current is None else "the department left the tier"
                await self._revoke(name, department, self._held[(name, department)].tier_uid, why)

    async def _settle(self, tier: AccessTier, department: str, cameras: list[CameraFacts], now: datetime) -> None:
        if holds(tier, department, now, self._calendar):
            wanted = claims_for_tier(tier, department, cameras, now, self._calendar, self._lifetime)
            await self._issue(tier, wanted, now)
        else:
            await self._revoke(
                str(tier.metadata.name), department, str(tier.metadata.uid), "outside the tier's windows"
            )

    async def _issue(self, tier: AccessTier, wanted: TierClaims, now: datetime) -> None:
        key = (str(tier.metadata.name), wanted.department)
        held = self._held.get(key)
        if held is not None and held.tier_uid != str(tier.metadata.uid):
            await self._revoke(key[0], key[1], held.tier_uid, "the tier was replaced")
            held = None
        if not needs_new_credential(held.issued if held else None, wanted, now, self._rotate_before):
            return
        secret = tier_secret_name(key[0])
        existing = await get_or_none(self._client, Secret, secret, wanted.department)
        if existing is not None and (
            why := foreign_because(existing.to_dict(), str(tier.metadata.uid), {TIER_LABEL: key[0]})
        ):
            log.error("%s", NameConflict("Secret", wanted.department, secret, why))  # never overwritten
            return
        await apply(self._client, tier_secret(tier, wanted, issue_tier(wanted, self._keys)))
        ids = {i: exp for i, exp in (held.ids if held else {}).items() if exp > now}
        ids[wanted.credential_id] = wanted.expires_at
        issued = Issued(scope_digest(wanted), wanted.expires_at)
        self._held[key] = _Held(issued, str(tier.metadata.uid), wanted.cameras, ids)
        # The reason states level, scope size and expiry; never the token.
        audit(
            "CredentialsIssued",
            f"AccessTier {key[0]}",
            "rotated" if held else "issued",
            f"level {wanted.level} for {len(wanted.cameras)} camera(s) until {wanted.expires_at.isoformat()}",
            department=wanted.department,
            secret=f"{wanted.department}/{secret}",
            level=wanted.level,
        )

    async def _revoke(self, name: str, department: str, tier_uid: str, why: str) -> None:
        held = self._held.pop((name, department), None)
        first_sight = (tier_uid, department, "") not in self._seen
        self._seen.add((tier_uid, department, ""))
        if held is None and not first_sight:
            return  # nothing written by this process, and a left-over Secret was looked for once already
        for credential in held.ids if held else {}:
            self._gateway.close(credential)  # the door refuses it at once, in memory
        for credential in held.ids if held else {}:
            await self._gateway.end_sessions(credential, held.cameras if held else ())
        try:
            deleted = await delete_owned(
                self._client, Secret, tier_secret_name(name), department, tier_uid, {TIER_LABEL: name}
            )
        except NameConflict as conflict:
            log.error("%s", conflict)
            deleted = False
        if held is not None or deleted:
            audit(
                "CredentialsRevoked",
                f"AccessTier {name}",
                "revoked",
                why,
                department=department,
                secret=f"{department}/{tier_secret_name(name)}",
            )
