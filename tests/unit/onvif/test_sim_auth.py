"""The simulator checks credentials like a camera, independently of the client's implementation."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from onvif.client import UsernameDigestTokenDtDiff
from zeep.wsdl.utils import etree_to_string

from camfleet.sim.auth import (
    REALM,
    DigestAuthority,
    UsernameToken,
    check_username_token,
    digest_response,
    parse_digest_fields,
    password_digest,
)
from camfleet.sim.soap import parse_request

TOLERANCE = dt.timedelta(seconds=30)


def zeep_signed_request(password: str, offset: dt.timedelta = dt.timedelta(0), use_digest: bool = True) -> bytes:
    """A request signed by the same zeep/onvif code the client uses."""
    envelope = etree.fromstring(
        b'<soap-env:Envelope xmlns:soap-env="http://www.w3.org/2003/05/soap-envelope"><soap-env:Body>'
        b'<tds:GetNTP xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/></soap-env:Body></soap-env:Envelope>'
    )
    token = UsernameDigestTokenDtDiff("admin", password, dt_diff=offset, use_digest=use_digest)
    signed, _ = token.apply(envelope, {})
    return bytes(etree_to_string(signed))


def token_of(request: bytes) -> UsernameToken:
    token = parse_request(request).token
    assert token is not None
    return token


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_password_digest_follows_the_username_token_profile() -> None:
    # Base64(SHA-1(nonce + created + password)), reference value computed independently.
    assert password_digest(b"0123456789abcdef", "2025-03-01T12:00:00Z", "secret") == "9zdXHt6VfhFVkYwosdgMDmfmGvY="


def test_zeep_signed_token_is_accepted() -> None:
    token = token_of(zeep_signed_request("s3cret"))
    assert check_username_token(token, "admin", "s3cret", now(), TOLERANCE) is None


def test_wrong_password_is_rejected() -> None:
    token = token_of(zeep_signed_request("guess"))
    assert check_username_token(token, "admin", "s3cret", now(), TOLERANCE) == "wrong password digest"


def test_token_signed_with_local_time_fails_on_a_camera_one_hour_ahead() -> None:
    camera_now = now() + dt.timedelta(hours=1)
    naive = token_of(zeep_signed_request("s3cret"))
    assert check_username_token(naive, "admin", "s3cret", camera_now, TOLERANCE) is not None
    adjusted = token_of(zeep_signed_request("s3cret", offset=dt.timedelta(hours=1)))
    assert check_username_token(adjusted, "admin", "s3cret", camera_now, TOLERANCE) is None


def test_plain_text_passwords_are_refused() -> None:
    token = token_of(zeep_signed_request("s3cret", use_digest=False))
    assert check_username_token(token, "admin", "s3cret", now(), TOLERANCE) == "only PasswordDigest is accepted"


def test_http_digest_matches_rfc_2617_example() -> None:
    response = digest_response(
        "Mufasa",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "00000001",
        "0a4f113b",
        realm="testrealm@host.com",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def authorization(challenge: str, password: str, uri: str = "/cam/1/onvif/device_service") -> str:
    nonce = parse_digest_fields(challenge[7:])["nonce"]
    response = digest_response("admin", password, "POST", uri, nonce, "00000001", "c0ffee")
    return (
        f'Digest username="admin", realm="{REALM}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", qop=auth, nc=00000001, cnonce="c0ffee", algorithm=MD5'
    )


def test_digest_round_trip() -> None:
    authority = DigestAuthority(secret=b"k" * 32)
    header = authorization(authority.challenge(now=1000.0), "s3cret")
    path = "/cam/1/onvif/device_service"
    assert authority.verify(header, "POST", path, "admin", "s3cret", now=1001.0) is None
    assert authority.verify(header, "POST", path, "admin", "other", now=1001.0) == "wrong digest response"
    assert authority.verify(header, "POST", "/cam/2/onvif/device_service", "admin", "s3cret", now=1001.0) is not None


def test_a_digest_answered_within_the_millisecond_of_its_challenge_is_accepted() -> None:
    """The nonce's issue time is rounded to the millisecond: up to 0.5 ms after `now`. aiohttp answers a challenge
    at once, and on a fast machine within that half millisecond: the simulator called it stale (a flaky 401)."""
    authority = DigestAuthority(secret=b"k" * 32)
    header = authorization(authority.challenge(now=1000.0006), "s3cret")  # issued "1000.001"
    assert authority.verify(header, "POST", "/cam/1/onvif/device_service", "admin", "s3cret", now=1000.0007) is None
    assert authority.verify(header, "POST", "/cam/1/onvif/device_service", "admin", "s3cret", now=1000.0) == (
        "stale or forged nonce"
    )  # a nonce issued later than that was not issued by this clock


@pytest.mark.parametrize(
    ("issuer_secret", "verify_at"),
    [(b"k" * 32, 1000.0 + 301), (b"x" * 32, 1001.0)],
    ids=["expired", "forged"],
)
def test_stale_or_forged_nonces_are_rejected(issuer_secret: bytes, verify_at: float) -> None:
    header = authorization(DigestAuthority(secret=issuer_secret).challenge(now=1000.0), "s3cret")
    verifier = DigestAuthority(secret=b"k" * 32)
    assert verifier.verify(header, "POST", "/cam/1/onvif/device_service", "admin", "s3cret", now=verify_at) == (
        "stale or forged nonce"
    )
