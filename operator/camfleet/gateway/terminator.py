"""Ending the live sessions of a revoked grant through MediaMTX's control API (R12; see `sessions`).

`MediaMtxTerminator` keeps a `SessionLedger` of the sessions the decision endpoint admitted, and on
`end_sessions` uses the control API (v3):

- list every kind of session, page by page (`GET <list>?page=N&itemsPerPage=M`, answer
  `{"pageCount": n, "items": [{"id", "path", "query", "conns"?, ...}]}`);
- pick the sessions to end: those whose id (or, for RTSP, one of whose connection ids in `conns`) the decision
  endpoint admitted under the grant (see `SessionLedger`); those whose query carries a `jwt=` token with the
  grant's `jti` (that reads the token without verifying it, which is safe here: it can only cause a session to
  be ended, never opened); and every reader on one of the grant's camera paths (`<namespace>/<camera>` and its
  profiles) that no entry of this process's ledger vouches for. MediaMTX lists a session's `user` but never its
  password, so a session that sent the token as the RTSP password and was admitted by another replica, or by
  this process before a restart, can only be recognised as "not known to be someone else's": kicking it makes
  its client authenticate at the door again, which re-admits it if it is still allowed (and then the ledger
  knows it). Publishers (camfleet's transcoders) are never kicked this way;
- kick each one (`POST <kick>/<id>`).

MediaMTX renamed its routes over time, so both layouts are known: `FLAT_ROUTES` (`/v3/rtspsessions/list`,
`/v3/webrtcsessions/list`, `/v3/rtmpconns/list`, ...) and `NESTED_ROUTES` (`/v3/rtsp/sessions/list`, ...). A
kind the server does not serve (404, e.g. a protocol that is disabled) is skipped and reported. HLS: recent
MediaMTX keeps HLS sessions (authenticated at the playlist, then tied to a session secret), listed and kicked in
the nested layout; the flat layout has no HLS session route, so there an HLS viewer is cut only when MediaMTX
authenticates one of its requests again, which depends on the MediaMTX version (not verified here).

Request building and answer reading are pure functions, tested without a server; only `MediaMtxTerminator`
does I/O (httpx).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt

from camfleet.gateway.paths import parse_stream_path
from camfleet.gateway.sessions import NoGateway, SessionLedger, SessionTerminator, TerminationReport

log = logging.getLogger(__name__)

ITEMS_PER_PAGE = 1_000
NOT_SERVED_SECONDS = 300.0
"""A kind of session the server does not serve (404: its protocol is off) is not asked about again for this
long: a burst of revocations then costs one list per served kind and grant, not one per kind."""
MAX_PAGES = 1_000
"""Guards against a server that keeps answering with more pages."""


@dataclass(frozen=True)
class SessionKind:
    name: str
    list_path: str
    kick_path: str
    """The kick route without the trailing `/<id>`."""


def _kinds(routes: Mapping[str, str]) -> tuple[SessionKind, ...]:
    return tuple(SessionKind(name, f"/v3/{route}/list", f"/v3/{route}/kick") for name, route in routes.items())


FLAT_ROUTES = _kinds(
    {
        "rtspSession": "rtspsessions",
        "rtspsSession": "rtspssessions",
        "webRTCSession": "webrtcsessions",
        "rtmpConn": "rtmpconns",
        "rtmpsConn": "rtmpsconns",
        "srtConn": "srtconns",
    }
)
NESTED_ROUTES = _kinds(
    {
        "rtspSession": "rtsp/sessions",
        "rtspsSession": "rtsps/sessions",
        "webRTCSession": "webrtc/sessions",
        "rtmpConn": "rtmp/conns",
        "rtmpsConn": "rtmps/conns",
        "srtConn": "srt/conns",
        "hlsSession": "hls/sessions",
    }
)
LAYOUTS = {"flat": FLAT_ROUTES, "nested": NESTED_ROUTES}


@dataclass(frozen=True)
class LiveSession:
    kind: SessionKind
    id: str
    path: str = ""
    query: str = field(default="", repr=False)
    """May carry a token: never logged."""
    conns: tuple[str, ...] = ()
    state: str = ""
    """`read`, `publish` or `idle` where the kind tells (RTSP sessions, RTMP connections)."""

    def __str__(self) -> str:
        return f"{self.kind.name} {self.id} on {self.path or '?'}"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)


# -- pure: requests and answers ---------------------------------------------------------------------------------


def list_request(kind: SessionKind, page: int, items_per_page: int = ITEMS_PER_PAGE) -> ApiRequest:
    return ApiRequest("GET", kind.list_path, {"page": str(page), "itemsPerPage": str(items_per_page)})


def kick_request(session: LiveSession) -> ApiRequest:
    return ApiRequest("POST", f"{session.kind.kick_path}/{session.id}")


def parse_session_page(kind: SessionKind, body: Any) -> tuple[list[LiveSession], int]:
    """The sessions on one page of a list answer, and the number of pages; ValueError on another shape."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ValueError(f"the {kind.name} list answer has no items")
    page_count = body.get("pageCount", 1)
    if not isinstance(page_count, int) or isinstance(page_count, bool):
        raise ValueError(f"the {kind.name} list answer has no page count")
    sessions = []
    for item in body["items"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        conns = item.get("conns")
        sessions.append(
            LiveSession(
                kind,
                item["id"],
                _text(item.get("path")),
                _text(item.get("query")),
                tuple(c for c in conns if isinstance(c, str)) if isinstance(conns, list) else (),
                _text(item.get("state")),
            )
        )
    return sessions, page_count


def sessions_to_end(
    sessions: Iterable[LiveSession],
    grant_id: str,
    session_ids: Collection[str],
    cameras: Collection[str] = (),
    vouched: Callable[[str], bool] = lambda _: False,
) -> list[LiveSession]:
    """The sessions to kick for a revoked grant (see the module's doc). `session_ids`: what the ledger admitted under
    this grant; `cameras`: the grant's camera refs; `vouched(id)`: whether the ledger knows a session id at all."""
    chosen = []
    for session in sessions:
        admitted = session.id in session_ids or any(conn in session_ids for conn in session.conns)
        if admitted or _query_grant_id(session.query) == grant_id or _unvouched_reader(session, cameras, vouched):
            chosen.append(session)
    return chosen


def _unvouched_reader(session: LiveSession, cameras: Collection[str], vouched: Callable[[str], bool]) -> bool:
    if session.state == "publish" or not _on_camera(session.path, cameras):
        return False
    return not vouched(session.id) and not any(vouched(conn) for conn in session.conns)


def _on_camera(path: str, cameras: Collection[str]) -> bool:
    stream = parse_stream_path(path)
    return stream is not None and stream.camera_ref in cameras


def _query_grant_id(query: str) -> str | None:
    tokens = parse_qs(query).get("jwt", [])
    if len(tokens) != 1:
        return None
    try:
        payload = jwt.decode(tokens[0], options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    jti = payload.get("jti")
    return jti if isinstance(jti, str) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- I/O --------------------------------------------------------------------------------------------------------


class MediaMtxTerminator:
    """Ends sessions through a MediaMTX control API at `api_url` (e.g. http://mediamtx:9997)."""

    ledger: SessionLedger

    def __init__(
        self,
        api_url: str,
        layout: str = "flat",
        *,
        client: httpx.AsyncClient | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 5.0,
        kinds: Sequence[SessionKind] | None = None,
        ledger: SessionLedger | None = None,
    ) -> None:
        """`layout`: "flat" (`/v3/rtspsessions/...`) or "nested" (`/v3/rtsp/sessions/...`), as the MediaMTX version
        serves; `kinds` replaces the layout's list of session kinds."""
        if layout not in LAYOUTS:
            raise ValueError(f"unknown MediaMTX API layout {layout!r}; one of {sorted(LAYOUTS)}")
        self._kinds = tuple(kinds) if kinds is not None else LAYOUTS[layout]
        self._client = client or httpx.AsyncClient(base_url=api_url, auth=auth, timeout=timeout)
        self._owns_client = client is None
        self.ledger = ledger or SessionLedger()
        self._not_served_until: dict[str, float] = {}
        self._listings: dict[str, _Listing] = {}

    def session_opened(self, session_id: str, grant_id: str) -> None:
        self.ledger.record(session_id, grant_id)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def end_sessions(
        self, grant_id: str, cameras: Collection[str] = (), closed_at: float | None = None
    ) -> TerminationReport:
        closed_at = time.monotonic() if closed_at is None else closed_at  # the door closed before this call
        session_ids = self.ledger.sessions_of(grant_id)
        ended: list[str] = []
        failed: list[str] = []
        skipped: list[str] = []
        for kind in self._kinds:
            if self._not_served_until.get(kind.name, 0.0) > time.monotonic():
                skipped.append(kind.name)
                continue
            try:
                sessions = await self._sessions(kind, closed_at)
            except _NotServed:
                self._not_served_until[kind.name] = time.monotonic() + NOT_SERVED_SECONDS
                skipped.append(kind.name)
                continue
            except (httpx.HTTPError, ValueError) as error:
                failed.append(f"{kind.name}: listing failed: {type(error).__name__}")
                continue
            for session in sessions_to_end(sessions, grant_id, session_ids, cameras, self.ledger.knows):
                outcome = await self._kick(session)
                (ended if outcome is None else failed).append(
                    str(session) if outcome is None else f"{session}: {outcome}"
                )
        report = TerminationReport(tuple(ended), tuple(failed), tuple(skipped))
        if not failed:
            self.ledger.forget_grant(grant_id)
        log.info("grant %s: ended %d live sessions, %d failures", grant_id, len(ended), len(failed))
        return report

    async def _sessions(self, kind: SessionKind, not_before: float) -> list[LiveSession]:
        """The sessions of a kind, from a listing that started after `not_before`. Revocations in a burst share
        one listing: one that started after a grant's door closed holds every session the grant could have (the
        door admits none of its sessions after that), so it serves every revocation closed before it started."""
        current = self._listings.get(kind.name)
        if current is None or current.started < not_before:
            current = _Listing(time.monotonic(), asyncio.ensure_future(self._list(kind)))
            # Its callers see its error; this keeps asyncio from reporting one whose callers were all cancelled.
            current.task.add_done_callback(lambda task: task.cancelled() or task.exception())
            self._listings[kind.name] = current
        return await asyncio.shield(current.task)

    async def _list(self, kind: SessionKind) -> list[LiveSession]:
        sessions: list[LiveSession] = []
        page, page_count = 0, 1
        while page < min(page_count, MAX_PAGES):
            request = list_request(kind, page)
            response = await self._client.request(request.method, request.path, params=dict(request.params))
            if response.status_code == httpx.codes.NOT_FOUND:
                raise _NotServed
            response.raise_for_status()
            items, page_count = parse_session_page(kind, response.json())
            sessions.extend(items)
            page += 1
        return sessions

    async def _kick(self, session: LiveSession) -> str | None:
        request = kick_request(session)
        try:
            response = await self._client.request(request.method, request.path)
        except httpx.HTTPError as error:
            return type(error).__name__
        if response.status_code == httpx.codes.NOT_FOUND:
            return None  # gone already: what we wanted
        return None if response.is_success else f"HTTP {response.status_code}"


class _NotServed(Exception):
    pass


@dataclass
class _Listing:
    started: float
    task: asyncio.Future[list[LiveSession]]


def terminator_for(api_url: str | None, layout: str = "flat", auth: tuple[str, str] | None = None) -> SessionTerminator:
    """The terminator for a configured gateway API, or `NoGateway` when none is configured."""
    if api_url is None:
        return NoGateway()
    return MediaMtxTerminator(api_url, layout, auth=auth)
