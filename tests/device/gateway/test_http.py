"""The decision endpoint as MediaMTX and other gateways reach it: a real HTTP(S) server on 127.0.0.1.

MediaMTX itself is not on this machine; the requests below are the JSON its HTTP authentication hook posts
(`internal/auth` of MediaMTX: user, password, token, ip, action, path, protocol, id, query), with the gateway's
own credential as HTTP basic auth, as Go's HTTP client sends the userinfo of `authHTTPAddress`.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import REGISTRY

from camfleet.access.tokens import issue
from camfleet.gateway import (
    TRANSCODER_USER,
    Gateway,
    GatewayCallers,
    GatewayCredential,
    server_tls_context,
    start_gateway_server,
)
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
MEDIAMTX = GatewayCredential("mediamtx", "m" * 16 + "T0ken-of-the-media-gateway-0001")
OWNER_VMS = GatewayCredential("owner-vms", "v" * 16 + "T0ken-of-the-owner-video-wall-1", frozenset({OWNER}))


def basic(name: str, token: str) -> dict[str, str]:
    """The header Go's HTTP client (MediaMTX) sends for `https://<name>:<token>@host/...`."""
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()}


AS_MEDIAMTX = basic(MEDIAMTX.name, MEDIAMTX.token)
AS_OWNER_VMS = basic(OWNER_VMS.name, OWNER_VMS.token)
DENIED = {"allowed": False, "outcome": "denied"}
Post = Callable[..., Awaitable[tuple[int, Any]]]


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
    return Gateway(state(), publishers=PUBLISHERS, callers=GatewayCallers([MEDIAMTX, OWNER_VMS]))


@pytest.fixture
async def base_url(gateway: Gateway, clock: Clock) -> AsyncIterator[str]:
    runner = await start_gateway_server(gateway, "127.0.0.1", 0, clock=clock)
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def raw_post(base_url: str) -> AsyncIterator[Callable[..., Awaitable[tuple[int, bytes]]]]:
    """POST as a given gateway (default MediaMTX; None: no credential); the status and the body's bytes."""
    async with aiohttp.ClientSession(base_url) as session:

        async def send(route: str, body: Any, auth: dict[str, str] | None = AS_MEDIAMTX) -> tuple[int, bytes]:
            async with session.post(route, json=body, headers=auth) as response:
                return response.status, await response.read()

        yield send


@pytest.fixture
def post(raw_post: Callable[..., Awaitable[tuple[int, bytes]]]) -> Post:
    async def send(route: str, body: Any, **how: Any) -> tuple[int, Any]:
        status, raw = await raw_post(route, body, **how)
        return status, json.loads(raw) if raw else None

    return send


@pytest.fixture
def audited() -> Iterator[list[dict[str, Any]]]:
    """The audit records written meanwhile (the audit logger may not propagate: listen to it directly)."""
    records: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(json.loads(record.getMessage()))

    audit_log, handler = logging.getLogger("camfleet.audit"), Collect()
    audit_log.addHandler(handler)
    previous = audit_log.level
    audit_log.setLevel(logging.INFO)
    try:
        yield records
    finally:
        audit_log.removeHandler(handler)
        audit_log.setLevel(previous)


def refused(endpoint: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "camfleet_gateway_callers_refused_total", {"endpoint": endpoint, "reason": reason}
    )
    return value or 0.0


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


def last(audited: list[dict[str, Any]], action: str = "GatewayAccess") -> dict[str, Any]:
    return [record for record in audited if record["action"] == action][-1]


# -- who may ask --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/mediamtx/auth", "/v1/decide"])
async def test_no_gateway_credential_is_401_with_no_detail_and_counted(
    raw_post: Callable[..., Awaitable[tuple[int, bytes]]], route: str, audited: list[dict[str, Any]]
) -> None:
    endpoint = "mediamtx" if "mediamtx" in route else "decide"
    before = refused(endpoint, "missing")
    request = hook(password=token_for(VIEW_STREET)) if endpoint == "mediamtx" else {
        "camera": STREET, "permission": "LiveView", "token": token_for(VIEW_STREET)
    }  # fmt: skip

    status, raw = await raw_post(route, request, auth=None)

    assert (status, json.loads(raw)) == (401, {"allowed": False})
    assert refused(endpoint, "missing") == before + 1
    assert last(audited, "GatewayCaller")["actor"].startswith("unauthenticated caller 127.0.0.1")
    assert not [record for record in audited if record["action"] == "GatewayAccess"], "no decision was taken"


