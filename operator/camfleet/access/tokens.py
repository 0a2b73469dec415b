"""Signed access tokens for sharing grants (R18: credentials state the level, the scope and the time).

One token per grant, a JWT signed with Ed25519 (JWS algorithm `EdDSA`):

- registered claims: `iss` "camfleet", `sub` the grantee department, `aud` "camfleet-gateway",
  `jti` the grant's uid, `iat`, `nbf` (the grant's start) and `exp` (its hard expiry, R12);
- camfleet claims: `level` (the department's level when the token was issued, or null), `cameras`
  (["namespace/name", ...]), `permissions` (["LiveView", "Playback", "PTZControl", "Export"]), `grant`
  ("namespace/name"), `emergency` (bool) and `profile` (the transcode profile the grant is limited to, or null).

Why Ed25519 rather than ES256: signatures are deterministic, so a weak random source at signing time cannot
leak the key (ECDSA's nonce reuse can); there is one curve and one key size, so there are no parameters to get
wrong or to confuse; keys are 32 bytes and verification is fast. MediaMTX and other JWT libraries (golang-jwt,
jose) accept `EdDSA` keys published as OKP JWKs.

`verify` trusts nothing in the header: the algorithm must be exactly `EdDSA` (so `none`, HS256 with the
public key as an HMAC secret, or ES256 are refused before any cryptography), the key is chosen by `kid` among
our own keys only, and the times are judged against the `now` the caller passes, not the machine clock, so
that the gateway and tests agree on one instant. Errors are typed and never carry the token.

Keys rotate: `SigningKeys.rotate` makes a new active key and keeps the previous one for verification until the
time the caller names, the latest expiry of any token it signed (the operator knows its grants' expiries), so
no valid token stops working because of a rotation. The keys live in a Secret (`to_secret_data` /
`from_secret_data`, PKCS#8 PEM plus a small JSON manifest) and their public halves are published as JWKS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from camfleet.access.city_time import require_aware
from camfleet.access.decision_inputs import CameraFacts, GrantFacts
from camfleet.access.grants import grant_covers, grant_rights, hard_expiry
from camfleet.api.sharing_grant import Permission

ALGORITHM = "EdDSA"
ISSUER = "camfleet"
AUDIENCE = "camfleet-gateway"
MAX_TOKEN_CHARS = 16_384
"""Longer input is refused before parsing: a token for a grant of 1,024 cameras fits well within this."""

REGISTERED_CLAIMS = ("iss", "sub", "aud", "jti", "iat", "nbf", "exp")
_ALLOWED_HEADER_FIELDS = frozenset({"alg", "kid", "typ"})
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_OBJECT_REF = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?")

MANIFEST_KEY = "keys.json"
"""Secret data key of the manifest: which key is active, when each was made and until when it verifies."""


# -- errors -----------------------------------------------------------------------------------------------------


class TokenError(Exception):
    """A token was refused. `code` is short and stable (metrics, API answers); the message says why in words.

    Neither ever contains the token or any part of it."""

    code: ClassVar[str] = "invalid_token"


class MalformedToken(TokenError):
    code = "malformed"


class UnsupportedAlgorithm(TokenError):
    code = "unsupported_algorithm"


class UnknownKey(TokenError):
    code = "unknown_key"


class BadSignature(TokenError):
    code = "bad_signature"


class WrongAudience(TokenError):
    code = "wrong_audience"


class WrongIssuer(TokenError):
    code = "wrong_issuer"


class InvalidClaims(TokenError):
    code = "invalid_claims"


class TokenExpired(TokenError):
    code = "expired"


class TokenNotYetValid(TokenError):
    code = "not_yet_valid"


class SigningKeysError(ValueError):
    """The signing keys Secret cannot be read."""


# -- claims -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claims:
    """What a grant token states (R18)."""

    department: str
    """`sub`: the grantee department."""
    grant_id: str
    """`jti`: the grant's uid; revocation names it."""
    grant: str
    """namespace/name of the SharingGrant."""
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    level: int | None
    cameras: frozenset[str]
    """namespace/name of each camera the token is for."""
    permissions: frozenset[Permission]
    emergency: bool
    profile: str | None = None
    """The transcode profile the grant is limited to (R17); None: the original stream and any profile."""
    key_id: str | None = field(default=None, compare=False)
    """`kid` of the key that signed the token, set by `verify`; not a claim."""

    def covers(self, camera: str, permission: Permission) -> bool:
        return camera in self.cameras and permission in self.permissions

    def to_payload(self) -> dict[str, Any]:
        return {
            "iss": ISSUER,
            "sub": self.department,
            "aud": AUDIENCE,
            "jti": self.grant_id,
            "iat": _numeric_date(self.issued_at, math.floor),
            # Rounded inwards: a token never opens earlier or closes later than its grant.
            "nbf": _numeric_date(self.not_before, math.ceil),
            "exp": _numeric_date(self.expires_at, math.floor),
            "level": self.level,
            "cameras": sorted(self.cameras),
            "permissions": [p.value for p in Permission if p in self.permissions],
            "grant": self.grant,
            "emergency": self.emergency,
            "profile": self.profile,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Claims:
        """Strict reading of a verified payload; raises InvalidClaims (naming the claim, never its value)."""
        level = _level_claim(payload)
        cameras = _cameras_claim(payload)
        permissions = _permissions_claim(payload)
        grant = _grant_claim(payload)
        emergency = payload.get("emergency")
        if not isinstance(emergency, bool):
            raise InvalidClaims("claim 'emergency' must be true or false")
        profile = payload.get("profile")
        if profile is not None and not isinstance(profile, str):
            raise InvalidClaims("claim 'profile' must be null or a profile name")
        return cls(
            department=_text_claim(payload, "sub"),
            grant_id=_text_claim(payload, "jti"),
            grant=grant,
            issued_at=_time_claim(payload, "iat"),
            not_before=_time_claim(payload, "nbf"),
            expires_at=_time_claim(payload, "exp"),
            level=level,
            cameras=frozenset(cameras),
            permissions=frozenset(Permission(p) for p in permissions),
            emergency=emergency,
            profile=profile,
        )


_PERMISSION_VALUES = frozenset(p.value for p in Permission)


def _level_claim(payload: Mapping[str, Any]) -> int | None:
    level = payload.get("level")
    if level is not None and (not _is_int(level) or not 1 <= level <= 4):
        raise InvalidClaims("claim 'level' must be null or a level from 1 to 4")
    return level


def _cameras_claim(payload: Mapping[str, Any]) -> list[str]:
    cameras = payload.get("cameras")
    if not isinstance(cameras, list) or not all(isinstance(c, str) and _OBJECT_REF.fullmatch(c) for c in cameras):
        raise InvalidClaims("claim 'cameras' must be a list of namespace/name")
    return cameras


def _permissions_claim(payload: Mapping[str, Any]) -> list[str]:
    permissions = payload.get("permissions")
    if not isinstance(permissions, list) or not all(
        isinstance(p, str) and p in _PERMISSION_VALUES for p in permissions
    ):
        raise InvalidClaims("claim 'permissions' must list LiveView, Playback, PTZControl or Export")
    return permissions


def _grant_claim(payload: Mapping[str, Any]) -> str:
    grant = payload.get("grant")
    if not isinstance(grant, str) or not _OBJECT_REF.fullmatch(grant):
        raise InvalidClaims("claim 'grant' must be namespace/name")
    return grant


def claims_for_grant(
    grant: GrantFacts, grant_uid: str, cameras: Iterable[CameraFacts], level: int | None, now: datetime
) -> Claims:
    """The claims of a grant's token: the cameras it covers and may use now (share class and security level
    applied, as in `effective_cameras`), its permissions, and its period up to the hard expiry."""
    require_aware(now)
    covered = sorted(
        camera.ref
        for camera in cameras
        if grant_covers(grant.spec, camera) and grant_rights(grant.spec, camera).permissions
    )
    return Claims(
        department=grant.namespace,
        grant_id=grant_uid,
        grant=grant.ref,
        issued_at=now,
        not_before=grant.spec.period.start,
        expires_at=hard_expiry(grant.spec),
        level=level,
        cameras=frozenset(covered),
        permissions=frozenset(grant.spec.permissions),
        emergency=grant.emergency,
        profile=grant.spec.transcode_profile,
    )


# -- keys -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    """RFC 7638 thumbprint of the public key: stable, derived, and safe as a Secret data key."""
    private_key: Ed25519PrivateKey = field(repr=False)
    created_at: datetime
    verify_until: datetime | None = None
    """For a previous key: when the last token it signed expires; None for the active key."""

    @classmethod
    def generate(cls, now: datetime) -> SigningKey:
        return cls.from_private_key(Ed25519PrivateKey.generate(), now)

    @classmethod
    def from_private_key(
        cls, private_key: Ed25519PrivateKey, created_at: datetime, verify_until: datetime | None = None
    ) -> SigningKey:
        return cls(_thumbprint(private_key.public_key()), private_key, created_at, verify_until)

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        # Derived once: it is needed on every verification, and deriving it costs as much as a tenth of one.
        return self.private_key.public_key()

    def verifies_at(self, now: datetime) -> bool:
        return self.verify_until is None or now < self.verify_until

    def public_jwk(self) -> dict[str, str]:
        return {**_okp_members(self.public_key), "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()


@dataclass(frozen=True)
class SigningKeys:
    """The active signing key and the previous ones that still verify tokens they signed."""

    active: SigningKey
    previous: tuple[SigningKey, ...] = ()

    @classmethod
    def generate(cls, now: datetime) -> SigningKeys:
        require_aware(now)
        return cls(SigningKey.generate(now))

    def rotate(self, now: datetime, keep_previous_until: datetime) -> SigningKeys:
        """A new active key; the current one verifies until `keep_previous_until`, which should be the latest
        expiry of the tokens it signed (or `now` plus a grace period when every token is re-issued at once)."""
        require_aware(now)
        require_aware(keep_previous_until)
        retired = replace(self.active, verify_until=keep_previous_until)
        return SigningKeys(SigningKey.generate(now), (retired, *self.previous)).pruned(now)

    def pruned(self, now: datetime) -> SigningKeys:
        """Without the previous keys whose tokens have all expired."""
        return SigningKeys(self.active, tuple(key for key in self.previous if key.verifies_at(now)))

    def verification_key(self, kid: str, now: datetime) -> SigningKey | None:
        for key in (self.active, *self.previous):
            if key.kid == kid and key.verifies_at(now):
                return key
        return None

    def to_secret_data(self) -> dict[str, str]:
        """The Secret's `data`: base64 of the manifest and of one PKCS#8 PEM per key (`<kid>.pem`)."""
        keys = (self.active, *self.previous)
        manifest = {
            "active": self.active.kid,
            "keys": [
                {
                    "kid": key.kid,
                    "created": key.created_at.isoformat(),
                    "verifyUntil": key.verify_until.isoformat() if key.verify_until is not None else None,
                }
                for key in keys
            ],
        }
        plain = {
            MANIFEST_KEY: json.dumps(manifest, sort_keys=True),
            **{f"{key.kid}.pem": key.private_pem() for key in keys},
        }
        return {name: base64.b64encode(text.encode()).decode() for name, text in plain.items()}

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str | bytes]) -> SigningKeys:
        """Read what `to_secret_data` wrote (values base64, as the API returns a Secret's `data`)."""
        try:
            manifest = json.loads(_unbase64(data, MANIFEST_KEY))
            entries = {entry["kid"]: entry for entry in manifest["keys"]}
            active_kid = manifest["active"]
            keys = {kid: _load_key(data, kid, entry) for kid, entry in entries.items()}
            active = keys.pop(active_kid)
        except (KeyError, TypeError, ValueError) as error:
            # The message names the problem only: a Secret's content must never reach a log.
            raise SigningKeysError(f"the signing keys Secret is unreadable: {type(error).__name__}") from None
        if active.verify_until is not None:
            raise SigningKeysError("the active signing key has an end of verification; it must have none")
        return cls(active, tuple(sorted(keys.values(), key=lambda k: k.created_at, reverse=True)))


