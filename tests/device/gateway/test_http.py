"""The decision endpoint as MediaMTX and other gateways reach it: a real HTTP(S) server on 127.0.0.1.

MediaMTX itself is not on this machine; the requests below are the JSON its HTTP authentication hook posts
(`internal/auth` of MediaMTX: user, password, token, ip, action, path, protocol, id, query).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from camfleet.access.tokens import issue
from camfleet.gateway import TRANSCODER_USER, Gateway, server_tls_context, start_gateway_server
from tests.unit.access.builders import ME, NOW, OWNER, grant
from tests.unit.gateway.builders import (
    EMERGENCY,
    KEYS,
    PUBLISHERS,
    UID,
    VIEW_STREET,
    alg_none_token,
    forged_token,
    state,
    token_for,
    widened_claims,
)

STREET = f"{OWNER}/street"
Post = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway() -> Gateway:
    return Gateway(state(), publishers=PUBLISHERS)


@pytest.fixture
async def base_url(gateway: Gateway, clock: Clock) -> AsyncIterator[str]:
    runner = await start_gateway_server(gateway, "127.0.0.1", 0, clock=clock)
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def post(base_url: str) -> AsyncIterator[Post]:
    async with aiohttp.ClientSession(base_url) as session:

        async def send(route: str, body: Any) -> tuple[int, dict[str, Any]]:
            async with session.post(route, json=body) as response:
                return response.status, await response.json()

        yield send


def hook(**fields: Any) -> dict[str, Any]:
    """What MediaMTX posts for an RTSP read of the street camera."""
    return {
        "user": "viewer",
        "password": "",
        "token": "",
        "ip": "10.0.0.7",
        "action": "read",
        "path": STREET,
        "protocol": "rtsp",
        "id": "5a7c1f0e-8f4e-4d2a-9a55-0c8f6c1a9e11",
        "query": "",
        **fields,
    }


async def test_a_valid_grant_token_reads(post: Post) -> None:
    status, body = await post("/v1/mediamtx/auth", hook(password=token_for(VIEW_STREET)))

    assert (status, body) == (200, {"allowed": True})


async def test_a_bearer_token_and_a_query_token_read_too(post: Post) -> None:
    token = token_for(VIEW_STREET)

    assert (await post("/v1/mediamtx/auth", hook(protocol="webrtc", token=token)))[0] == 200
    assert (await post("/v1/mediamtx/auth", hook(protocol="rtmp", query=f"jwt={token}")))[0] == 200


async def test_revocation_is_enforced_at_the_door(post: Post, gateway: Gateway) -> None:
    token = token_for(VIEW_STREET)
    assert (await post("/v1/mediamtx/auth", hook(password=token)))[0] == 200

    await gateway.revoke(UID["view-street"])

    status, body = await post("/v1/mediamtx/auth", hook(password=token))
    assert status == 403
    assert body["outcome"] == "revoked"


async def test_an_expired_token_is_denied(post: Post, clock: Clock) -> None:
    clock.now = VIEW_STREET.spec.period.end

    status, body = await post("/v1/mediamtx/auth", hook(password=token_for(VIEW_STREET)))

    assert (status, body["outcome"]) == (403, "token_expired")


async def test_an_emergency_grant_ends_at_its_hard_expiry_with_no_human_action(post: Post, clock: Clock) -> None:
    token = token_for(EMERGENCY)
    city_hall = hook(path=f"{OWNER}/city-hall", password=token)
    assert (await post("/v1/mediamtx/auth", city_hall))[0] == 200

    clock.now = EMERGENCY.spec.period.end

    assert (await post("/v1/mediamtx/auth", city_hall))[0] == 403


async def test_a_wrong_signature_is_denied(post: Post) -> None:
    status, body = await post("/v1/mediamtx/auth", hook(password=forged_token(VIEW_STREET)))

    assert (status, body["outcome"]) == (403, "invalid_token")
    assert "bad_signature" in body["reason"]


async def test_alg_none_is_denied(post: Post) -> None:
    status, body = await post("/v1/mediamtx/auth", hook(password=alg_none_token(widened_claims(VIEW_STREET))))

    assert (status, body["outcome"]) == (403, "invalid_token")
    assert "unsupported_algorithm" in body["reason"]


async def test_another_camera_is_denied(post: Post) -> None:
    status, body = await post("/v1/mediamtx/auth", hook(path=f"{OWNER}/harbour", password=token_for(VIEW_STREET)))

    assert (status, body["outcome"]) == (403, "not_in_token")


async def test_another_permission_is_denied(post: Post) -> None:
    status, body = await post("/v1/mediamtx/auth", hook(action="playback", password=token_for(VIEW_STREET)))

    assert (status, body["outcome"]) == (403, "not_in_token")


async def test_a_not_shared_camera_is_denied_without_an_emergency(post: Post, gateway: Gateway) -> None:
    # A normal grant selecting every camera of the owner, and a token naming the NotShared one (as an issuer bug
    # would write it): the live state still refuses, because only an emergency grant reaches NotShared (R10).
    everything = grant(name="view-street", cameras={"namespace": OWNER, "selector": {}}, permissions=("LiveView",))
    gateway.state.set_grant(UID["view-street"], everything)
    token = issue(widened_claims(everything, cameras=frozenset({f"{OWNER}/city-hall"})), KEYS)

    status, body = await post("/v1/mediamtx/auth", hook(path=f"{OWNER}/city-hall", password=token))

    assert (status, body["outcome"]) == (403, "not_granted")
    assert "NotShared" in body["reason"]


async def test_missing_credentials_answer_401(post: Post) -> None:
    status, body = await post("/v1/mediamtx/auth", hook())

    assert (status, body["outcome"]) == (401, "no_credentials")


async def test_a_transcoder_publishes_and_a_viewer_token_does_not(post: Post) -> None:
    publisher = hook(action="publish", path=f"{STREET}/low", user=TRANSCODER_USER)

    ok = await post("/v1/mediamtx/auth", {**publisher, "password": PUBLISHERS.password_for(STREET)})
    viewer = await post("/v1/mediamtx/auth", hook(action="publish", password=token_for(VIEW_STREET)))
    wrong = await post("/v1/mediamtx/auth", {**publisher, "password": PUBLISHERS.password_for(f"{OWNER}/harbour")})

    assert ok[0] == 200
    assert (viewer[0], viewer[1]["outcome"]) == (403, "bad_publisher")
    assert (wrong[0], wrong[1]["outcome"]) == (403, "bad_publisher")


@pytest.mark.parametrize("action", ["api", "metrics", "pprof"])
async def test_control_actions_are_denied(post: Post, action: str) -> None:
    status, body = await post("/v1/mediamtx/auth", hook(action=action, path="", password=token_for(VIEW_STREET)))

    assert (status, body["outcome"]) == (403, "action_not_allowed")


async def test_a_malformed_hook_body_is_a_bad_request(base_url: str) -> None:
    async with aiohttp.ClientSession(base_url) as session, session.post("/v1/mediamtx/auth", data=b"{nope") as answer:
        assert answer.status == 400
        assert (await answer.json())["outcome"] == "bad_request"


async def test_the_generic_decision(post: Post) -> None:
    token = token_for(VIEW_STREET)

    allowed = await post("/v1/decide", {"camera": STREET, "permission": "LiveView", "token": token})
    denied = await post("/v1/decide", {"camera": STREET, "permission": "Export", "department": ME})
    owner = await post("/v1/decide", {"camera": STREET, "permission": "Export", "department": OWNER})
    bad = await post("/v1/decide", {"camera": STREET, "permission": "Everything", "department": OWNER})

    assert allowed[0] == 200
    assert allowed[1]["allowed"] is True
    assert allowed[1]["grant"] == f"{ME}/view-street"
    assert (denied[0], denied[1]["allowed"], denied[1]["outcome"]) == (403, False, "not_granted")
    assert owner[0] == 200
    assert any("owns the camera" in reason for reason in owner[1]["reasons"])
    assert (bad[0], bad[1]["outcome"]) == (400, "bad_request")


async def test_jwks_and_health(base_url: str) -> None:
    async with aiohttp.ClientSession(base_url) as session:
        async with session.get("/.well-known/jwks.json") as answer:
            published = await answer.json()
        async with session.get("/healthz") as answer:
            health = (answer.status, await answer.text())

    assert [key["kid"] for key in published["keys"]] == [KEYS.active.kid]
    assert "d" not in published["keys"][0]
    assert health == (200, "ok\n")


async def test_secrets_never_reach_the_logs(post: Post, caplog: pytest.LogCaptureFixture) -> None:
    token = token_for(VIEW_STREET)
    forged = forged_token(VIEW_STREET)
    password = PUBLISHERS.password_for(STREET)
    caplog.set_level(logging.DEBUG)
    # The audit logger may not propagate (the operator gives it its own handler): listen to it directly too.
    audit_log = logging.getLogger("camfleet.audit")
    audit_log.addHandler(caplog.handler)
    try:
        await post("/v1/mediamtx/auth", hook(password=token))
        await post("/v1/mediamtx/auth", hook(token=forged))
        await post("/v1/mediamtx/auth", hook(query=f"jwt={token}", action="playback"))
        await post("/v1/mediamtx/auth", hook(action="publish", user=TRANSCODER_USER, password=password))
        await post("/v1/mediamtx/auth", hook(action="publish", user=TRANSCODER_USER, password="wrong-password-123"))
        await post("/v1/decide", {"camera": STREET, "permission": "LiveView", "token": token})
    finally:
        audit_log.removeHandler(caplog.handler)

    logged = "\n".join(f"{record.getMessage()} {record.args}" for record in caplog.records)
    assert "GatewayAccess" in logged  # decisions are logged (audit trail) ...
    for secret in (token, forged, password, "wrong-password-123", *token.split("."), *forged.split(".")):
        assert secret not in logged  # ... without any credential


# -- TLS --------------------------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "camfleet-gateway")])
    now = datetime.now(NOW.tzinfo)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


async def test_the_endpoint_serves_https(tmp_path: Path, gateway: Gateway, clock: Clock) -> None:
    cert_file, key_file = self_signed(tmp_path)
    runner = await start_gateway_server(
        gateway, "127.0.0.1", 0, tls=server_tls_context(cert_file, key_file), clock=clock
    )
    port = runner.addresses[0][1]
    trust = ssl.create_default_context(cafile=str(cert_file))
    try:
        async with aiohttp.ClientSession() as session:
            url = f"https://localhost:{port}/v1/mediamtx/auth"
            async with session.post(url, json=hook(password=token_for(VIEW_STREET)), ssl=trust) as answer:
                assert answer.status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.post(url, json=hook(), ssl=ssl.create_default_context()):
                    pass
            with pytest.raises(aiohttp.ClientError):
                async with session.post(f"http://localhost:{port}/v1/mediamtx/auth", json=hook()) as plain:
                    await plain.read()
    finally:
        await runner.cleanup()
