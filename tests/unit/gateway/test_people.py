"""Issue 19, Deliver 5: the person steering is the verified user, never what the request says.

The decision (who may act for which department) is pure; the TLS part is checked with real handshakes in memory
(`ssl.MemoryBIO`): the operator's listener asks for a client certificate, takes one from the cluster's client CA,
refuses a forged one (self-signed, same CN) and one from any other issuer, and still serves clients that send none
(MediaMTX's hook, the door)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from camfleet.gateway.http_api import server_tls_context
from camfleet.gateway.people import (
    BEARER_TOKEN,
    CLIENT_CERTIFICATE,
    Person,
    TokenReviewFailed,
    TokenReviews,
    direct_person,
    person_from_certificate,
    stated_by_gateway,
)
from camfleet.kube.webhook_tls import make_webhook_certificate

GROUP = "camfleet.io/department:"
CONSOLE_ACCOUNT = "system:serviceaccount:water:console"
"""A service account counts as a person of its namespace's department (`access.departments_of`)."""
ALICE = Person("alice", ("camfleet.io/department:water", "system:authenticated"), CLIENT_CERTIFICATE)


def test_a_verified_certificate_names_the_person_cn_and_groups_o() -> None:
    peercert = {
        "subject": (
            (("organizationName", "camfleet.io/department:water"),),
            (("organizationName", "night-shift"),),
            (("commonName", "alice"),),
        )
    }
    person = person_from_certificate(peercert)
    assert person == Person(
        "alice", ("camfleet.io/department:water", "night-shift", "system:authenticated"), CLIENT_CERTIFICATE
    )
    assert person.departments() == {"water"}
    assert person_from_certificate(None) is None, "no certificate (or an unverified one): nobody"
    assert person_from_certificate({}) is None
    assert person_from_certificate({"subject": ((("organizationName", "x"),),)}) is None, "no CN: no user"


@pytest.mark.parametrize(
    ("person", "department", "stated", "status", "audited_as", "reason"),
    [
        (None, "water", "", 401, "unverified", "X-Camfleet-Person-Token"),
        (ALICE, "water", "", 200, "alice", ""),
        (ALICE, "water", "alice", 200, "alice", ""),
        (ALICE, "parks", "", 403, "alice", "alice (by client certificate) is not in department parks"),
        (ALICE, "water", "Wang Lei", 403, "alice", "the request names person 'Wang Lei', but client certificate"),
        (Person(CONSOLE_ACCOUNT, (), BEARER_TOKEN), "water", "", 200, CONSOLE_ACCOUNT, ""),
        (Person("bob", (f"{GROUP}water-east",), BEARER_TOKEN), "water", "", 403, "bob", "not in department water"),
    ],
)  # fmt: skip
def test_who_may_act_with_a_departments_credential(
    person: Person | None, department: str, stated: str, status: int, audited_as: str, reason: str
) -> None:
    decision = direct_person(person, department, stated)
    assert (decision.status, decision.person) == (status, audited_as)
    assert decision.allowed == (status == 200)
    assert reason in decision.reason


def test_a_gateway_states_the_person_in_its_own_words() -> None:
    assert stated_by_gateway("Wang Lei", "wall-console") == "Wang Lei (stated by gateway wall-console)"


async def test_token_reviews_are_cached_briefly_under_the_tokens_hash_only() -> None:
    asked: list[str] = []
    now = [100.0]

    async def review(token: str) -> Person | None:
        asked.append(token)
        return ALICE if token == "good-token" else None

    reviews = TokenReviews(review, clock=lambda: now[0], ttl_seconds=10)
    assert await reviews.person("good-token") == ALICE
    assert await reviews.person("good-token") == ALICE
    assert await reviews.person("bad-token") is None
    assert await reviews.person("bad-token") is None
    assert asked == ["good-token", "bad-token"], "one review per token within the TTL"
    assert "good-token" not in repr(vars(reviews)), "the cache never holds a token"
    now[0] += 11
    assert await reviews.person("good-token") == ALICE
    assert asked == ["good-token", "bad-token", "good-token"], "reviewed again after the TTL"


