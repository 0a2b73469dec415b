"""The PTZ control API (R13), served beside the decision endpoint: acquire, move, go to a preset or home, stop,
release, lock. docs/ptz-control.md is the user's reference; in short:

POST /v1/ptz/{acquire|move|preset|home|stop|release|lock}
    {"camera": "<namespace>/<name>",
     "token": "<grant token>"                       a grant token carrying PTZControl on the camera, or a
                                                    tier credential whose level controls it (`tier_tokens`),
                                                    presented by a verified person of its department: a client
                                                    certificate of the cluster's CA, or a bearer token in
                                                    X-Camfleet-Person-Token (`gateway.people`); a "person"
                                                    field other than the verified user is refused; or
     "department": "<namespace>", "person": "<..>"  with a gateway credential (Authorization header) that
                                                    speaks for it: owners and tier holders, who hold no grant,
                                                    the person recorded as the gateway's word,
     "move": {"kind": "continuous|relative", "pan": .., "tilt": .., "zoom": .., "timeoutSeconds": ..}   (move)
     "preset": "<token or name>"                                                                         (preset)
     "lockMinutes": 10                                                                                   (lock)}

Each request is authorized by the credential, then arbitrated (`access.arbitration`, level by level): every
command (re)claims control, so the holder's commands keep it alive and a contender's command pre-empts when its
rank is higher. Only then is the command relayed to the device over ONVIF PTZ (`control.ptz_relay`).

Answers: 200 {"granted": true, "outcome": "Granted|Kept|Locked|Released", "holder": {...}}; 409 {"granted": false,
"outcome": "Refused", "holder": {...}} when another department holds the camera (or its lock); 403 {"granted":
false, "outcome": "denied"} when the credential gives no PTZ control of the camera (no reason, as at the door);
401 without a credential or without a verified person (`no_identity`, with a message saying how to prove it); 503
{"granted": false, "outcome": "standby"} from a standby replica, and 503 when a person's bearer token could not be
reviewed; 400 for a malformed request; 502 {"granted": true, "outcome": "device_error"} when the device refused the
command. `holder` names department, person, rank, since and lockUntil.

GET /v1/ptz/holder?camera=<namespace>/<name>   (a gateway credential) the current holder, or null.

Every grant, pre-emption, lock, release and refusal is an audit record (`PtzControl*`) naming the person (and
`proof`: how they were verified), the department, the camera and the reason. Tokens are never logged nor echoed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from camfleet.access.arbitration import ControlRequest
from camfleet.api.sharing_grant import Permission
from camfleet.control.ptz_board import BoardOutcome, ControlEvent, PtzBoard, Seat
from camfleet.control.ptz_relay import DeviceUnavailable, Move, PtzCommand, PtzRelay, RelayFailed
from camfleet.gateway.people import (
    NO_IDENTITY,
    PERSON_TOKEN_HEADER,
    Person,
    TokenReviewFailed,
    TokenReviews,
    direct_person,
    person_from_certificate,
    stated_by_gateway,
)
from camfleet.gateway.service import Gateway
from camfleet.observability.audit import audit

Clock = Callable[[], datetime]
ACTIONS = ("acquire", "move", "preset", "home", "stop", "release", "lock")
MAX_PERSON_CHARS = 128
STANDBY = {"granted": False, "outcome": "standby"}
"""The answer of a standby replica: the active one holds who controls what (ask it, through the decision Service)."""


async def _nothing_to_record(camera: str) -> None:
    return None


@dataclass(frozen=True)
class PtzService:
    gateway: Gateway
    board: PtzBoard
    relay: PtzRelay
    clock: Clock
    on_change: Callable[[str], None] = lambda camera: None
    """Told the camera ref whenever its holder changes (the camera controller shows it in status)."""
    record: Callable[[str], Awaitable[None]] = _nothing_to_record
    """Writes the camera's holder to its status now; a lock is answered only once it is recorded (failover)."""
    active: Callable[[], bool] = lambda: True
    """Whether this replica is the active one: a standby's board and access state are not the truth (503)."""
    token_reviews: TokenReviews | None = None
    """Verifies a person's bearer token (PERSON_TOKEN_HEADER); without it only client certificates prove one."""


