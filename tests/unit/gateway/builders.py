"""A small fleet for gateway tests: one owner, a viewer department, keys, and tokens for grants."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from camfleet.access import CameraFacts, GrantFacts
from camfleet.access.tokens import Claims, SigningKeys, claims_for_grant, issue
from camfleet.api.camera import ShareClass
from camfleet.gateway import AccessState, PublisherCredentials
from tests.unit.access.builders import NOW, OWNER, camera, grant

KEYS = SigningKeys.generate(NOW - timedelta(days=30))
PUBLISHERS = PublisherCredentials([b"k" * 32])

STREET = camera("street", labels={"district": "downtown"})
HARBOUR = camera("harbour", labels={"district": "port"})
CITY_HALL = camera("city-hall", share_class=ShareClass.NOT_SHARED)
CAMERAS = (STREET, HARBOUR, CITY_HALL)

VIEW_STREET = grant(name="view-street", cameras={"namespace": OWNER, "names": ["street"]}, permissions=("LiveView",))
EMERGENCY = grant(
    name="flood",
    cameras={"namespace": OWNER, "names": ["city-hall"]},
    permissions=("LiveView", "Playback"),
    share_class="NotShared",
    emergency=True,
    start=NOW - timedelta(hours=1),
    end=NOW + timedelta(hours=5),
)
UID = {VIEW_STREET.name: "11111111-1111-4111-8111-111111111111", EMERGENCY.name: "22222222-2222-4222-8222-222222222222"}


def state(*grants: GrantFacts, cameras: Iterable[CameraFacts] = CAMERAS, keys: SigningKeys = KEYS) -> AccessState:
    built = AccessState(keys)
    for each_camera in cameras:
        built.set_camera(each_camera)
    for each_grant in grants or (VIEW_STREET, EMERGENCY):
        built.set_grant(UID[each_grant.name], each_grant)
    return built


def token_for(given: GrantFacts, keys: SigningKeys = KEYS, cameras: Iterable[CameraFacts] = CAMERAS) -> str:
    return issue(claims_for_grant(given, UID.get(given.name, f"uid-{given.name}"), cameras, None, NOW), keys)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def alg_none_token(claims: Claims, kid: str = KEYS.active.kid) -> str:
    """An unsigned token, built by hand as an attacker would."""
    header = b64url(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims.to_payload()).encode())}."


def forged_token(given: GrantFacts) -> str:
    """A token with our header and claims but signed by a stranger's key."""
    header, body, _ = token_for(given).split(".")
    stranger = SigningKeys.generate(NOW).active.private_key
    return f"{header}.{body}.{b64url(stranger.sign(f'{header}.{body}'.encode()))}"


def widened_claims(given: GrantFacts, **changes: Any) -> Claims:
    """The grant's claims with more than it gives (as a buggy or compromised issuer would write them)."""
    claims = claims_for_grant(given, UID[given.name], CAMERAS, None, NOW)
    return replace(claims, **changes)
