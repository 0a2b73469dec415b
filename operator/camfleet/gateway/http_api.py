"""The access decision endpoint over HTTP(S): MediaMTX's authentication hook and a generic decision API.

Every answer comes from the in-memory `AccessState`; no request reaches the Kubernetes API. Serve it over TLS
(R17): `start_gateway_server(..., tls=server_tls_context(cert, key))`. docs/decision-endpoint.md is the user's
reference; in short:

Callers (R18). /v1/mediamtx/auth and /v1/decide serve only gateways that prove who they are with their own
credential (`callers`): `Authorization: Basic base64(<gateway>:<token>)` (MediaMTX sends it when the hook URL
carries `https://<gateway>:<token>@host/...`) or `Authorization: Bearer <token>`. Without one, or with a wrong
one: 401 and the body `{"allowed": false}`, counted in `camfleet_gateway_callers_refused_total` and audited.

POST /v1/mediamtx/auth
    MediaMTX's HTTP authentication hook (`authMethod: http`, `authHTTPAddress:
    https://<gateway>:<token>@camfleet-decision.camfleet-system.svc:8443/v1/mediamtx/auth`, `rtspAuthMethods:
    [basic]`). Request (sent by MediaMTX):
        {"user": "", "password": "<JWT>", "token": "", "ip": "10.0.0.7", "action": "read",
         "path": "public-security/taidong-street", "protocol": "rtsp", "id": "<uuid>|null", "query": ""}
    The grant token (or a tier credential, `access.tier_tokens`) is read from `token`, else `password`, else the
    `jwt` query parameter. `path` is `<namespace>/<camera>[/<profile>]`.
    `read` needs LiveView, `playback` Playback; `publish` needs a transcoder
    credential (`publishers`); `api`, `metrics` and `pprof` are denied.
    Answer: 200 `{"allowed": true}`; 401 `{"allowed": false, "outcome": "no_credentials"}` when the viewer gave
    no grant token; 403 `{"allowed": false, "outcome": "denied"}` for every refusal, whatever the reason.

POST /v1/decide
    Request: {"camera": "<namespace>/<name>", "permission": "LiveView|Playback|PTZControl|Export",
              "token": "<JWT>"?, "department": "<namespace>"?, "profile": "<transcode profile>"?}
    With a token, the token decides (and must belong to `department` when both are given); any authenticated
    gateway may ask. Without one (department mode), the department's effective permissions decide, and only a
    gateway whose credential lists that department may ask: otherwise 403 `{"allowed": false}`.
    Answer: 200 `{"allowed": true, "outcome": "allowed"}` or 403 `{"allowed": false, "outcome": "denied"}`
    (`no_credentials` when neither a token nor a department was given); 400 `{"allowed": false, "outcome":
    "bad_request"}` for a malformed request.

Answers never carry reasons, grant names, expiries or tiers, and an unknown camera is answered exactly as a
refused one: the reasons and the precise outcome code go to the audit trail (`GatewayAccess` records, field
`code`) and to `camfleet access explain`, which reads the cluster with the user's own credentials.

GET /.well-known/jwks.json
    The public signing keys (JWK Set, OKP/Ed25519, with `kid`), open to all. Verifying a token alone does not
    see revocations; ask /v1/decide or /v1/mediamtx/auth for that.

GET /healthz
    200 "ok" while the event loop answers; open to all.

Tokens, passwords, gateway credentials and queries are never logged nor echoed in answers.
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
from camfleet.gateway.callers import Caller
from camfleet.gateway.mediamtx import MediaMtxAuthRequest
from camfleet.gateway.metrics import GATEWAY_DECISIONS
from camfleet.gateway.people import request_client_certificates
from camfleet.gateway.service import Gateway
from camfleet.gateway.state import GatewayDecision, Outcome

Clock = Callable[[], datetime]
MAX_BODY_BYTES = 64 * 1024
GATEWAY_KEY = web.AppKey("camfleet_gateway", Gateway)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("camfleet_gateway_clock")
ALLOWED, DENIED = "allowed", "denied"
"""The only decision outcomes an answer shows (besides `no_credentials` and `bad_request`)."""


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


def _authenticated(request: web.Request, endpoint: str) -> Caller | web.Response:
    """The gateway that asks, or the 401 to send (counted and audited)."""
    gateway = request.app[GATEWAY_KEY]
    header = request.headers.get("Authorization")
    caller = gateway.callers.authenticate(header)
    if caller is not None:
        return caller
    gateway.refuse_caller(endpoint, "invalid" if header else "missing", ip=request.remote or "")
    return web.json_response({"allowed": False}, status=401, headers={"WWW-Authenticate": 'Basic realm="camfleet"'})


async def _mediamtx_auth(request: web.Request) -> web.Response:
    caller = _authenticated(request, "mediamtx")
    if isinstance(caller, web.Response):
        return caller
    gateway, now = request.app[GATEWAY_KEY], request.app[CLOCK_KEY]()
    try:
        hook = MediaMtxAuthRequest.from_json(await _json_body(request))
    except ValueError:
        return _bad_request("mediamtx")
    decision = gateway.mediamtx(hook, now, caller=caller.name)
    if decision.allowed:
        return web.json_response({"allowed": True})
    if decision.outcome == Outcome.NO_CREDENTIALS:
        return web.json_response({"allowed": False, "outcome": Outcome.NO_CREDENTIALS.value}, status=401)
    return web.json_response({"allowed": False, "outcome": DENIED}, status=403)


async def _decide(request: web.Request) -> web.Response:
    caller = _authenticated(request, "decide")
    if isinstance(caller, web.Response):
        return caller
    gateway, now = request.app[GATEWAY_KEY], request.app[CLOCK_KEY]()
    try:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        camera = _field(body, "camera", required=True) or ""
        permission = _permission(body)
        token, department, profile = (_field(body, name) for name in ("token", "department", "profile"))
    except ValueError:
        return _bad_request("decide")
    if token is None and department is not None and not caller.speaks_for(department):
        gateway.refuse_caller(
            "decide", "department", caller=caller.name, ip=request.remote or "", department=department
        )
        return web.json_response({"allowed": False}, status=403)
    decision = gateway.decide(
        camera, permission, now, token=token, department=department, profile=profile, caller=caller.name
    )
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
    """Allowed or not, and nothing that tells why: no reasons, grant, expiry, tier, nor whether the camera exists."""
    if decision.allowed:
        return {"allowed": True, "outcome": ALLOWED}
    if decision.outcome == Outcome.NO_CREDENTIALS:
        return {"allowed": False, "outcome": Outcome.NO_CREDENTIALS.value}
    return {"allowed": False, "outcome": DENIED}


def _bad_request(endpoint: str) -> web.Response:
    GATEWAY_DECISIONS.labels(endpoint, Outcome.BAD_REQUEST.value).inc()
    return web.json_response({"allowed": False, "outcome": Outcome.BAD_REQUEST.value}, status=400)


def server_tls_context(cert_file: str | Path, key_file: str | Path, client_ca_pem: str | None = None) -> ssl.SSLContext:
    """HTTPS for the endpoint (R17): TLS 1.2 or newer, the given certificate chain and key. With `client_ca_pem`
    (the cluster's client CA), clients are asked for a certificate, not required to send one
    (`gateway.people`). No system CA is loaded: a client certificate from a public CA proves nobody here."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    if client_ca_pem:
        request_client_certificates(context, client_ca_pem)
    return context


async def start_gateway_server(
    gateway: Gateway,
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    clock: Clock = utc_now,
    more_routes: Callable[[web.Application], None] | None = None,
) -> web.AppRunner:
    """Serve the endpoint (and `more_routes`, e.g. the PTZ control API); `runner.addresses` tells the bound port
    when `port` is 0. Stop with `runner.cleanup()`."""
    app = make_gateway_app(gateway, clock)
    if more_routes is not None:
        more_routes(app)
    # No access log: a request line is harmless here, but nothing about requests is logged unless on purpose.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    return runner
