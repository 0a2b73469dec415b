"""The media gateway side of access (R12, R17, R18): the decision endpoint and the end of live sessions.

- `AccessState`: cameras, tiers, grants and revocations in memory; decisions in microseconds.
- `decide_mediamtx`: MediaMTX's authentication hook, judged against that state (`mediamtx`).
- `GatewayCallers`, `GatewayCredential`: the gateways allowed to ask, each with its own credential (`callers`).
- `Gateway`: state + callers + publisher credentials + session terminator, with metrics and audit records.
- `make_gateway_app`, `start_gateway_server`, `server_tls_context`: the HTTP(S) API (`http_api` documents it).
- `SessionTerminator` (`sessions`), `MediaMtxTerminator` (`terminator`), `NoGateway`: ending a revoked grant's
  live sessions.
- `PublisherCredentials`: how camfleet's transcoders publish.
"""

from camfleet.gateway.callers import Caller, GatewayCallers, GatewayCredential
from camfleet.gateway.http_api import add_gateway_routes, make_gateway_app, server_tls_context, start_gateway_server
from camfleet.gateway.mediamtx import MediaMtxAuthRequest, decide_mediamtx
from camfleet.gateway.paths import StreamPath, parse_stream_path
from camfleet.gateway.publishers import TRANSCODER_USER, PublisherCredentials
from camfleet.gateway.service import Gateway
from camfleet.gateway.sessions import NoGateway, SessionLedger, SessionTerminator, TerminationReport
from camfleet.gateway.state import AccessState, GatewayDecision, Outcome
from camfleet.gateway.terminator import FLAT_ROUTES, NESTED_ROUTES, MediaMtxTerminator, terminator_for

__all__ = [
    "FLAT_ROUTES",
    "NESTED_ROUTES",
    "TRANSCODER_USER",
    "AccessState",
    "Caller",
    "Gateway",
    "GatewayCallers",
    "GatewayCredential",
    "GatewayDecision",
    "MediaMtxAuthRequest",
    "MediaMtxTerminator",
    "NoGateway",
    "Outcome",
    "PublisherCredentials",
    "SessionLedger",
    "SessionTerminator",
    "StreamPath",
    "TerminationReport",
    "add_gateway_routes",
    "decide_mediamtx",
    "make_gateway_app",
    "parse_stream_path",
    "server_tls_context",
    "start_gateway_server",
    "terminator_for",
]
