"""The recorder's HTTP endpoint: `/metrics`, `/healthz` (readiness: recording right now), `/livez`, and `/chain`.

`/chain` serves the chain head as JSON (`seq`, `head`, `written`, `retentionDays`, `legalHold`, `recording`), and
with `?seq=N` also `at: {seq, head}`, line N's hash (null when N is not among the last lines): the operator polls
it and keeps a signed checkpoint outside the pod (recorder/checkpoint.py). It says nothing secret: the head is a
hash, and the recorder logs it after every segment anyway.

A group recorder (several cameras in one pod) serves each member's chain at `/chain/<camera>` (the same body,
404 for a camera not in the group) and has no `/chain`; its `/healthz` says whether any member records. It also
serves every member's at once, `/chains` (`?at=<camera>:<N>`, repeated, for line N's hash of each): the operator
polls a group once a minute with one request, not one per camera (10,000 a minute at 10,000 cameras).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

# (ready, reason) for /healthz
Readiness = Callable[[], tuple[bool, str]]
# the chain head and the policy in force, for /chain; given a line number, that line's hash too (`at`)
ChainHead = Callable[[int | None], dict[str, Any]]
# a group member's ChainHead by camera name, None for a camera not in the group
MemberChain = Callable[[str], ChainHead | None]
# every member's /chain body by camera name, given the line asked of each camera (if any)
MemberChains = Callable[[Mapping[str, int]], dict[str, dict[str, Any]]]


class HasRegistry(Protocol):
    @property
    def registry(self) -> CollectorRegistry: ...


def readiness(
    ffmpeg_running: bool, last_segment_at: float | None, now: float, segment_seconds: int, stopped_reason: str
) -> tuple[bool, str]:
    """Ready when ffmpeg runs and a segment finished recently: proof that footage actually reaches the volume."""
    if not ffmpeg_running:
        return False, f"not recording: {stopped_reason or 'ffmpeg is not running'}"
    # Two segment lengths plus time to (re)connect; a camera that stalls longer than that is not being recorded.
    window = 2 * segment_seconds + 30
    if last_segment_at is None or now - last_segment_at > window:
        return False, f"no segment completed in the last {window} s"
    return True, "recording"


def _chain_response(chain_head: ChainHead, request: web.Request) -> web.Response:
    asked = request.query.get("seq")
    if asked is not None and not asked.isdigit():
        return web.json_response({"error": "seq must be a line number"}, status=400)
    body = chain_head(int(asked) if asked is not None else None)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def asked_lines(values: list[str]) -> dict[str, int]:
    """`?at=<camera>:<N>` of `/chains`, by camera. Raises ValueError on a value that is not `<camera>:<digits>`."""
    asked: dict[str, int] = {}
    for value in values:
        camera, _, seq = value.rpartition(":")
        if not camera or not seq.isdigit():
            raise ValueError(f"at={value!r} is not <camera>:<line number>")
        asked[camera] = int(seq)
    return asked


def _chains_response(member_chains: MemberChains, request: web.Request) -> web.Response:
    try:
        asked = asked_lines(request.query.getall("at", []))
    except ValueError as error:
        return web.json_response({"error": str(error)}, status=400)
    return web.json_response({"cameras": member_chains(asked)}, headers={"Cache-Control": "no-store"})


def make_app(
    metrics: HasRegistry,
    ready: Readiness,
    chain_head: ChainHead | None = None,
    member_chain: MemberChain | None = None,
    member_chains: MemberChains | None = None,
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        ok, reason = ready()
        return web.Response(status=200 if ok else 503, text=reason + "\n")

    async def livez(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def metrics_page(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def chain(request: web.Request) -> web.Response:
        if chain_head is None:
            return web.json_response({"error": "no chain"}, status=404)
        return _chain_response(chain_head, request)

    async def camera_chain(request: web.Request) -> web.Response:
        member = member_chain(request.match_info["camera"]) if member_chain is not None else None
        if member is None:
            return web.json_response({"error": "no such camera in this recorder"}, status=404)
        return _chain_response(member, request)

    async def chains(request: web.Request) -> web.Response:
        if member_chains is None:
            return web.json_response({"error": "not a group recorder"}, status=404)
        return _chains_response(member_chains, request)

    app = web.Application()
    app.router.add_get("/chain", chain)
    app.router.add_get("/chain/{camera}", camera_chain)
    app.router.add_get("/chains", chains)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics_page)
    return app


async def start(
    metrics: HasRegistry,
    ready: Readiness,
    host: str,
    port: int,
    chain_head: ChainHead | None = None,
    member_chain: MemberChain | None = None,
    member_chains: MemberChains | None = None,
) -> web.AppRunner:
    runner = web.AppRunner(make_app(metrics, ready, chain_head, member_chain, member_chains), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