def jwks(keys: SigningKeys, now: datetime | None = None) -> dict[str, list[dict[str, str]]]:
    """The public keys as a JWK Set (RFC 7517), for gateways that verify tokens themselves."""
    listed = (keys.active, *keys.previous)
    return {"keys": [key.public_jwk() for key in listed if now is None or key.verifies_at(now)]}


# -- issue and verify -------------------------------------------------------------------------------------------


def issue(claims: Claims, keys: SigningKeys) -> str:
    return sign_payload(claims.to_payload(), keys)


def sign_payload(payload: dict[str, Any], keys: SigningKeys) -> str:
    """A token of `payload` signed with the active key (grant tokens and tier credentials alike)."""
    headers = {"kid": keys.active.kid, "typ": "JWT"}
    return jwt.encode(payload, keys.active.private_key, algorithm=ALGORITHM, headers=headers)


def verify(token: str, keys: SigningKeys, now: datetime, leeway: timedelta = timedelta(0)) -> Claims:
    """The token's claims, or a TokenError saying why it is refused."""
    payload, kid = verified_payload(token, keys, now)
    claims = replace(Claims.from_payload(payload), key_id=kid)
    check_validity(claims, now, leeway)
    return claims


def verified_payload(token: str, keys: SigningKeys, now: datetime) -> tuple[dict[str, Any], str]:
    """The payload of a token signed by one of our keys, and that key's `kid`; the claims are not read yet (a
    grant token and a tier credential read their own, `access.tier_tokens`)."""
    require_aware(now)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise MalformedToken("not a compact JWS token")
    header = _header(token)
    alg = header.get("alg")
    if alg != ALGORITHM:
        # Chosen by us, never by the header: `none`, HMAC with the public key as secret, ES256, ... all end here.
        raise UnsupportedAlgorithm(f"only {ALGORITHM} tokens are accepted")
    if not set(header) <= _ALLOWED_HEADER_FIELDS or header.get("typ", "JWT") != "JWT":
        raise MalformedToken("unexpected token header fields")
    kid = header.get("kid")
    key = keys.verification_key(kid, now) if isinstance(kid, str) else None
    if key is None:
        raise UnknownKey("signed with a key this gateway does not know, or one retired for good")
    return _verified_payload(token, key.public_key), key.kid


