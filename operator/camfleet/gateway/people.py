"""Who steers a camera: the person behind a PTZ request, verified the way an aggregated API server verifies its
callers (k8s.io/apiserver "delegated authentication"), never taken from what the request says about itself.

- A client certificate, the one the person's kubeconfig uses, presented on the operator's HTTPS listener and
  verified by the TLS layer against the cluster's client CA (ConfigMap `kube-system/extension-apiserver-
  authentication`, key `client-ca-file`, read at start-up): user = CN, groups = O.
- Or a Kubernetes bearer token in the `X-Camfleet-Person-Token` header (not `Authorization`, which carries a
  gateway's credential), verified by a TokenReview; answers are cached for `TOKEN_REVIEW_TTL_SECONDS`, keyed by
  the token's SHA-256, never the token.

A direct caller (a grant token or tier credential in the body) must be such a verified person and belong to the
department the credential speaks for (group `camfleet.io/department:<namespace>`, `access.departments_of`). A
gateway (a video wall console) authenticates its own users: the person it states is recorded as its word.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from camfleet.access.approvals import DEFAULT_DEPARTMENT_GROUP_PREFIX, departments_of

PERSON_TOKEN_HEADER = "X-Camfleet-Person-Token"
AUTHENTICATION_CONFIGMAP_NAMESPACE = "kube-system"
AUTHENTICATION_CONFIGMAP = "extension-apiserver-authentication"
CLIENT_CA_KEY = "client-ca-file"
TOKEN_REVIEW_TTL_SECONDS = 10.0
"""As k8s.io/apiserver's delegated authentication caches TokenReview answers (10 s)."""
TOKEN_REVIEW_CACHE_ENTRIES = 4096
CLIENT_CERTIFICATE, BEARER_TOKEN = "client certificate", "bearer token"
NO_IDENTITY = (
    "prove who you are: present the client certificate of your kubeconfig (signed by the cluster's client CA) or"
    f" send your Kubernetes bearer token in the {PERSON_TOKEN_HEADER} header; a grant token or tier credential"
    " says which department acts, not which person"
)


@dataclass(frozen=True)
class Person:
    """A verified user of the cluster."""

    user: str
    groups: tuple[str, ...]
    proof: str
    """How they proved it: CLIENT_CERTIFICATE or BEARER_TOKEN (for the audit trail)."""

    def departments(self, group_prefix: str = DEFAULT_DEPARTMENT_GROUP_PREFIX) -> frozenset[str]:
        return departments_of(self.user, self.groups, group_prefix)


@dataclass(frozen=True)
class PersonDecision:
    """Whether a verified person may act for a department: `status` 200, 401 or 403; `person` the name the audit
    records (the verified user, or "unverified"); `reason` why not, in words."""

    status: int
    person: str
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


def person_from_certificate(peercert: Mapping[str, Any] | None) -> Person | None:
    """The person of a client certificate as `ssl.SSLObject.getpeercert()` gives it: only a certificate the TLS
    layer verified against the cluster's client CA is ever given (an unverified one fails the handshake), so its
    subject is trusted: CN the user, each O a group."""
    if not peercert:
        return None
    user, groups = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    if not user:
        return None
    return Person(user, (*groups, "system:authenticated"), CLIENT_CERTIFICATE)


def direct_person(person: Person | None, department: str, stated: str = "") -> PersonDecision:
    """May the verified `person` act with a credential speaking for `department`? A `stated` person (the body's
    `person` field) that differs from the verified user is refused: the audit names whoever proved it, and a
    mismatch means the caller believes it is someone else."""
    if person is None:
        return PersonDecision(401, "unverified", f"no verified identity: {NO_IDENTITY}")
    if department not in person.departments():
        return PersonDecision(
            403,
            person.user,
            f"{person.user} (by {person.proof}) is not in department {department}"
            f" (group {DEFAULT_DEPARTMENT_GROUP_PREFIX}{department}), whose credential was used",
        )
    if stated and stated != person.user:
        return PersonDecision(
            403, person.user, f"the request names person {stated!r}, but {person.proof} proves {person.user}"
        )
    return PersonDecision(200, person.user)


def stated_by_gateway(stated: str, gateway: str) -> str:
    """The person as a gateway (a console that authenticates its own users) states them: its word, said so."""
    return f"{stated} (stated by gateway {gateway})"


class TokenReviewFailed(Exception):
    """The API server could not review a token (not: the token is invalid). The message never holds the token."""


Review = Callable[[str], Awaitable[Person | None]]


class TokenReviews:
    """TokenReview answers, cached briefly under the token's SHA-256 (the token itself is never kept): a person
    steering sends a command every few hundred milliseconds, and each must not cost an API request."""

    def __init__(
        self,
        review: Review,
        clock: Callable[[], float] = time.monotonic,
        ttl_seconds: float = TOKEN_REVIEW_TTL_SECONDS,
        max_entries: int = TOKEN_REVIEW_CACHE_ENTRIES,
    ) -> None:
        self._review, self._clock, self._ttl, self._max = review, clock, ttl_seconds, max_entries
        self._answers: dict[str, tuple[float, Person | None]] = {}

    async def person(self, token: str) -> Person | None:
        """The token's person, None when the API server says it is not valid; TokenReviewFailed (not cached) when
        it could not say."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        cached = self._answers.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        person = await self._review(token)
        if len(self._answers) >= self._max:
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
            if len(self._answers) >= self._max:
                self._answers.clear()
        self._answers[key] = (now + self._ttl, person)
        return person


def request_client_certificates(context: ssl.SSLContext, client_ca_pem: str) -> None:
    """Ask TLS clients for a certificate without requiring one (MediaMTX's hook and the door send none), and
    trust for client certificates only the cluster's client CA: a certificate from any other issuer (or a
    self-signed one) fails the handshake."""
    context.load_verify_locations(cadata=client_ca_pem)
    context.verify_mode = ssl.CERT_OPTIONAL