PTZ_KEY = web.AppKey("camfleet_ptz", PtzService)


@dataclass(frozen=True)
class Caller:
    """Who asks: the department, the person, the credential that speaks for the department and how the person was
    proved (for the audit trail)."""

    department: str
    person: str
    credential: str
    proof: str


class Refusal(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def add_ptz_routes(app: web.Application, service: PtzService) -> None:
    app[PTZ_KEY] = service
    for action in ACTIONS:
        app.router.add_post(f"/v1/ptz/{action}", _handler(action))
    app.router.add_get("/v1/ptz/holder", _holder)


def seat_view(seat: Seat | None) -> dict[str, Any] | None:
    if seat is None:
        return None
    holder = seat.holder
    return {
        "department": holder.department,
        "person": seat.person,
        "rank": seat.rank,
        "since": holder.since.isoformat() if holder.since else None,
        "lockUntil": holder.lock_until.isoformat() if holder.lock_until else None,
    }


def _handler(action: str) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        service = request.app[PTZ_KEY]
        if not service.active():
            return web.json_response(STANDBY, status=503)
        try:
            body = await _json_object(request)
            camera = _text(body, "camera", required=True)
            caller = await _identify(service, request, body, camera)
            return await _act(service, action, body, camera, caller)
        except Refusal as refusal:
            return web.json_response(refusal.body, status=refusal.status)

    return handle


async def _holder(request: web.Request) -> web.Response:
    service = request.app[PTZ_KEY]
    if not service.active():
        return web.json_response(STANDBY, status=503)
    if service.gateway.callers.authenticate(request.headers.get("Authorization")) is None:
        return web.json_response({"holder": None}, status=401)
    camera = request.query.get("camera", "")
    return web.json_response({"camera": camera, "holder": seat_view(service.board.seat(camera, service.clock()))})


async def _identify(service: PtzService, request: web.Request, body: dict[str, Any], camera: str) -> Caller:
    """The caller: a verified person acting with a credential of their department (a grant token carrying
    PTZControl on the camera, or a tier credential), or a gateway credential that speaks for the named department
    and states its user; a refusal is audited with whatever is known."""
    stated = _text(body, "person")
    if len(stated) > MAX_PERSON_CHARS:
        raise Refusal(400, {"granted": False, "outcome": "bad_request"})
    token = _text(body, "token")
    if token:
        return await _direct_caller(service, request, token, stated, camera)
    return _gateway_caller(service, request, _text(body, "department"), stated, camera)


async def _direct_caller(service: PtzService, request: web.Request, token: str, stated: str, camera: str) -> Caller:
    """A person proved by a client certificate or a bearer token (`gateway.people`), in the department the
    grant token or tier credential speaks for."""
    person = await _verified_person(service, request, camera)
    decision = service.gateway.state.decide_token(token, camera, Permission.PTZ_CONTROL, service.clock())
    if not decision.allowed or decision.department is None:
        reasons = "; ".join(decision.reasons)
        _audit_refusal(camera, person.user, decision.department or "unknown", reasons, "token", person.proof)
        raise Refusal(403, {"granted": False, "outcome": "denied"})
    credential = f"tier {decision.tier}" if decision.tier else f"grant {decision.grant}"
    verdict = direct_person(person, decision.department, stated)
    if not verdict.allowed:
        _audit_refusal(camera, verdict.person, decision.department, verdict.reason, credential, person.proof)
        raise Refusal(403, {"granted": False, "outcome": "denied", "message": verdict.reason})
    return Caller(decision.department, person.user, credential, person.proof)


async def _verified_person(service: PtzService, request: web.Request, camera: str) -> Person:
    """The person of the verified client certificate, else of the bearer token in PERSON_TOKEN_HEADER; a 401
    (audited) without either, 503 when the token could not be reviewed."""
    transport = request.transport
    person = person_from_certificate(transport.get_extra_info("peercert") if transport is not None else None)
    token = request.headers.get(PERSON_TOKEN_HEADER, "")
    if person is None and token and service.token_reviews is not None:
        try:
            person = await service.token_reviews.person(token)
        except TokenReviewFailed as failure:
            _audit_refusal(camera, "unverified", "unknown", str(failure), "token")
            raise Refusal(503, {"granted": False, "outcome": "identity_unavailable"}) from None
    if person is None:
        verdict = direct_person(None, "")
        why = "an invalid bearer token" if token else verdict.reason
        _audit_refusal(camera, verdict.person, "unknown", why, "token")
        raise Refusal(401, {"granted": False, "outcome": "no_identity", "message": NO_IDENTITY})
    return person


def _gateway_caller(service: PtzService, request: web.Request, department: str, stated: str, camera: str) -> Caller:
    """A gateway (a console that authenticates its own users) speaking for `department`: the person is its word,
    recorded as such."""
    gateway = service.gateway.callers.authenticate(request.headers.get("Authorization"))
    if gateway is None or not department:
        reason = "no grant token and no gateway credential" if gateway is None else "no department named"
        _audit_refusal(camera, stated or "unknown", department or "unknown", reason, "none")
        raise Refusal(401, {"granted": False, "outcome": "no_credentials"})
    if not stated:
        raise Refusal(400, {"granted": False, "outcome": "bad_request", "message": "a gateway states the person"})
    person = stated_by_gateway(stated, gateway.name)
    if not gateway.speaks_for(department):
        _audit_refusal(camera, person, department, f"gateway {gateway.name} may not speak for {department}", "gateway")
        raise Refusal(403, {"granted": False, "outcome": "denied"})
    return Caller(department, person, f"gateway {gateway.name}", "gateway credential")


async def _act(service: PtzService, action: str, body: dict[str, Any], camera: str, caller: Caller) -> web.Response:
    now = service.clock()
    if action == "release":
        outcome = service.board.release(camera, caller.department, now)
        _audit(camera, caller, outcome)
        if outcome.granted:
            service.on_change(camera)
        return _answer(outcome)
    command = _command(action, body)
    lock_until = _lock_until(body, now) if action == "lock" else None
    request = _control_request(service, camera, caller, lock_until, now)
    outcome = service.board.ask(camera, request, caller.person, now)
    _audit(camera, caller, outcome)
    if not outcome.granted:
        return _answer(outcome)
    if outcome.event != ControlEvent.KEPT:
        service.on_change(camera)
    if outcome.event == ControlEvent.LOCKED:
        await service.record(camera)
    if command is not None:
        try:
            await service.relay.send(camera, command)
        except (DeviceUnavailable, RelayFailed) as error:
            audit("PtzCommand", f"Camera {camera}", "failed", str(error), actor=_actor(caller), move=command.move)
            return web.json_response(
                {"granted": True, "outcome": "device_error", "holder": seat_view(outcome.seat)}, status=502
            )
    return _answer(outcome)


def _control_request(
    service: PtzService, camera: str, caller: Caller, lock_until: datetime | None, now: datetime
) -> ControlRequest:
    """The caller's standing on the camera (its level, ownership, grants: the whole access engine), or the refusal
    (audited) when it gives no PTZ control, or no lock when a lock was asked."""
    standing = service.gateway.state.standing(caller.department, camera, now)
    if standing is None or standing.ptz_priority is None or (lock_until is not None and not standing.can_lock):
        why = "" if standing is None else "; ".join(str(reason) for reason in standing.reasons)
        what = "lock" if standing is not None and standing.ptz_priority is not None else "PTZControl"
        _audit_refusal(
            camera, caller.person, caller.department, f"no {what} on {camera}: {why}", caller.credential, caller.proof
        )
        raise Refusal(403, {"granted": False, "outcome": "denied"})
    return ControlRequest.from_decision(standing, lock_until)


def _answer(outcome: BoardOutcome) -> web.Response:
    body = {"granted": outcome.granted, "outcome": str(outcome.event), "holder": seat_view(outcome.seat)}
    return web.json_response(body, status=200 if outcome.granted else 409)


def _actor(caller: Caller) -> str:
    return f"{caller.person} ({caller.department})"


def _audit(camera: str, caller: Caller, outcome: BoardOutcome) -> None:
    if outcome.event == ControlEvent.KEPT:
        return  # the holder's own commands: control did not change hands
    seat = outcome.seat
    audit(
        f"PtzControl{outcome.event}",
        f"Camera {camera}",
        "denied" if outcome.event == ControlEvent.REFUSED else "allowed",
        outcome.because,
        actor=_actor(caller),
        person=caller.person,
        department=caller.department,
        credential=caller.credential,
        proof=caller.proof,
        holder=seat.holder.department if seat else None,
        rank=seat.rank if seat else None,
        lockUntil=seat.holder.lock_until.isoformat() if seat and seat.holder.lock_until else None,
    )
    if outcome.pre_empted is not None:
        lost = outcome.pre_empted
        audit(
            f"PtzControl{ControlEvent.PRE_EMPTED}",
            f"Camera {camera}",
            "allowed",
            outcome.because,
            actor=f"{lost.person} ({lost.holder.department})",
            person=lost.person,
            department=lost.holder.department,
            by=_actor(caller),
        )


def _audit_refusal(
    camera: str, person: str, department: str, reason: str, credential: str, proof: str | None = None
) -> None:
    audit(
        f"PtzControl{ControlEvent.REFUSED}",
        f"Camera {camera}",
        "denied",
        reason,
        actor=f"{person} ({department})",
        person=person,
        department=department,
        credential=credential,
        proof=proof,
    )


def _command(action: str, body: dict[str, Any]) -> PtzCommand | None:
    if action in ("acquire", "lock"):
        return None
    if action == "preset":
        return PtzCommand(Move.PRESET, preset=_text(body, "preset", required=True))
    if action in ("home", "stop"):
        return PtzCommand(Move(action))
    move = body.get("move")
    if not isinstance(move, dict) or move.get("kind") not in (Move.CONTINUOUS, Move.RELATIVE):
        raise Refusal(400, {"granted": False, "outcome": "bad_request"})
    timeout = move.get("timeoutSeconds")
    return PtzCommand(
        Move(move["kind"]),
        pan=_number(move, "pan"),
        tilt=_number(move, "tilt"),
        zoom=_number(move, "zoom"),
        timeout_seconds=None if timeout is None else _number(move, "timeoutSeconds", 0.1, 3600),
    )


def _lock_until(body: dict[str, Any], now: datetime) -> datetime:
    minutes = body.get("lockMinutes", 60)
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 0 < minutes <= 24 * 60:
        raise Refusal(400, {"granted": False, "outcome": "bad_request"})
    return now + timedelta(minutes=minutes)  # the board caps it (one hour unless configured)


def _number(body: dict[str, Any], name: str, low: float = -1.0, high: float = 1.0) -> float:
    value = body.get(name, 0.0)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise Refusal(400, {"granted": False, "outcome": "bad_request"})
    if not low <= value <= high:
        raise Refusal(400, {"granted": False, "outcome": "bad_request"})
    return float(value)


def _text(body: dict[str, Any], name: str, required: bool = False) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise Refusal(400, {"granted": False, "outcome": "bad_request"})
    return value


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refusal(400, {"granted": False, "outcome": "bad_request"}) from None
    if not isinstance(body, dict):
        raise Refusal(400, {"granted": False, "outcome": "bad_request"})
    return body