async def test_a_failed_review_is_not_cached() -> None:
    calls = 0

    async def review(token: str) -> Person | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TokenReviewFailed("TokenReview failed: 503 unavailable")
        return ALICE

    reviews = TokenReviews(review)
    with pytest.raises(TokenReviewFailed):
        await reviews.person("t")
    assert await reviews.person("t") == ALICE


# --- the listener's TLS, with real handshakes in memory ---------------------------------------------------------


def _key_and_name(common_name: str, *organizations: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return ec.generate_private_key(ec.SECP256R1()), x509.Name(
        [*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _certificate(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _client_files(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_text(_pem(cert))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> Person | None:
    """A TLS handshake in memory; the person the server sees. ssl.SSLError when either side refuses."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_side = server.wrap_bio(to_server, to_client, server_side=True)
    client_side = client.wrap_bio(to_client, to_server, server_hostname="127.0.0.1")
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client_side), ("server", server_side)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        if all(done.values()):
            break
    # TLS 1.3: the server judges the client's certificate after the client has finished; its alert arrives on
    # the client's first read, as an HTTP client would see it.
    server_side.write(b"ok")
    assert client_side.read(2) == b"ok"
    return person_from_certificate(server_side.getpeercert())


@pytest.fixture
def listener(tmp_path: Path) -> tuple[ssl.SSLContext, x509.Name, ec.EllipticCurvePrivateKey, Path]:
    """The operator's listener (its serving certificate for 127.0.0.1), asking for certificates of the cluster CA."""
    ca_key, ca_name = _key_and_name("cluster-ca")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    served = make_webhook_certificate(tmp_path / "serving", ["127.0.0.1"])
    server = server_tls_context(served.certfile, served.pkeyfile, _pem(ca))
    serving_ca = tmp_path / "serving-ca.crt"
    serving_ca.write_bytes(served.ca_pem)
    return server, ca_name, ca_key, serving_ca


def _client(serving_ca: Path, files: tuple[Path, Path] | None) -> ssl.SSLContext:
    client = ssl.create_default_context(cafile=str(serving_ca))
    if files:
        client.load_cert_chain(*files)
    return client


def test_the_listener_takes_a_cluster_certificate_refuses_a_forged_one_and_serves_clients_without(
    listener: tuple[ssl.SSLContext, x509.Name, ec.EllipticCurvePrivateKey, Path], tmp_path: Path
) -> None:
    server, ca_name, ca_key, serving_ca = listener
    assert server.verify_mode == ssl.CERT_OPTIONAL
    assert [c["subject"] for c in server.get_ca_certs()] == [((("commonName", "cluster-ca"),),)], (
        "only the cluster's client CA is trusted for client certificates: no system CA"
    )

    key, name = _key_and_name("alice", "camfleet.io/department:water")
    alice = _client_files(tmp_path, "alice", _certificate(name, key, ca_name, ca_key, ca=False), key)
    assert _handshake(server, _client(serving_ca, alice)) == ALICE

    assert _handshake(server, _client(serving_ca, None)) is None, "no certificate: served, nobody proved"

    forged_key, _ = _key_and_name("alice", "camfleet.io/department:water")
    forged = _client_files(tmp_path, "forged", _certificate(name, forged_key, name, forged_key, ca=False), forged_key)
    with pytest.raises(ssl.SSLError):
        _handshake(server, _client(serving_ca, forged))

    other_key, other_name = _key_and_name("another-ca")
    other = _client_files(tmp_path, "other", _certificate(name, key, other_name, other_key, ca=False), key)
    with pytest.raises(ssl.SSLError):
        _handshake(server, _client(serving_ca, other))


def test_without_a_cluster_ca_the_listener_asks_no_certificate(tmp_path: Path) -> None:
    served = make_webhook_certificate(tmp_path, ["127.0.0.1"])
    server = server_tls_context(served.certfile, served.pkeyfile)
    assert server.verify_mode == ssl.CERT_NONE
    assert server.get_ca_certs() == []
