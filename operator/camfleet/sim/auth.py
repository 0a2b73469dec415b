"""Authentication as a camera checks it (pure; no I/O).

Written independently of the client (which signs with zeep's UsernameToken and aiohttp's digest
middleware), so client-versus-simulator tests check two implementations against each other.

- WS-UsernameToken PasswordDigest (OASIS UsernameToken Profile 1.0):
  Base64(SHA-1(nonce_bytes + created_utf8 + password_utf8)), with `created` checked against the
  camera's own (possibly skewed) clock.
- HTTP digest (RFC 7616, MD5, qop=auth) with stateless nonces: the nonce carries its issue time and an
  HMAC of it, so ten thousand cameras need no per-camera nonce table.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

REALM = "camfleet-sim"
NONCE_LIFETIME_SECONDS = 300.0
# The issue time in a nonce is written to the millisecond, rounded: a client answering the challenge within half a
# millisecond (the digest retry on a fast machine) is "issued" up to 0.5 ms in its future, which is not stale.
NONCE_ISSUE_ROUNDING_SECONDS = 0.0005


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """The PasswordDigest value a client must send."""
    digest = hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class UsernameToken:
    username: str
    password: str
    password_type: str
    nonce_b64: str | None
    created: str | None


def parse_created(created: str) -> dt.datetime | None:
    """xs:dateTime as used in wsu:Created (Zulu or numeric offset, optional fraction)."""
    text = created.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def check_username_token(
    token: UsernameToken, username: str, password: str, camera_now: dt.datetime, tolerance: dt.timedelta
) -> str | None:
    """None when the token is valid; otherwise why it is not (for the camera's own log, never sent)."""
    if token.username != username:
        return "unknown user"
    if not token.password_type.endswith("#PasswordDigest"):
        # Plain-text passwords over HTTP are refused, as hardened cameras do.
        return "only PasswordDigest is accepted"
    if token.nonce_b64 is None or token.created is None:
        return "nonce or created missing"
    created = parse_created(token.created)
    if created is None:
        return "unparseable created"
    if abs(created - camera_now) > tolerance:
        return "created outside the camera's clock tolerance"
    try:
        nonce = base64.b64decode(token.nonce_b64, validate=True)
    except (binascii.Error, ValueError):
        return "nonce is not base64"
    expected = password_digest(nonce, token.created, password)
    if not hmac.compare_digest(expected, token.password):
        return "wrong password digest"
    return None


class DigestAuthority:
    """Issues and verifies HTTP digest challenges for all simulated cameras."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def challenge(self, now: float | None = None, stale: bool = False) -> str:
        issued = f"{(now if now is not None else time.time()):.3f}"
        nonce = base64.b64encode(f"{issued}:{self._sign(issued)}".encode()).decode()
        stale_part = ", stale=true" if stale else ""
        return f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}", opaque="{REALM}"{stale_part}'

    def verify(
        self,
        header: str,
        method: str,
        request_uri: str,
        username: str,
        password: str,
        now: float | None = None,
    ) -> str | None:
        """None when `header` (an Authorization value) is valid for this request; otherwise why not."""
        if not header.lower().startswith("digest "):
            return "not a digest authorization"
        fields = parse_digest_fields(header[7:])
        if fields.get("uri") != request_uri:
            return "digest was computed for another URI"
        nonce = fields.get("nonce", "")
        if not self._nonce_fresh(nonce, now if now is not None else time.time()):
            return "stale or forged nonce"
        if fields.get("username") != username or fields.get("realm") != REALM:
            return "unknown user or realm"
        if fields.get("qop") != "auth" or not fields.get("cnonce") or not fields.get("nc"):
            return "qop=auth with cnonce and nc required"
        expected = digest_response(
            username, password, method, fields.get("uri", ""), nonce, fields["nc"], fields["cnonce"]
        )
        if not hmac.compare_digest(expected, fields.get("response", "")):
            return "wrong digest response"
        return None

    def _sign(self, issued: str) -> str:
        return hmac.new(self._secret, issued.encode(), hashlib.sha256).hexdigest()[:32]

    def _nonce_fresh(self, nonce: str, now: float) -> bool:
        try:
            issued, signature = base64.b64decode(nonce, validate=True).decode().split(":", 1)
            age = now - float(issued)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return False
        fresh = -NONCE_ISSUE_ROUNDING_SECONDS <= age <= NONCE_LIFETIME_SECONDS
        return hmac.compare_digest(signature, self._sign(issued)) and fresh


def digest_response(
    username: str, password: str, method: str, uri: str, nonce: str, nc: str, cnonce: str, realm: str = REALM
) -> str:
    """RFC 7616 `response` for MD5 and qop=auth."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")


_FIELD = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_digest_fields(text: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _FIELD.finditer(text)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()
