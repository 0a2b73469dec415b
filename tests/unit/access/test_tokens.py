"""Grant tokens (R18): what they state, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from camfleet.access.tokens import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    MAX_TOKEN_CHARS,
    BadSignature,
    Claims,
    InvalidClaims,
    MalformedToken,
    SigningKey,
    SigningKeys,
    SigningKeysError,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
    claims_for_grant,
    issue,
    jwks,
    verify,
)
from camfleet.api.camera import ShareClass
from camfleet.api.sharing_grant import Permission
from tests.unit.access.builders import NOW, OWNER, camera, grant

KEYS = SigningKeys.generate(NOW - timedelta(days=1))
CLAIMS = Claims(
    department="transport",
    grant_id="6f1c2a4e-0000-4000-8000-000000000001",
    grant="transport/crossing-study",
    issued_at=NOW,
    not_before=NOW - timedelta(hours=1),
    expires_at=NOW + timedelta(hours=2),
    level=3,
    cameras=frozenset({f"{OWNER}/cam-1", f"{OWNER}/cam-2"}),
    permissions=frozenset({Permission.LIVE_VIEW, Permission.PLAYBACK}),
    emergency=False,
)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj).encode())


def payload(**changes: Any) -> dict[str, Any]:
    return {**CLAIMS.to_payload(), **changes}


def signed(body: dict[str, Any], keys: SigningKeys = KEYS, **header: Any) -> str:
    """A token signed with our real key, with any payload and header: for claims and header checks."""
    return jwt.encode(body, keys.active.private_key, algorithm=ALGORITHM, headers={"kid": keys.active.kid, **header})


def refused(token: str, error: type[TokenError], keys: SigningKeys = KEYS, now: datetime = NOW) -> TokenError:
    with pytest.raises(error) as caught:
        verify(token, keys, now)
    message = str(caught.value)
    # The token, or any part of it, never appears in an error (errors reach logs and HTTP answers).
    for part in token.split("."):
        assert len(part) < 8 or part not in message
    # Nor in a chained library exception a traceback would print.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    return caught.value


# -- what a token states ----------------------------------------------------------------------------------------


def test_a_token_round_trips_its_claims() -> None:
    token = issue(CLAIMS, KEYS)
    claims = verify(token, KEYS, NOW)

    assert claims == CLAIMS
    assert claims.key_id == KEYS.active.kid
    assert claims.covers(f"{OWNER}/cam-1", Permission.LIVE_VIEW)
    assert not claims.covers(f"{OWNER}/cam-1", Permission.PTZ_CONTROL)
    assert not claims.covers(f"{OWNER}/cam-3", Permission.LIVE_VIEW)


def test_the_payload_carries_the_registered_and_camfleet_claims() -> None:
    body = jwt.decode(issue(CLAIMS, KEYS), options={"verify_signature": False})
    header = jwt.get_unverified_header(issue(CLAIMS, KEYS))

    assert header == {"alg": "EdDSA", "kid": KEYS.active.kid, "typ": "JWT"}
    assert body == {
        "iss": "camfleet",
        "sub": "transport",
        "aud": "camfleet-gateway",
        "jti": CLAIMS.grant_id,
        "iat": int(NOW.timestamp()),
        "nbf": int((NOW - timedelta(hours=1)).timestamp()),
        "exp": int((NOW + timedelta(hours=2)).timestamp()),
        "level": 3,
        "cameras": [f"{OWNER}/cam-1", f"{OWNER}/cam-2"],
        "permissions": ["LiveView", "Playback"],
        "grant": "transport/crossing-study",
        "emergency": False,
        "profile": None,
    }


def test_times_are_rounded_inwards_so_a_token_never_outlives_its_grant() -> None:
    odd = replace(CLAIMS, not_before=NOW + timedelta(seconds=0.4), expires_at=NOW + timedelta(seconds=9.7))
    body = odd.to_payload()

    assert body["nbf"] == int(NOW.timestamp()) + 1
    assert body["exp"] == int(NOW.timestamp()) + 9


def test_claims_for_a_grant_list_only_the_cameras_it_may_use() -> None:
    given = grant(name="crossing-study", cameras={"namespace": OWNER, "selector": {}}, permissions=("LiveView",))
    cameras = [
        camera("cam-1"),
        camera("cam-restricted", restricted=True),
        camera("cam-secret", share_class=ShareClass.NOT_SHARED),
        camera("elsewhere", namespace="water-authority"),
    ]

    claims = claims_for_grant(given, "uid-1", cameras, level=4, now=NOW)

    assert claims.cameras == {f"{OWNER}/cam-1"}
    assert (claims.department, claims.grant, claims.grant_id) == ("transport", "transport/crossing-study", "uid-1")
    assert (claims.level, claims.emergency) == (4, False)
    assert claims.permissions == {Permission.LIVE_VIEW}
    assert (claims.not_before, claims.expires_at) == (given.spec.period.start, given.spec.period.end)


def test_an_emergency_token_reaches_not_shared_cameras_and_ends_at_the_hard_expiry() -> None:
    start = NOW - timedelta(hours=1)
    given = grant(
        name="flood",
        emergency=True,
        share_class="NotShared",
        permissions=("LiveView",),
        start=start,
        end=start + timedelta(hours=72),
    )
    claims = claims_for_grant(given, "uid-2", [camera("cam-secret", share_class=ShareClass.NOT_SHARED)], None, NOW)

    assert claims.cameras == {f"{OWNER}/cam-secret"}
    assert (claims.emergency, claims.level) == (True, None)
    assert claims.expires_at == start + timedelta(hours=72)


# -- refusals ---------------------------------------------------------------------------------------------------


def test_a_wrong_signature_is_refused() -> None:
    header, body, _ = issue(CLAIMS, KEYS).split(".")
    stranger = Ed25519PrivateKey.generate()
    forged = f"{header}.{body}.{b64url(stranger.sign(f'{header}.{body}'.encode()))}"

    refused(forged, BadSignature)


def test_a_changed_payload_is_refused() -> None:
    header, _, signature = issue(CLAIMS, KEYS).split(".")
    widened = segment(payload(permissions=["LiveView", "Playback", "PTZControl", "Export"]))

    refused(f"{header}.{widened}.{signature}", BadSignature)


def test_alg_none_is_refused() -> None:
    unsigned = f"{segment({'alg': 'none', 'kid': KEYS.active.kid, 'typ': 'JWT'})}.{segment(payload())}."

    error = refused(unsigned, UnsupportedAlgorithm)
    assert "EdDSA" in str(error)


@pytest.mark.parametrize("alg", ["None", "NONE", "nOnE"])
def test_alg_none_in_any_case_is_refused(alg: str) -> None:
    refused(f"{segment({'alg': alg, 'kid': KEYS.active.kid})}.{segment(payload())}.", UnsupportedAlgorithm)


def test_hmac_with_the_public_key_as_secret_is_refused() -> None:
    # The classic key-confusion attack: HS256 "signed" with the published public key.
    public = KEYS.active.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'kid': KEYS.active.kid})}.{segment(payload())}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()

    refused(f"{signing_input}.{b64url(mac)}", UnsupportedAlgorithm)


def test_another_asymmetric_algorithm_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(payload(), p256, algorithm="ES256", headers={"kid": KEYS.active.kid})

    refused(token, UnsupportedAlgorithm)


def test_an_expired_token_is_refused_from_the_second_of_its_expiry() -> None:
    token = issue(CLAIMS, KEYS)

    assert verify(token, KEYS, CLAIMS.expires_at - timedelta(seconds=1)) == CLAIMS
    error = refused(token, TokenExpired, now=CLAIMS.expires_at)
    assert error.code == "expired"


def test_a_token_is_refused_before_its_start() -> None:
    token = issue(CLAIMS, KEYS)

    refused(token, TokenNotYetValid, now=CLAIMS.not_before - timedelta(seconds=1))
    assert verify(token, KEYS, CLAIMS.not_before) == CLAIMS


def test_leeway_widens_both_ends() -> None:
    token = issue(CLAIMS, KEYS)

    assert verify(token, KEYS, CLAIMS.expires_at + timedelta(seconds=5), leeway=timedelta(seconds=10)) == CLAIMS
    assert verify(token, KEYS, CLAIMS.not_before - timedelta(seconds=5), leeway=timedelta(seconds=10)) == CLAIMS


def test_a_wrong_audience_is_refused() -> None:
    refused(signed(payload(aud="someone-else")), WrongAudience)
    refused(signed(payload(aud=["someone-else"])), WrongAudience)
    refused(signed(payload(aud=[AUDIENCE, 7])), WrongAudience)


def test_an_audience_list_naming_the_gateway_is_accepted() -> None:
    assert verify(signed(payload(aud=["other-service", AUDIENCE])), KEYS, NOW).grant_id == CLAIMS.grant_id


@pytest.mark.parametrize(
    "signature", ["", "c2ln", "A", "A" * 85, "A" * 87], ids=["empty", "short", "bad-length", "85", "87"]
)
def test_a_truncated_or_padded_signature_is_refused(signature: str) -> None:
    header, body, _ = issue(CLAIMS, KEYS).split(".")

    refused(f"{header}.{body}.{signature}", BadSignature)


def test_a_wrong_issuer_is_refused() -> None:
    refused(signed(payload(iss="not-camfleet")), WrongIssuer)


def test_an_unknown_kid_is_refused() -> None:
    other = SigningKeys.generate(NOW)

    refused(issue(CLAIMS, other), UnknownKey)


def test_a_token_without_kid_is_refused() -> None:
    token = jwt.encode(payload(), KEYS.active.private_key, algorithm=ALGORITHM)

    refused(token, UnknownKey)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a token",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        f"{b64url(b'not json')}.{segment(payload())}.c2ln",
        f"{b64url(b'[1, 2]')}.{segment(payload())}.c2ln",
        "x" * (MAX_TOKEN_CHARS + 1),
    ],
    ids=["empty", "words", "two-parts", "four-parts", "bad-alphabet", "header-not-json", "header-not-object", "huge"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    refused(token, MalformedToken)


def test_a_payload_that_is_not_json_is_refused() -> None:
    header = segment({"alg": ALGORITHM, "kid": KEYS.active.kid})
    body = b64url(b"garbage")
    signature = b64url(KEYS.active.private_key.sign(f"{header}.{body}".encode()))

    refused(f"{header}.{body}.{signature}", MalformedToken)


def test_unexpected_header_fields_are_refused() -> None:
    refused(signed(payload(), crit=["exp"]), MalformedToken)
    refused(signed(payload(), typ="at+jwt"), MalformedToken)


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "jti", "iat", "nbf", "exp"])
def test_a_missing_registered_claim_is_refused(claim: str) -> None:
    body = payload()
    del body[claim]

    refused(signed(body), InvalidClaims)


@pytest.mark.parametrize(
    "changes",
    [
        {"level": 5},
        {"level": "1"},
        {"level": True},
        {"cameras": "public-security/cam-1"},
        {"cameras": ["no-slash"]},
        {"permissions": ["LiveView", "Everything"]},
        {"permissions": [["LiveView"]]},
        {"grant": None},
        {"emergency": "yes"},
        {"profile": 3},
        {"sub": ""},
        {"exp": 1.5},
        {"nbf": "soon"},
        {"exp": 10**20},
    ],
    ids=str,
)
def test_claims_of_the_wrong_shape_are_refused(changes: dict[str, Any]) -> None:
    refused(signed(payload(**changes)), InvalidClaims)


# -- keys -------------------------------------------------------------------------------------------------------


def test_rotation_keeps_the_previous_key_until_its_tokens_have_expired() -> None:
    old_token = issue(CLAIMS, KEYS)
    rotated = KEYS.rotate(NOW, keep_previous_until=CLAIMS.expires_at)
    new_token = issue(CLAIMS, rotated)

    assert rotated.active.kid != KEYS.active.kid
    assert jwt.get_unverified_header(new_token)["kid"] == rotated.active.kid
    assert verify(old_token, rotated, NOW) == CLAIMS
    assert verify(new_token, rotated, NOW) == CLAIMS
    # Once the previous key's last token has expired, the key itself goes.
    later = CLAIMS.expires_at + timedelta(seconds=1)
    assert rotated.pruned(later).previous == ()
    refused(old_token, UnknownKey, keys=rotated, now=CLAIMS.expires_at)


def test_a_retired_key_no_longer_verifies_after_its_end_even_if_not_pruned() -> None:
    rotated = KEYS.rotate(NOW, keep_previous_until=NOW + timedelta(minutes=5))
    token = issue(CLAIMS, KEYS)

    assert verify(token, rotated, NOW + timedelta(minutes=4)) == CLAIMS
    refused(token, UnknownKey, keys=rotated, now=NOW + timedelta(minutes=5))


def test_keys_round_trip_through_a_secret() -> None:
    rotated = KEYS.rotate(NOW, keep_previous_until=NOW + timedelta(days=30))
    data = rotated.to_secret_data()

    assert set(data) == {"keys.json", f"{rotated.active.kid}.pem", f"{KEYS.active.kid}.pem"}
    assert base64.b64decode(data[f"{rotated.active.kid}.pem"]).startswith(b"-----BEGIN PRIVATE KEY-----")
    restored = SigningKeys.from_secret_data(data)
    assert restored.active.kid == rotated.active.kid
    assert [k.kid for k in restored.previous] == [KEYS.active.kid]
    assert restored.previous[0].verify_until == NOW + timedelta(days=30)
    assert verify(issue(CLAIMS, restored), rotated, NOW) == CLAIMS
    assert verify(issue(CLAIMS, KEYS), restored, NOW) == CLAIMS


def test_secret_data_as_bytes_is_read_too() -> None:
    data = {name: value.encode() for name, value in KEYS.to_secret_data().items()}

    assert SigningKeys.from_secret_data(data).active.kid == KEYS.active.kid


@pytest.mark.parametrize("damage", ["no-manifest", "no-pem", "not-base64", "swapped-pem", "not-ed25519"])
def test_a_damaged_secret_is_refused_without_showing_its_content(damage: str) -> None:
    data = KEYS.to_secret_data()
    pem_key = f"{KEYS.active.kid}.pem"
    if damage == "no-manifest":
        del data["keys.json"]
    elif damage == "no-pem":
        del data[pem_key]
    elif damage == "not-base64":
        data[pem_key] = "%%%"
    elif damage == "swapped-pem":
        data[pem_key] = _pem_of(SigningKey.generate(NOW))
    else:
        p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        data[pem_key] = base64.b64encode(p256).decode()

    with pytest.raises(SigningKeysError) as caught:
        SigningKeys.from_secret_data(data)
    assert "PRIVATE KEY" not in str(caught.value)
    assert caught.value.__cause__ is None


def _pem_of(key: SigningKey) -> str:
    return base64.b64encode(key.private_pem().encode()).decode()


def test_jwks_publishes_public_keys_only_with_their_kid() -> None:
    rotated = KEYS.rotate(NOW, keep_previous_until=NOW + timedelta(hours=1))
    published = jwks(rotated)

    assert [k["kid"] for k in published["keys"]] == [rotated.active.kid, KEYS.active.kid]
    for jwk in published["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert [k["kid"] for k in jwks(rotated, NOW + timedelta(hours=2))["keys"]] == [rotated.active.kid]


def test_a_jwks_key_verifies_tokens_for_other_libraries() -> None:
    jwk = jwks(KEYS)["keys"][0]
    public = jwt.PyJWK(jwk)

    body = jwt.decode(
        issue(CLAIMS, KEYS),
        public,
        algorithms=["EdDSA"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert body["jti"] == CLAIMS.grant_id


def test_the_kid_is_the_rfc7638_thumbprint() -> None:
    x = jwks(KEYS)["keys"][0]["x"]
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))

    assert KEYS.active.kid == b64url(hashlib.sha256(canonical.encode()).digest())


def test_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="time zone"):
        verify(issue(CLAIMS, KEYS), KEYS, datetime(2030, 1, 1))


def test_a_private_key_is_not_in_repr() -> None:
    assert "private_key" not in repr(KEYS.active)