async def test_a_wrong_gateway_credential_is_401(raw_post: Callable[..., Awaitable[tuple[int, bytes]]]) -> None:
    request = {"camera": STREET, "permission": "LiveView", "token": token_for(VIEW_STREET)}
    before = refused("decide", "invalid")
    wrong = [
        {"auth": basic(MEDIAMTX.name, "not-the-token-" + "x" * 30)},
        {"auth": basic(OWNER_VMS.name, MEDIAMTX.token)},  # a real token under another gateway's name
        {"auth": basic("nobody", MEDIAMTX.token)},
        {"auth": {"Authorization": "Bearer not-the-token-" + "x" * 30}},
        {"auth": {"Authorization": f"Bearer {token_for(VIEW_STREET)}"}},  # a grant token is not one
        {"auth": {"Authorization": "Basic !!not-base64!!"}},
        {"auth": {"Authorization": MEDIAMTX.token}},  # no scheme
    ]

    answers = [await raw_post("/v1/decide", request, **how) for how in wrong]

    assert answers == [(401, b'{"allowed": false}')] * len(wrong)
    assert refused("decide", "invalid") == before + len(wrong)


async def test_a_bearer_gateway_credential_and_the_hook_url_userinfo_both_work(
    base_url: str, raw_post: Callable[..., Awaitable[tuple[int, bytes]]]
) -> None:
    request = {"camera": STREET, "permission": "LiveView", "token": token_for(VIEW_STREET)}
    bearer = await raw_post("/v1/decide", request, auth={"Authorization": f"Bearer {MEDIAMTX.token}"})
    # MediaMTX: authHTTPAddress: http(s)://<gateway>:<token>@host/v1/mediamtx/auth (userinfo -> basic auth)
    userinfo = base_url.replace("http://", f"http://{MEDIAMTX.name}:{MEDIAMTX.token}@") + "/v1/mediamtx/auth"
    async with aiohttp.ClientSession() as session, session.post(userinfo, json=hook(password=request["token"])) as got:
        hook_answer = (got.status, await got.json())

    assert bearer[0] == 200
    assert hook_answer == (200, {"allowed": True})


async def test_department_mode_needs_a_gateway_that_speaks_for_the_department(
    post: Post, audited: list[dict[str, Any]]
) -> None:
    ask = {"camera": STREET, "permission": "LiveView", "department": OWNER}
    before = refused("decide", "department")

    # MediaMTX's credential lists no department: grant tokens only.
    assert await post("/v1/decide", ask) == (403, {"allowed": False})
    # The owner's video wall speaks for the owner, not for another department.
    assert await post("/v1/decide", {**ask, "department": ME}, auth=AS_OWNER_VMS) == (403, {"allowed": False})
    assert refused("decide", "department") == before + 2
    record = last(audited, "GatewayCaller")
    assert (record["actor"], record["department"], record["code"]) == ("gateway owner-vms", ME, "department")
    # ... and for the department it proves, it is answered.
    assert await post("/v1/decide", ask, auth=AS_OWNER_VMS) == (200, {"allowed": True, "outcome": "allowed"})


async def test_an_unknown_camera_and_a_refused_one_answer_byte_for_byte_the_same(
    raw_post: Callable[..., Awaitable[tuple[int, bytes]]], audited: list[dict[str, Any]]
) -> None:
    token = token_for(VIEW_STREET)
    by_token = {"permission": "LiveView", "token": token}
    by_department = {"permission": "Export", "department": OWNER}

    refused_token = await raw_post("/v1/decide", {**by_token, "camera": f"{OWNER}/harbour"})
    unknown_token = await raw_post("/v1/decide", {**by_token, "camera": f"{OWNER}/no-such-camera"})
    refused_hook = await raw_post("/v1/mediamtx/auth", hook(path=f"{OWNER}/harbour", password=token))
    unknown_hook = await raw_post("/v1/mediamtx/auth", hook(path=f"{OWNER}/no-such-camera", password=token))
    # Department mode: the owner's video wall asks about a camera that does not exist.
    unknown_department = await raw_post("/v1/decide", {**by_department, "camera": f"{OWNER}/gone"}, auth=AS_OWNER_VMS)

    assert refused_token == unknown_token == (403, b'{"allowed": false, "outcome": "denied"}')
    assert refused_hook == unknown_hook == refused_token
    assert unknown_department == (403, b'{"allowed": false, "outcome": "denied"}')
    # The audit trail knows which was which.
    codes = [record["code"] for record in audited if record["action"] == "GatewayAccess"]
    assert codes[:4] == ["not_in_token", "not_in_token", "not_in_token", "not_in_token"]
    assert codes[-1] == "unknown_camera"


