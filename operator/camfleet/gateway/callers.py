"""Who may ask the decision endpoint: per-gateway credentials (R18), judged without I/O.

Each media gateway (MediaMTX, an nginx `auth_request`, a VMS) gets a credential of its own: a name, a random
token, and the departments it may speak for in department mode. They are kept in one Secret of the operator's
namespace (`kube.gateway_credentials`), one pair of keys per gateway:

    <gateway>.token         the random token (at least 32 characters)
    <gateway>.departments   optional: namespaces this gateway may name as `department` without a grant token,
                            comma or newline separated; absent or empty: token mode only

A caller proves itself with an HTTP `Authorization` header:

    Authorization: Basic base64(<gateway>:<token>)   what MediaMTX sends when `authHTTPAddress` carries
                                                     `https://<gateway>:<token>@host/...` (Go's HTTP client)
    Authorization: Bearer <token>

Only a SHA-256 digest of each token is held in memory, and digests are compared with `hmac.compare_digest`
against every credential (no early exit), so neither the comparison nor the number of gateways tells a
guesser how close it came.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MIN_TOKEN_CHARS = 32
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
TOKEN_SUFFIX = ".token"
DEPARTMENTS_SUFFIX = ".departments"
_NO_MATCH = hashlib.sha256(b"camfleet: no such gateway").digest()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class GatewayCredential:
    name: str
    token: str = field(repr=False)
    departments: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(f"gateway name {self.name!r} must be a DNS label (lower case, digits, '-')")
        if len(self.token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the token of gateway {self.name} is shorter than {MIN_TOKEN_CHARS} characters")


@dataclass(frozen=True)
class Caller:
    """An authenticated gateway."""

    name: str
    departments: frozenset[str] = frozenset()

    def speaks_for(self, department: str) -> bool:
        return department in self.departments


@dataclass(frozen=True)
class _Entry:
    caller: Caller
    digest: bytes


class GatewayCallers:
    """The gateways known now; `replace` swaps the whole set at once (a rotation or a removal takes effect on the
    next request)."""

    def __init__(self, credentials: Iterable[GatewayCredential] = ()) -> None:
        self._entries: dict[str, _Entry] = {}
        self.replace(credentials)

    def replace(self, credentials: Iterable[GatewayCredential]) -> None:
        self._entries = {
            credential.name: _Entry(Caller(credential.name, credential.departments), _digest(credential.token))
            for credential in credentials
        }

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, authorization: str | None) -> Caller | None:
        """The gateway proven by this `Authorization` header value, or None."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer" and value:
            return self._by_token(value)
        if scheme == "basic" and value:
            name, token = _basic(value)
            return self._by_name(name, token) if name is not None and token else None
        return None

    def _by_token(self, token: str) -> Caller | None:
        presented, found = _digest(token), None
        for entry in self._entries.values():  # every entry, whatever matched first
            if hmac.compare_digest(presented, entry.digest):
                found = entry.caller
        return found

    def _by_name(self, name: str, token: str) -> Caller | None:
        entry = self._entries.get(name)
        expected = entry.digest if entry is not None else _NO_MATCH
        matches = hmac.compare_digest(_digest(token), expected)
        return entry.caller if entry is not None and matches else None


def _basic(value: str) -> tuple[str | None, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    name, colon, token = decoded.partition(":")
    return (name, token) if colon else (None, "")


def parse_departments(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in re.split(r"[,\s]+", text) if part.strip())


def credentials_from_secret_data(data: Mapping[str, str]) -> tuple[list[GatewayCredential], list[str]]:
    """Credentials from a Secret's `data` (base64 values); also the problems met (entries skipped, never the
    values)."""
    decoded = {key: base64.b64decode(value).decode(errors="replace") for key, value in data.items()}
    credentials, problems = [], []
    for key in sorted(decoded):
        if not key.endswith(TOKEN_SUFFIX):
            continue
        name = key.removesuffix(TOKEN_SUFFIX)
        departments = parse_departments(decoded.get(name + DEPARTMENTS_SUFFIX, ""))
        try:
            credentials.append(GatewayCredential(name, decoded[key].strip(), departments))
        except ValueError as error:
            problems.append(str(error))
    return credentials, problems


def secret_data(credential: GatewayCredential) -> dict[str, str]:
    """The Secret `data` entries (base64) of one credential."""
    return {
        credential.name + TOKEN_SUFFIX: base64.b64encode(credential.token.encode()).decode(),
        credential.name + DEPARTMENTS_SUFFIX: base64.b64encode(
            ",".join(sorted(credential.departments)).encode()
        ).decode(),
    }
