"""Access decision latency at a fixed request rate, with 10,000 grants loaded.

    .venv/bin/python bench/decision.py                      # 1,000 requests/s for 30 s, 10,000 grants

The server is the operator's own decision endpoint code (AccessState + Gateway + the aiohttp app of
`camfleet.gateway.http_api`, TLS, audit records on) in a child process of its own, loaded with N active
grants (live view, each naming a few of the owner's cameras) and their signed tokens. This process is the load
generator: an open loop that sends request i at t0 + i/rate whatever earlier answers took (so a stall shows as
latency instead of silently lowering the rate), each request `POST /v1/decide` with a random grant's token for
one of its cameras. Latency is measured from the moment a request was due until its answer arrived. The run
stops by itself after `--seconds`, and stops the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from access_manifests import OWNER, sharing_grant
from report import ARTIFACTS, Row, load_average, percentile, verdict, write_section

TARGET_P99_MS = 5.0


# -- the server (child process) ------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Load the grants, write their tokens for the load generator, then answer until SIGTERM."""
    from dataclasses import replace

    import fleet_manifests
    from camfleet.access.facts import CameraFacts, GrantFacts
    from camfleet.access.tokens import SigningKeys, claims_for_grant, issue
    from camfleet.api.camera import Camera
    from camfleet.api.sharing_grant import SharingGrant
    from camfleet.gateway.http_api import server_tls_context, start_gateway_server
    from camfleet.gateway.service import Gateway
    from camfleet.gateway.state import AccessState
    from camfleet.kube.webhook_tls import make_webhook_certificate
    from camfleet.observability.audit import configure_audit_log

    now = datetime.now(UTC)
    keys = SigningKeys.generate(now - timedelta(days=1))
    state = AccessState(keys)
    names = [f"cam-{i:05d}" for i in range(1, args.cameras + 1)]
    cameras = []
    for name in names:
        manifest = fleet_manifests.camera(OWNER, name, f"http://127.0.0.1:1/cam/{name}/onvif/device_service")
        cameras.append(CameraFacts.from_resource(Camera.model_validate(manifest)))
        state.set_camera(cameras[-1])
    tokens = []
    for index in range(args.grants):
        uid = f"00000000-0000-4000-8000-{index:012d}"
        manifest = sharing_grant(index, 100, names, now - timedelta(hours=1), now + timedelta(days=1), uid)
        facts = replace(GrantFacts.from_resource(SharingGrant.model_validate(manifest)), approved=True)
        state.set_grant(uid, facts)
        token = issue(claims_for_grant(facts, uid, cameras, None, now), keys)
        tokens.append({"token": token, "cameras": [f"{OWNER}/{n}" for n in manifest["spec"]["cameras"]["names"]]})
    Path(args.tokens_file).write_text(json.dumps(tokens))
    # As the operator does: one audit record per decision (here to a file instead of stdout).
    configure_audit_log(Path(args.audit_file).open("a"))  # noqa: SIM115 - open for the life of the process
    made = make_webhook_certificate(Path(tempfile.mkdtemp(prefix="camfleet-bench-decision-")), ["127.0.0.1"])
    tls = server_tls_context(made.certfile, made.pkeyfile)

    gateway = Gateway(state)
    in_gateway: list[float] = []  # the decision itself (with its metrics and audit record), without HTTP and TLS
    decide = gateway.decide

    def timed_decide(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return decide(*args, **kwargs)
        finally:
            in_gateway.append(time.perf_counter() - started)

    gateway.decide = timed_decide  # type: ignore[method-assign]

    async def answer_until_stopped() -> None:
        runner = await start_gateway_server(gateway, "127.0.0.1", 0, tls=tls)
        print(json.dumps({"port": runner.addresses[0][1], "grants": state.grant_count()}), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()
        measured = [1000 * seconds for seconds in in_gateway[50:]]  # after the client's warm-up
        print(json.dumps({"p50": percentile(measured, 0.5), "p99": percentile(measured, 0.99)}), flush=True)

    asyncio.run(answer_until_stopped())


# -- the load generator --------------------------------------------------------------------------------------


async def load(port: int, tokens: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    url = f"https://127.0.0.1:{port}/v1/decide"
    client_tls = ssl.create_default_context()
    client_tls.check_hostname = False
    client_tls.verify_mode = ssl.CERT_NONE  # a private certificate made for the run, on loopback
    total = int(rate * seconds)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    late_sends = 0
    pick = random.Random(8)
    bodies = []
    for _ in range(total):
        grant = pick.choice(tokens)
        bodies.append(json.dumps({"camera": pick.choice(grant["cameras"]), "permission": "LiveView", **grant}))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls, limit=200)) as session:

        async def one(body: str, due: float) -> None:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as answer:
                decided = await answer.json()
            latencies.append(time.perf_counter() - due)
            outcomes[decided["outcome"]] = outcomes.get(decided["outcome"], 0) + 1

        # Warm-up: connections and TLS sessions (not measured).
        await asyncio.gather(*(one(body, time.perf_counter()) for body in bodies[:50]))
        latencies.clear()
        outcomes.clear()
        pending = set()
        started = time.perf_counter()
        for i, body in enumerate(bodies):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.001:
                late_sends += 1
            task = asyncio.create_task(one(body, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "outcomes": outcomes, "elapsed": elapsed, "late_sends": late_sends}


def run(args: argparse.Namespace) -> list[Row]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tokens_file = ARTIFACTS / f"decision-tokens-{os.getpid()}.json"
    audit_file = ARTIFACTS / f"decision-audit-{os.getpid()}.log"
    command = [sys.executable, __file__, "serve", "--grants", str(args.grants), "--cameras", str(args.cameras)]
    command += ["--tokens-file", str(tokens_file), "--audit-file", str(audit_file)]
    print(f"loading {args.grants} grants into the decision endpoint", flush=True)
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise RuntimeError("the decision server exited before serving")
        info = json.loads(line)
        tokens = json.loads(tokens_file.read_text())
        print(f"{info['grants']} grants loaded; {args.rate:g} requests/s for {args.seconds:g} s", flush=True)
        result = asyncio.run(load(info["port"], tokens, args.rate, args.seconds))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            in_gateway = json.loads(server.communicate(timeout=10)[0] or "null")
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            server.kill()
            server.wait()
            in_gateway = None
        tokens_file.unlink(missing_ok=True)
        audit_file.unlink(missing_ok=True)
    latencies_ms = [1000 * seconds for seconds in result["latencies"]]
    p50, p99 = percentile(latencies_ms, 0.50), percentile(latencies_ms, 0.99)
    achieved = len(latencies_ms) / result["elapsed"]
    return [
        ("grants loaded", f"{info['grants']}", "10,000", verdict(info["grants"] >= 10_000)),
        ("requests answered", f"{len(latencies_ms)} in {result['elapsed']:.1f} s ({achieved:.0f}/s)",
         f"{args.rate:g}/s", ""),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items())), "all allowed", ""),
        ("decision latency p50", f"{p50:.2f} ms", "", ""),
        ("decision latency p99", f"{p99:.2f} ms", f"≤ {TARGET_P99_MS:g} ms", verdict(p99 <= TARGET_P99_MS)),
        ("decision latency max", f"{max(latencies_ms):.2f} ms", "", ""),
        ("of which in the decision itself (p50 / p99)",
         f"{in_gateway['p50']:.3f} / {in_gateway['p99']:.3f} ms" if in_gateway else "not reported", "", ""),
        ("requests sent > 1 ms late (generator lagging)", f"{result['late_sends']}", "", ""),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["serve"], help=argparse.SUPPRESS)
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=1_000, help="owner cameras the grants name")
    parser.add_argument("--rate", type=float, default=1_000, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--tokens-file", help=argparse.SUPPRESS)
    parser.add_argument("--audit-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args)
        return
    started_load = load_average()
    rows = run(args)
    notes = [
        "Server: the operator's decision endpoint (AccessState, Gateway with audit records, the aiohttp app of "
        "camfleet.gateway.http_api) over TLS on 127.0.0.1, in a process of its own; the load generator is "
        "this process (aiohttp, keep-alive, certificate not verified).",
        f"Open loop: request i is due at t0 + i/{args.rate:g} s; latency runs from that moment to the answer, so "
        "queueing behind a slow answer counts. Each request carries the token of a random grant for one of its "
        f"{args.cameras} cameras; tokens are verified once (Ed25519) and then remembered, as in the operator.",
        "Both processes share the machine's 2 cores with whatever else runs (see the load average).",
    ]
    command = "bench/decision.py " + " ".join(sys.argv[1:])
    write_section("Decision latency", command, rows, notes, started_load)


if __name__ == "__main__":
    main()
