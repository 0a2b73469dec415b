"""Ending a revoked grant's live sessions: the MediaMTX control API requests and answers, without MediaMTX.

MediaMTX is not available here. The pure parts (routes, request building, reading list answers, choosing the
sessions) are tested on their own; `MediaMtxTerminator`'s loop (paging, skipping, kicking, reporting) is tested
against an httpx stand-in that answers with the shapes of MediaMTX's OpenAPI description. Whether a real
MediaMTX accepts these requests is NOT tested here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from camfleet.gateway import FLAT_ROUTES, NESTED_ROUTES, MediaMtxTerminator, NoGateway, terminator_for
from camfleet.gateway.terminator import (
    LiveSession,
    SessionKind,
    kick_request,
    list_request,
    parse_session_page,
    sessions_to_end,
)
from tests.unit.gateway.builders import EMERGENCY, VIEW_STREET, token_for

RTSP = FLAT_ROUTES[0]
GRANT = "11111111-1111-4111-8111-111111111111"


def test_the_flat_routes_are_mediamtx_v3s() -> None:
    assert [(k.list_path, k.kick_path) for k in FLAT_ROUTES] == [
        ("/v3/rtspsessions/list", "/v3/rtspsessions/kick"),
        ("/v3/rtspssessions/list", "/v3/rtspssessions/kick"),
        ("/v3/webrtcsessions/list", "/v3/webrtcsessions/kick"),
        ("/v3/rtmpconns/list", "/v3/rtmpconns/kick"),
        ("/v3/rtmpsconns/list", "/v3/rtmpsconns/kick"),
        ("/v3/srtconns/list", "/v3/srtconns/kick"),
    ]
    assert NESTED_ROUTES[0].list_path == "/v3/rtsp/sessions/list"
    assert NESTED_ROUTES[-1].kick_path == "/v3/hls/sessions/kick"


def test_requests() -> None:
    listing = list_request(RTSP, page=2)
    kick = kick_request(LiveSession(RTSP, "abc"))

    assert (listing.method, listing.path, dict(listing.params)) == (
        "GET",
        "/v3/rtspsessions/list",
        {"page": "2", "itemsPerPage": "1000"},
    )
    assert (kick.method, kick.path) == ("POST", "/v3/rtspsessions/kick/abc")


def test_reading_a_list_answer() -> None:
    body = {
        "pageCount": 3,
        "itemCount": 250,
        "items": [
            {"id": "s1", "path": "ns/cam", "query": "jwt=x", "conns": ["c1", 7], "state": "read"},
            {"id": "s2"},
            {"noid": True},
            "junk",
        ],
    }
    sessions, pages = parse_session_page(RTSP, body)

    assert pages == 3
    assert sessions == [LiveSession(RTSP, "s1", "ns/cam", "jwt=x", ("c1",), "read"), LiveSession(RTSP, "s2")]


@pytest.mark.parametrize(
    "body", [[], {"items": "x"}, {"items": [], "pageCount": "2"}, {"items": [], "pageCount": True}]
)
def test_list_answers_of_another_shape_are_refused(body: Any) -> None:
    with pytest.raises(ValueError, match="list answer"):
        parse_session_page(RTSP, body)


def test_choosing_the_sessions_of_a_grant() -> None:
    by_id = LiveSession(RTSP, "s1")
    by_conn = LiveSession(RTSP, "s2", conns=("conn-9",))
    by_query = LiveSession(RTSP, "s3", query=f"jwt={token_for(VIEW_STREET)}")
    other_token = LiveSession(RTSP, "s4", query=f"jwt={token_for(EMERGENCY)}")
    junk_query = LiveSession(RTSP, "s5", query="jwt=not-a-token")
    stranger = LiveSession(RTSP, "s6", conns=("conn-1",))

    chosen = sessions_to_end([by_id, by_conn, by_query, other_token, junk_query, stranger], GRANT, {"s1", "conn-9"})

    assert chosen == [by_id, by_conn, by_query]


class StandIn:
    """Answers like MediaMTX's control API would, from a table of sessions per list route."""

    def __init__(self, sessions: dict[str, list[dict[str, Any]]], kick_status: int = 200, page_size: int = 2) -> None:
        self.sessions = sessions
        self.kick_status = kick_status
        self.page_size = page_size
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        if request.method == "GET" and request.url.path.endswith("/list"):
            items = self.sessions.get(request.url.path)
            if items is None:
                return httpx.Response(404, json={"status": "error", "error": "not found"})
            page = int(request.url.params["page"])
            chunk = items[page * self.page_size : (page + 1) * self.page_size]
            pages = max(1, -(-len(items) // self.page_size))
            return httpx.Response(200, json={"pageCount": pages, "itemCount": len(items), "items": chunk})
        if request.method == "POST" and "/kick/" in request.url.path:
            return httpx.Response(self.kick_status, json={"status": "ok"} if self.kick_status == 200 else {})
        return httpx.Response(400, json={"status": "error", "error": "unexpected request"})


async def test_the_terminator_pages_through_lists_and_kicks_the_grants_sessions() -> None:
    stand_in = StandIn(
        {
            "/v3/rtspsessions/list": [{"id": f"r{n}", "path": "ns/cam", "conns": [f"c{n}"]} for n in range(5)],
            "/v3/webrtcsessions/list": [{"id": "w1", "path": "ns/cam"}, {"id": "w2", "path": "ns/cam"}],
        }
    )
    client = httpx.AsyncClient(base_url="http://mediamtx:9997", transport=httpx.MockTransport(stand_in))
    terminator = MediaMtxTerminator("http://mediamtx:9997", client=client)
    terminator.session_opened("c4", GRANT)  # RTSP: the hook sends the connection id
    terminator.session_opened("w2", GRANT)
    terminator.session_opened("w1", "another-grant")

    report = await terminator.end_sessions(GRANT)

    assert report.ended == ("rtspSession r4 on ns/cam", "webRTCSession w2 on ns/cam")
    assert report.failed == ()
    assert report.skipped_kinds == ("rtspsSession", "rtmpConn", "rtmpsConn", "srtConn")
    assert report.complete
    rtsp_pages = [r for r in stand_in.requests if r.startswith("GET /v3/rtspsessions/list")]
    assert len(rtsp_pages) == 3
    assert "POST /v3/rtspsessions/kick/r4?" in stand_in.requests
    assert terminator.ledger.sessions_of(GRANT) == frozenset()
    assert terminator.ledger.sessions_of("another-grant") == {"w1"}
    await client.aclose()


async def test_failures_are_reported_not_raised() -> None:
    stand_in = StandIn({"/v3/rtspsessions/list": [{"id": "r1"}]}, kick_status=500)
    client = httpx.AsyncClient(base_url="http://m", transport=httpx.MockTransport(stand_in))

    terminator = MediaMtxTerminator("http://m", client=client)
    terminator.session_opened("r1", GRANT)

    report = await terminator.end_sessions(GRANT)

    assert report.failed == ("rtspSession r1 on ?: HTTP 500",)
    assert not report.complete
    assert terminator.ledger.sessions_of(GRANT) == {"r1"}  # kept, so that a retry finds it again
    await client.aclose()


async def test_an_unreachable_gateway_is_reported_per_kind() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(base_url="http://m", transport=httpx.MockTransport(refuse))
    kinds = (SessionKind("rtspSession", "/v3/rtspsessions/list", "/v3/rtspsessions/kick"),)
    terminator = MediaMtxTerminator("http://m", client=client, kinds=kinds)

    report = await terminator.end_sessions(GRANT)

    assert report.failed == ("rtspSession: listing failed: ConnectError",)
    await client.aclose()


async def test_no_gateway_means_nothing_to_end() -> None:
    assert isinstance(terminator_for(None), NoGateway)
    NoGateway().session_opened("s1", GRANT)
    report = await NoGateway().end_sessions(GRANT)
    assert (report.ended, report.failed, report.complete) == ((), (), True)


async def test_a_configured_gateway_gets_a_mediamtx_terminator() -> None:
    terminator = terminator_for("http://mediamtx:9997", layout="nested")
    assert isinstance(terminator, MediaMtxTerminator)
    await terminator.aclose()
    with pytest.raises(ValueError, match="layout"):
        MediaMtxTerminator("http://m", layout="v4")


def test_a_revoked_grants_cameras_lose_every_reader_no_live_ledger_entry_vouches_for() -> None:
    """After a restart or a failover the ledger is empty, and a token sent as the RTSP password is never listed:
    every reader of the grant's cameras that this process did not admit is ended, to authenticate again."""
    unknown_reader = LiveSession(RTSP, "s-unknown", "owner/street", state="read")
    unknown_profile_reader = LiveSession(RTSP, "s-profile", "owner/street/low", conns=("c-x",), state="read")
    vouched_other_grant = LiveSession(RTSP, "s-other", "owner/street", conns=("c-other",), state="read")
    transcoder = LiveSession(RTSP, "s-pub", "owner/street/low", state="publish")
    other_camera = LiveSession(RTSP, "s-elsewhere", "owner/square", state="read")
    known = {"c-other"}

    chosen = sessions_to_end(
        [unknown_reader, unknown_profile_reader, vouched_other_grant, transcoder, other_camera],
        GRANT,
        set(),
        {"owner/street"},
        known.__contains__,
    )

    assert chosen == [unknown_reader, unknown_profile_reader]
    # Without the grant's cameras, only what the ledger or the query tells counts (the old behaviour).
    assert sessions_to_end([unknown_reader], GRANT, set()) == []


async def test_revocations_in_a_burst_share_one_listing_that_started_after_their_doors_closed() -> None:
    import asyncio
    import time

    stand_in = StandIn({"/v3/rtspsessions/list": [{"id": "r1", "conns": ["c1"]}, {"id": "r2", "conns": ["c2"]}]})
    client = httpx.AsyncClient(base_url="http://m", transport=httpx.MockTransport(stand_in))
    terminator = MediaMtxTerminator("http://m", client=client, kinds=(RTSP,))
    terminator.session_opened("c1", GRANT)
    terminator.session_opened("c2", "another-grant")
    closed = time.monotonic()

    first, second = await asyncio.gather(
        terminator.end_sessions(GRANT, closed_at=closed), terminator.end_sessions("another-grant", closed_at=closed)
    )

    assert (first.ended, second.ended) == (("rtspSession r1 on ?",), ("rtspSession r2 on ?",))
    assert len([r for r in stand_in.requests if r.startswith("GET")]) == 1, "one listing served both"
    # A grant whose door closes after that listing started needs a listing of its own.
    await terminator.end_sessions("later-grant")
    assert len([r for r in stand_in.requests if r.startswith("GET")]) == 2
    await client.aclose()
