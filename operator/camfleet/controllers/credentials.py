"""Grant credentials (R18) and their revocation (R12): a signed token in a Secret of the grantee department,
and the gateway's in-memory state, which is where access really ends.

A token is issued once per grant and content: it is re-issued only when what it says changes (cameras,
permissions, expiry), so an idle fleet writes nothing. Revocation is explicit and immediate: the gateway
denies the grant's id at once, the Secret is deleted, live sessions are ended when a gateway API is
configured. Deleting a Secret is not revoking: a copied token must stop working too, hence the
gateway's revocation list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from camfleet.access.decision_inputs import CameraFacts, GrantFacts
from camfleet.access.lifecycle import GrantLifecycle
from camfleet.access.tokens import Claims, SigningKeys, claims_for_grant, issue
from camfleet.access.windows import active_departments
from camfleet.api import API_VERSION
from camfleet.api.access_tier import AccessTier
from camfleet.api.sharing_grant import SharingGrant
from camfleet.clock import Clock
from camfleet.gateway.service import Gateway
from camfleet.kube.apply import apply, delete_if_present, get_or_none
from camfleet.kube.ownership import NameConflict, delete_owned, foreign_because
from camfleet.observability.audit import audit

CLAIMS_DIGEST_ANNOTATION = "camfleet.io/claims-digest"
TOKEN_KEY = "token"
GRANT_LABEL = "camfleet.io/grant"


def access_secret_name(grant_name: str) -> str:
    return f"{grant_name}-access"


def claims_digest(claims: Claims) -> str:
    """What the token says, without when it was minted: equal digests need no new token."""
    payload = {key: value for key, value in claims.to_payload().items() if key not in ("iat",)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def access_secret(grant: SharingGrant, token: str, claims: Claims, digest: str) -> dict[str, Any]:
    name, namespace = str(grant.metadata.name), str(grant.metadata.namespace)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": access_secret_name(name),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "camfleet", GRANT_LABEL: name},
            "annotations": {
                CLAIMS_DIGEST_ANNOTATION: digest,
                "camfleet.io/expires-at": claims.expires_at.isoformat(),
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "SharingGrant",
                    "name": name,
                    "uid": grant.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "stringData": {TOKEN_KEY: token, "expiresAt": claims.expires_at.isoformat()},
    }


def end_sessions_first(uid: str | None, terminal: bool, had_access: bool, first_time: bool, recent_end: bool) -> bool:
    """Whether a revocation ends the grant's live sessions before it deletes the Secret: when this process gave
    access, or the grant ended moments ago and this process has not revoked it yet (a restart, a takeover)."""
    return bool(uid) and terminal and (had_access or (first_time and recent_end))


class GrantCredentials:
    def __init__(
        self,
        client: AsyncClient,
        gateway: Gateway,
        keys: SigningKeys,
        clock: Clock,
    ) -> None:
        self._client = client
        self._clock = clock
        self._gateway = gateway
        self._state = gateway.state
        self._keys = keys
        self._tiers: dict[str, AccessTier] = {}
        self._issued: dict[str, str] = {}  # grant uid -> claims digest of the Secret as written

    def tier_changed(self, tier: AccessTier | None, name: str) -> None:
        if tier is None:
            self._tiers.pop(name, None)
            self._state.remove_tier(name)
        else:
            self._tiers[name] = tier
            self._state.set_tier(tier)

    def _level(self, department: str, now: datetime) -> int | None:
        levels = [tier.spec.level for tier in self._tiers.values() if department in active_departments(tier, now)]
        return min(levels, default=None)

    async def grant_active(self, grant: SharingGrant, lifecycle: GrantLifecycle, cameras: list[CameraFacts]) -> None:
        uid, namespace, name = str(grant.metadata.uid), str(grant.metadata.namespace), str(grant.metadata.name)
        facts = replace(GrantFacts.from_resource(grant), approved=True)
        self._state.set_grant(uid, facts)
        now = self._clock.now()
        claims = claims_for_grant(facts, uid, cameras, self._level(namespace, now), now)
        digest = claims_digest(claims)
        if self._issued.get(uid) == digest:
            return
        existing = await get_or_none(self._client, Secret, access_secret_name(name), namespace)
        if existing is not None and (why := foreign_because(existing.to_dict(), uid, {GRANT_LABEL: name})):
            raise NameConflict("Secret", namespace, access_secret_name(name), why)  # never overwritten
        annotations = (existing.metadata.annotations if existing and existing.metadata else None) or {}
        if annotations.get(CLAIMS_DIGEST_ANNOTATION) != digest:
            await apply(self._client, access_secret(grant, issue(claims, self._keys), claims, digest))
            audit(
                "CredentialsIssued",
                f"SharingGrant {namespace}/{name}",
                "issued",
                f"token for {len(claims.cameras)} camera(s) until {claims.expires_at.isoformat()}",
                secret=access_secret_name(name),
                permissions=sorted(str(p) for p in claims.permissions),
            )
        self._issued[uid] = digest

    async def grant_inactive(
        self,
        namespace: str,
        name: str,
        uid: str | None,
        why: str,
        terminal: bool,
        cameras: Collection[str] = (),
        recent_end: bool = False,
    ) -> bool:
        """Take access away. A `terminal` end (expired, denied, deleted) is a revocation: the gateway refuses the
        grant's tokens for good, at once, in memory; then the Secret goes and live sessions on the grant's
        `cameras` end. A grant that is merely not active yet (pending, not started) is only absent from the gateway.

        `recent_end`: the grant ended moments ago. A replica that took over, or this process after a restart, may
        find its Secret already gone (the replica before it died between deleting it and ending the sessions):
        its live sessions are ended all the same, once."""
        had_access = bool(uid) and uid in self._issued
        first_time = bool(uid) and not self._state.is_revoked(str(uid))
        if uid and not had_access and terminal and not first_time:
            return False  # revoked by this process already, its Secret with it (the status pass after a revocation)
        if uid:
            self._forget(uid, terminal)
        # Live sessions first: the door is closed, and a viewer should stop now, not after the Secret's API call.
        ended = end_sessions_first(uid, terminal, had_access, first_time, recent_end)
        if ended:
            await self._gateway.end_sessions(str(uid), cameras)  # counted; a session left running is logged there
        taken = await self._delete_secret(namespace, name, had_access, uid)
        if taken:
            audit("CredentialsRevoked", f"SharingGrant {namespace}/{name}", "revoked", str(why))
            if uid and terminal and not ended:
                await self._gateway.end_sessions(uid, cameras)
        return taken

    def _forget(self, uid: str, terminal: bool) -> None:
        """The gateway stops admitting the grant; a terminal end closes its door for good (`Gateway.close`)."""
        if terminal:
            self._gateway.close(uid)
        self._state.remove_grant(uid)
        self._issued.pop(uid, None)

    async def _delete_secret(self, namespace: str, name: str, had_access: bool, uid: str | None) -> bool:
        """Delete the grant's token Secret; True when there was access to take away. A Secret of that name that
        is not this grant's (labels and owner uid) is left alone: NameConflict."""
        secret = access_secret_name(name)
        # A grant this process issued has its own: delete at once (an expiry burst is a thousand of them).
        if had_access:
            await delete_if_present(self._client, Secret, secret, namespace)
            return True
        # Read first: most inactive grants (pending, expired long ago) have no Secret, and a read is no write.
        return await delete_owned(self._client, Secret, secret, namespace, uid, {GRANT_LABEL: name})