async def test_answers_carry_no_reasons_grants_or_expiries_but_the_audit_trail_does(
    post: Post, audited: list[dict[str, Any]]
) -> None:
    token = token_for(VIEW_STREET)

    allowed = await post("/v1/decide", {"camera": STREET, "permission": "LiveView", "token": token})
    owner = await post("/v1/decide", {"camera": STREET, "permission": "Export", "department": OWNER}, auth=AS_OWNER_VMS)

    assert allowed == (200, {"allowed": True, "outcome": "allowed"})
    assert owner == (200, {"allowed": True, "outcome": "allowed"})
    by_token, by_department = [record for record in audited if record["action"] == "GatewayAccess"]
    assert by_token["grant"] == f"{ME}/view-street"
    assert (by_token["caller"], by_token["actor"], by_token["outcome"]) == ("mediamtx", ME, "allowed")
    assert "until" in by_token["reason"], "the grant's expiry is in the audit record"
    assert "owns the camera" in by_department["reason"]
    assert by_department["caller"] == "owner-vms"


# -- decisions (as MediaMTX asks) ------------------------------------------------------------------------------


async def test_a_valid_grant_token_reads(post: Post) -> None:
    status, body = await post("/v1/mediamtx/auth", hook(password=token_for(VIEW_STREET)))

    assert (status, body) == (200, {"allowed": True})


async def test_a_bearer_token_and_a_query_token_read_too(post: Post) -> None:
    token = token_for(VIEW_STREET)

    assert (await post("/v1/mediamtx/auth", hook(protocol="webrtc", token=token)))[0] == 200
    assert (await post("/v1/mediamtx/auth", hook(protocol="rtmp", query=f"jwt={token}")))[0] == 200


async def test_revocation_is_enforced_at_the_door(post: Post, gateway: Gateway, audited: list[dict[str, Any]]) -> None:
    token = token_for(VIEW_STREET)
    assert (await post("/v1/mediamtx/auth", hook(password=token)))[0] == 200

    await gateway.revoke(UID["view-street"])

    assert await post("/v1/mediamtx/auth", hook(password=token)) == (403, DENIED)
    assert last(audited)["code"] == "revoked"


async def test_an_expired_token_is_denied(post: Post, clock: Clock, audited: list[dict[str, Any]]) -> None:
    clock.now = VIEW_STREET.spec.period.end

    assert await post("/v1/mediamtx/auth", hook(password=token_for(VIEW_STREET))) == (403, DENIED)
    assert last(audited)["code"] == "token_expired"


async def test_an_emergency_grant_ends_at_its_hard_expiry_with_no_human_action(post: Post, clock: Clock) -> None:
    token = token_for(EMERGENCY)
    city_hall = hook(path=f"{OWNER}/city-hall", password=token)
    assert (await post("/v1/mediamtx/auth", city_hall))[0] == 200

    clock.now = EMERGENCY.spec.period.end

    assert (await post("/v1/mediamtx/auth", city_hall))[0] == 403


async def test_a_wrong_signature_is_denied(post: Post, audited: list[dict[str, Any]]) -> None:
    assert await post("/v1/mediamtx/auth", hook(password=forged_token(VIEW_STREET))) == (403, DENIED)
    assert last(audited)["code"] == "invalid_token"
    assert "bad_signature" in last(audited)["reason"]


async def test_alg_none_is_denied(post: Post, audited: list[dict[str, Any]]) -> None:
    forged = alg_none_token(widened_claims(VIEW_STREET))

    assert await post("/v1/mediamtx/auth", hook(password=forged)) == (403, DENIED)
    assert "unsupported_algorithm" in last(audited)["reason"]


async def test_another_camera_or_permission_is_denied(post: Post, audited: list[dict[str, Any]]) -> None:
    token = token_for(VIEW_STREET)

    assert await post("/v1/mediamtx/auth", hook(path=f"{OWNER}/harbour", password=token)) == (403, DENIED)
    assert await post("/v1/mediamtx/auth", hook(action="playback", password=token)) == (403, DENIED)
    assert [record["code"] for record in audited] == ["not_in_token", "not_in_token"]


async def test_a_not_shared_camera_is_denied_without_an_emergency(
    post: Post, gateway: Gateway, audited: list[dict[str, Any]]
) -> None:
    # A normal grant selecting every camera of the owner, and a token naming the NotShared one (as an issuer bug
    # would write it): the live state still refuses, because only an emergency grant reaches NotShared (R10).
    everything = grant(name="view-street", cameras={"namespace": OWNER, "selector": {}}, permissions=("LiveView",))
    gateway.state.set_grant(UID["view-street"], everything)
    token = issue(widened_claims(everything, cameras=frozenset({f"{OWNER}/city-hall"})), KEYS)

    assert await post("/v1/mediamtx/auth", hook(path=f"{OWNER}/city-hall", password=token)) == (403, DENIED)
    assert last(audited)["code"] == "not_granted"
    assert "NotShared" in last(audited)["reason"]


