"""`camfleet sim`: command line and the long-running `serve` entry point."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from camfleet.sim.fleet import DEFAULT_SEED, generated_fleet, load_fleet_file
from camfleet.sim.rtsp import RtspServer
from camfleet.sim.server import Simulator
from camfleet.sim.state import Camera, Quirk


async def serve(
    cameras: dict[str, Camera],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    rtsp: bool = True,
    rtsp_port: int = 8554,
    announce: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or the task is cancelled); announces one JSON line when ready."""
    async with contextlib.AsyncExitStack() as stack:
        if rtsp:
            rtsp_server = await stack.enter_async_context(RtspServer(host, rtsp_port))
            rtsp_port = rtsp_server.port
        simulator = await stack.enter_async_context(
            Simulator(cameras, host=host, port=port, rtsp_host=host, rtsp_port=rtsp_port)
        )
        announce(
            json.dumps(
                {
                    "ready": True,
                    "url": simulator.base_url,
                    "port": simulator.port,
                    "rtsp": rtsp,
                    "rtspPort": rtsp_port,
                    "cameras": len(cameras),
                }
            )
        )
        await (stop or asyncio.Event()).wait()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="camfleet sim", description="Simulated ONVIF cameras on one HTTP port, addressed by path."
    )
    parser.add_argument("--cameras", type=int, default=1, help="number of generated cameras (ignored with --fleet)")
    parser.add_argument("--fleet", type=Path, help="YAML/JSON fleet file (ids, passwords, skew, quirks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (0 picks a free one)")
    parser.add_argument("--seed", default=DEFAULT_SEED, help="derives passwords not given explicitly")
    parser.add_argument("--skew", type=float, default=0.0, help="clock skew in seconds for generated cameras")
    parser.add_argument(
        "--quirk", action="append", default=[], choices=[q.value for q in Quirk], help="quirk for generated cameras"
    )
    parser.add_argument("--rtsp", action=argparse.BooleanOptionalAction, default=True, help="serve RTSP streams")
    parser.add_argument("--rtsp-port", type=int, default=8554, help="RTSP port (0 picks a free one)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.fleet is not None:
        cameras = load_fleet_file(args.fleet, args.seed)
    else:
        cameras = generated_fleet(args.cameras, args.seed, args.skew, args.quirk)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(
            cameras,
            host=args.host,
            port=args.port,
            rtsp=args.rtsp,
            rtsp_port=args.rtsp_port,
            announce=lambda line: print(line, flush=True),
            stop=stop,
        )

    asyncio.run(run())
    return 0
