"""The access decision endpoint over HTTP(S): MediaMTX's authentication hook and a generic decision API.

Every answer comes from the in-memory `AccessState`; no request reaches the Kubernetes API. Serve it over TLS
(R17): `start_gateway_server(..., tls=server_tls_context(cert, key))`.

POST /v1/mediamtx/auth
    MediaMTX's HTTP authentication hook. Configure MediaMTX with
        authMethod: http
        authHTTPAddress: https://camfleet-operator.camfleet-system.svc:8443/v1/mediamtx/auth
        rtspAuthMethods: [basic]      # digest never sends the password, so a token could not reach the hook
    Request (sent by MediaMTX):
        {"user": "", "password": "<JWT>", "token": "", "ip": "10.0.0.7", "action": "read",
         "path": "public-security/taidong-street", "protocol": "rtsp", "id": "<uuid>|null", "query": ""}
    The grant token is read from `token` (HTTP `Authorization: Bearer`), else `password`, else the `jwt` query
    parameter. `path` is `<namespace>/<camera>[/<profile>]`. `read` needs LiveView, `playback` Playback;
    `publish` needs a transcoder credential (user `camfleet-transcoder`, see `publishers`); `api`, `metrics` and
    `pprof` are denied.
    Answer: 200 `{"allowed": true}` allows. 401 (no credentials given) or 403 (refused) with
    `{"allowed": false, "outcome": "<code>", "reason": "<words>"}` denies; MediaMTX logs the body. 400 for a
    body that is not the hook's JSON.

POST /v1/decide
    For any gateway with an HTTP hook (or a person checking access). Request:
        {"camera": "<namespace>/<name>", "permission": "LiveView|Playback|PTZControl|Export",
         "token": "<JWT>"?, "department": "<namespace>"?, "profile": "<transcode profile>"?}
    With a token, the token decides (and must belong to `department` when both are given). Without one, the
    department's effective permissions decide (ownership, tiers, grants): the caller vouches for the
    department, so only gateways that authenticated the user themselves should call it that way.
    Answer: 200 when allowed, 403 when denied (so that `auth_request`-style hooks need not read the body),
    both with `{"allowed": bool, "outcome": "<code>", "reasons": ["..."], "department": str|null,
    "camera": str|null, "grant": str|null}`; 400 for a malformed request.

GET /.well-known/jwks.json
    The public signing keys (JWK Set, OKP/Ed25519, with `kid`), for gateways that verify tokens themselves.
    Verifying a token alone does not see revocations; ask /v1/decide or /v1/mediamtx/auth for that.

GET /healthz
    200 "ok" while the event loop answers.

Outcome codes: allowed, no_credentials, invalid_token, token_expired, not_in_token, revoked, unknown_grant,
grant_not_in_force, unknown_camera, not_granted, wrong_profile, bad_path, action_not_allowed, bad_publisher,
bad_request. Tokens, passwords and queries are never logged nor echoed in answers.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from camfleet.access.tokens import jwks
from camfleet.api.sharing_grant import Permission
from camfleet.gateway.mediamtx import MediaMtxAuthRequest
from camfleet.gateway.metrics import GATEWAY_DECISIONS
from camfleet.gateway.service import Gateway
from camfleet.gateway.state import GatewayDecision, Outcome

Clock = Callable[[], datetime]
MAX_BODY_BYTES = 64 * 1024
GATEWAY_KEY = web.AppKey("camfleet_gateway", Gateway)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("camfleet_gateway_clock")


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_gateway_app(gateway: Gateway, clock: Clock = utc_now) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    add_gateway_routes(app, gateway, clock)
    return app


def add_gateway_routes(app: web.Application, gateway: Gateway, clock: Clock = utc_now) -> None:
    """Mount the endpoint on an existing application (e.g. next to the operator's /metrics)."""
    app[GATEWAY_KEY] = gateway
    app[CLOCK_KEY] = clock
    app.router.add_post("/v1/mediamtx/auth", _mediamtx_auth)
    app.router.add_post("/v1/decide", _decide)
    app.router.add_get("/.well-known/jwks.json", _jwks)
    app.router.add_get("/healthz", _healthz)


async def _mediamtx_auth(request: web.Request) -> web.Response:
    gateway, now = request.app[GATEWAY_KEY], request.app[CLOCK_KEY]()
    try:
        hook = MediaMtxAuthRequest.from_json(await _json_body(request))
    except ValueError as error:
        return _bad_request("mediamtx", str(error))
    decision = gateway.mediamtx(hook, now)
    if decision.allowed:
        return web.json_response({"allowed": True})
    status = 401 if decision.outcome == Outcome.NO_CREDENTIALS else 403
    body = {"allowed": False, "outcome": decision.outcome.value, "reason": "; ".join(decision.reasons)}
    return web.json_response(body, status=status)


async def _decide(request: web.Request) -> web.Response:
    gateway, now = request.app[GATEWAY_KEY], request.app[CLOCK_KEY]()
    try:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        camera = _field(body, "camera", required=True) or ""
        permission = _permission(body)
        token, department, profile = (_field(body, name) for name in ("token", "department", "profile"))
    except ValueError as error:
        return _bad_request("decide", str(error))
    decision = gateway.decide(camera, permission, now, token=token, department=department, profile=profile)
    return web.json_response(_decision_body(decision), status=200 if decision.allowed else 403)


async def _jwks(request: web.Request) -> web.Response:
    keys = request.app[GATEWAY_KEY].state.keys
    now = request.app[CLOCK_KEY]()
    body = jwks(keys, now) if keys is not None else {"keys": []}
    return web.json_response(body, headers={"Cache-Control": "max-age=60"})


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("the body is not JSON") from None


def _field(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ValueError(f"field '{name}' is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"field '{name}' must be a string")
    return value


def _permission(body: dict[str, Any]) -> Permission:
    value = _field(body, "permission", required=True) or ""
    try:
        return Permission(value)
    except ValueError:
        raise ValueError(f"field 'permission' must be one of {', '.join(p.value for p in Permission)}") from None


def _decision_body(decision: GatewayDecision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "outcome": decision.outcome.value,
        "reasons": list(decision.reasons),
        "department": decision.department,
        "camera": decision.camera,
        "grant": decision.grant,
    }


def _bad_request(endpoint: str, why: str) -> web.Response:
    GATEWAY_DECISIONS.labels(endpoint, Outcome.BAD_REQUEST.value).inc()
    return web.json_response({"allowed": False, "outcome": Outcome.BAD_REQUEST.value, "reason": why}, status=400)


def server_tls_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    """HTTPS for the endpoint (R17): TLS 1.2 or newer, the given certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


async def start_gateway_server(
    gateway: Gateway, host: str, port: int, *, tls: ssl.SSLContext | None = None, clock: Clock = utc_now
) -> web.AppRunner:
    """Serve the endpoint; `runner.addresses` tells the bound port when `port` is 0. Stop with `runner.cleanup()`."""
    # No access log: a request line is harmless here, but nothing about requests is logged unless on purpose.
    runner = web.AppRunner(make_gateway_app(gateway, clock), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    return runner