def check_validity(claims: Claims | Any, now: datetime, leeway: timedelta = timedelta(0)) -> None:
    """Raise unless `now` is within the token's `nbf` and `exp` (also for claims verified earlier and kept)."""
    if now + leeway < claims.not_before:
        raise TokenNotYetValid(f"valid from {claims.not_before.isoformat()}")
    if now - leeway >= claims.expires_at:
        raise TokenExpired(f"expired at {claims.expires_at.isoformat()}")


def _header(token: str) -> dict[str, Any]:
    header = _json_segment(token.partition(".")[0])
    if header is None:
        raise MalformedToken("the token header is not valid JSON")
    return header


def _verified_payload(token: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The payload, once the signature over the first two segments is known to be good and the registered
    claims are there, for us and from us. Read here rather than by PyJWT's `decode`, which parses the header
    again and costs several times the Ed25519 check itself on the door's path; the checks are the ones it made
    with the options this module gave it (algorithm, header and times are judged by `verify`)."""
    signing_input, _, signature = token.rpartition(".")
    try:
        public_key.verify(_unb64url(signature), signing_input.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        raise BadSignature("the signature does not match") from None
    payload = _json_segment(signing_input.partition(".")[2])
    if payload is None:
        raise MalformedToken("the token cannot be decoded")
    for claim in REGISTERED_CLAIMS:
        if payload.get(claim) is None:
            raise InvalidClaims(f"the token lacks the claim '{claim}'")
    if payload["iss"] != ISSUER:
        raise WrongIssuer(f"the token was not issued by {ISSUER}")
    audiences = payload["aud"] if isinstance(payload["aud"], list) else [payload["aud"]]
    if AUDIENCE not in audiences or not all(isinstance(audience, str) for audience in audiences):
        raise WrongAudience(f"the token is not meant for {AUDIENCE}")
    return payload


def _json_segment(segment: str) -> dict[str, Any] | None:
    """A base64url segment holding a JSON object, or None."""
    try:
        value = json.loads(_unb64url(segment))
    except (binascii.Error, ValueError):  # bad padding, not UTF-8, not JSON
        return None
    return value if isinstance(value, dict) else None


def _unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- helpers ----------------------------------------------------------------------------------------------------


def _numeric_date(at: datetime, rounding: Any) -> int:
    require_aware(at)
    return int(rounding(at.timestamp()))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_claim(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidClaims(f"claim '{name}' must be a non-empty string")
    return value


def _time_claim(payload: Mapping[str, Any], name: str) -> datetime:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidClaims(f"claim '{name}' must be a whole number of seconds")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidClaims(f"claim '{name}' is out of range") from None


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _okp_members(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def _thumbprint(public_key: Ed25519PublicKey) -> str:
    # RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    canonical = json.dumps(_okp_members(public_key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _unbase64(data: Mapping[str, str | bytes], name: str) -> bytes:
    value = data[name]
    return base64.b64decode(value, validate=True)


def _load_key(data: Mapping[str, str | bytes], kid: str, entry: Mapping[str, Any]) -> SigningKey:
    private_key = serialization.load_pem_private_key(_unbase64(data, f"{kid}.pem"), password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("not an Ed25519 key")
    verify_until = entry.get("verifyUntil")
    key = SigningKey.from_private_key(
        private_key,
        _aware(datetime.fromisoformat(entry["created"])),
        _aware(datetime.fromisoformat(verify_until)) if verify_until is not None else None,
    )
    if key.kid != kid:
        raise ValueError("a key does not match its kid")
    return key


def _aware(at: datetime) -> datetime:
    require_aware(at)
    return at