async def test_a_viewer_without_credentials_is_answered_401(post: Post) -> None:
    # MediaMTX's own status codes: 401 asks the viewer for credentials, 403 refuses.
    assert await post("/v1/mediamtx/auth", hook()) == (401, {"allowed": False, "outcome": "no_credentials"})


async def test_a_transcoder_publishes_and_a_viewer_token_does_not(post: Post) -> None:
    publisher = hook(action="publish", path=f"{STREET}/low", user=TRANSCODER_USER)

    ok = await post("/v1/mediamtx/auth", {**publisher, "password": PUBLISHERS.password_for(STREET)})
    viewer = await post("/v1/mediamtx/auth", hook(action="publish", password=token_for(VIEW_STREET)))
    wrong = await post("/v1/mediamtx/auth", {**publisher, "password": PUBLISHERS.password_for(f"{OWNER}/harbour")})

    assert ok[0] == 200
    assert viewer == wrong == (403, DENIED)


@pytest.mark.parametrize("action", ["api", "metrics", "pprof"])
async def test_control_actions_are_denied(post: Post, action: str) -> None:
    assert await post("/v1/mediamtx/auth", hook(action=action, path="", password=token_for(VIEW_STREET))) == (
        403,
        DENIED,
    )


async def test_a_malformed_body_is_a_bad_request_once_authenticated(
    raw_post: Callable[..., Awaitable[tuple[int, bytes]]], base_url: str
) -> None:
    async with aiohttp.ClientSession(base_url) as session:
        async with session.post("/v1/mediamtx/auth", data=b"{nope", headers=AS_MEDIAMTX) as answer:
            assert (answer.status, await answer.json()) == (400, {"allowed": False, "outcome": "bad_request"})
        async with session.post("/v1/mediamtx/auth", data=b"{nope") as anonymous:
            assert anonymous.status == 401
    bad = await raw_post("/v1/decide", {"camera": STREET, "permission": "Everything", "token": "x"})
    assert bad == (400, b'{"allowed": false, "outcome": "bad_request"}')


async def test_the_generic_decision(post: Post) -> None:
    token = token_for(VIEW_STREET)

    allowed = await post("/v1/decide", {"camera": STREET, "permission": "LiveView", "token": token})
    other = await post("/v1/decide", {"camera": STREET, "permission": "LiveView", "token": token, "department": OWNER})
    neither = await post("/v1/decide", {"camera": STREET, "permission": "LiveView"})

    assert allowed == (200, {"allowed": True, "outcome": "allowed"})
    assert other == (403, DENIED), "the token belongs to another department than the one named"
    assert neither == (403, {"allowed": False, "outcome": "no_credentials"})


async def test_jwks_and_health_stay_open(base_url: str) -> None:
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
    wrong_gateway = basic(MEDIAMTX.name, "a-wrong-gateway-token-" + "z" * 20)
    try:
        await post("/v1/mediamtx/auth", hook(password=token))
        await post("/v1/mediamtx/auth", hook(token=forged))
        await post("/v1/mediamtx/auth", hook(query=f"jwt={token}", action="playback"))
        await post("/v1/mediamtx/auth", hook(action="publish", user=TRANSCODER_USER, password=password))
        await post("/v1/mediamtx/auth", hook(action="publish", user=TRANSCODER_USER, password="wrong-password-123"))
        await post("/v1/decide", {"camera": STREET, "permission": "LiveView", "token": token})
        await post("/v1/decide", {"camera": STREET, "permission": "LiveView", "token": token}, auth=wrong_gateway)
    finally:
        audit_log.removeHandler(caplog.handler)

    logged = "\n".join(f"{record.getMessage()} {record.args}" for record in caplog.records)
    assert "GatewayAccess" in logged  # decisions are logged (audit trail) ...
    assert "GatewayCaller" in logged
    secrets = (token, forged, password, "wrong-password-123", MEDIAMTX.token, "a-wrong-gateway-token-" + "z" * 20)
    for secret in (*secrets, *token.split("."), *forged.split(".")):
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
            allowed = hook(password=token_for(VIEW_STREET))
            async with session.post(url, json=allowed, ssl=trust, headers=AS_MEDIAMTX) as answer:
                assert answer.status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.post(url, json=hook(), ssl=ssl.create_default_context()):
                    pass
            with pytest.raises(aiohttp.ClientError):
                async with session.post(f"http://localhost:{port}/v1/mediamtx/auth", json=hook()) as plain:
                    await plain.read()
    finally:
        await runner.cleanup()
