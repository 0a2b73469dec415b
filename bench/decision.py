"""Access decision latency at a fixed request rate, with N grants loaded.

    .venv/bin/python bench/decision.py                                   # 1,000 requests/s for 30 s, 10,000 grants
    .venv/bin/python bench/decision.py --rate 5000 --grants 100000 --runs 3
    .venv/bin/python bench/decision.py --gc default                      # the collector left as Python sets it
    .venv/bin/python bench/decision.py --seconds 20 --py-spy /tmp/spy    # where the server's CPU goes (py-spy)

Three processes. The server is the operator's own decision endpoint code (AccessState + Gateway + the aiohttp
app of `camfleet.gateway.http_api`, TLS, audit records on) loaded with N active grants (live view, each naming
a few of the owner's cameras) and their signed tokens, with the operator's event-loop watch (lag probe, the
collector's thresholds and freezing, `camfleet.observability.event_loop`). The load generator is a process of
its own, so that its pauses are not the door's: an open loop that sends request i at t0 + i/rate whatever
earlier answers took (a stall shows as latency instead of silently lowering the rate), each request
`POST /v1/decide` with a random grant's token for one of its cameras, as an authenticated gateway (a
credential made for the run, sent as basic auth as MediaMTX sends it). Latency runs from the moment a request
was due until its answer arrived. The generator also says how late it sent (from the due time to the moment
the request was handed to a connection); when that lateness's p99 exceeds the latency target the run measured
the generator, not the door, and no latency figure is reported for it. The server is measured only once it has
settled: grants loaded, heap collected and frozen, and its loop quiet for a second. Both processes report their
CPU time per request, a figure that, unlike latency, hardly depends on what else runs on the machine. This
process starts both, collects their figures and writes the table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import gc
import json
import os
import random
import secrets
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from access_manifests import OWNER, sharing_grant
from report import ARTIFACTS, Row, load_average, percentile, verdict, write_section

TARGET_P99_MS = 5.0
WARM_UP_REQUESTS = 50


def _ms(values: list[float]) -> list[float]:
    return [1000 * value for value in values]


def _spread(values_ms: list[float]) -> str:
    if not values_ms:
        return "none"
    return f"p50 {percentile(values_ms, 0.5):.2f}, p99 {percentile(values_ms, 0.99):.2f}, max {max(values_ms):.2f} ms"


# -- the server (child process) ------------------------------------------------------------------------------


class _Pauses:
    """Garbage collections (generation, wall seconds, CPU seconds) and the loop's lag, from the last reset on.
    A collection's CPU time is its own work; its wall time also counts the moments the process waited for a core."""

    def __init__(self) -> None:
        self.collections: list[tuple[int, float, float]] = []
        self.lag: list[float] = []
        self.in_gateway: list[float] = []
        self._started = (0.0, 0.0)
        self.cpu_at_reset = time.process_time()
        gc.callbacks.append(self._collection)

    def _collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
        else:
            wall, cpu = time.perf_counter() - self._started[0], time.thread_time() - self._started[1]
            self.collections.append((info["generation"], wall, cpu))

    def reset(self) -> None:
        self.cpu_at_reset = time.process_time()
        self.collections.clear()
        self.lag.clear()
        self.in_gateway.clear()

    def summary(self) -> dict[str, Any]:
        by_generation: dict[str, Any] = {}
        for generation in (0, 1, 2):
            wall = _ms([seconds for g, seconds, _ in self.collections if g == generation])
            cpu = _ms([seconds for g, _, seconds in self.collections if g == generation])
            by_generation[str(generation)] = {
                "count": len(wall), "max": max(wall, default=0.0), "cpu_max": max(cpu, default=0.0), "sum": sum(wall)
            }  # fmt: skip
        in_gateway = _ms(self.in_gateway)
        return {
            "cpu_seconds": time.process_time() - self.cpu_at_reset,
            "collections": by_generation,
            "lag": _spread(_ms(self.lag)),
            "in_gateway": f"{percentile(in_gateway, 0.5):.3f} / {percentile(in_gateway, 0.99):.3f} ms",
        }


def serve(args: argparse.Namespace) -> None:
    """Load the grants, write their tokens for the load generator, then answer until SIGTERM."""
    from camfleet.gateway.callers import GatewayCallers, GatewayCredential
    from camfleet.gateway.http_api import server_tls_context, start_gateway_server
    from camfleet.gateway.service import Gateway
    from camfleet.kube.webhook_tls import make_webhook_certificate
    from camfleet.observability.audit import configure_audit_log
    from camfleet.observability.event_loop import probe_lag, settle_heap, watch_event_loop

    pauses = _Pauses()
    state = _loaded_state(args)
    # As the operator does: one audit record per decision (here to a file instead of stdout).
    configure_audit_log(Path(args.audit_file).open("a"))  # noqa: SIM115 - open for the life of the process
    made = make_webhook_certificate(Path(tempfile.mkdtemp(prefix="camfleet-bench-decision-")), ["127.0.0.1"])
    tls = server_tls_context(made.certfile, made.pkeyfile)
    credential = GatewayCredential("bench", secrets.token_urlsafe(32))
    Path(args.tokens_file + ".gateway").write_text(credential.token)  # for the load generator
    gateway = Gateway(state, callers=GatewayCallers([credential]))
    decide = gateway.decide

    def timed_decide(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return decide(*args, **kwargs)
        finally:
            pauses.in_gateway.append(time.perf_counter() - started)

    gateway.decide = timed_decide  # type: ignore[method-assign]

    async def answer_until_stopped() -> None:
        loop = asyncio.get_running_loop()
        watch = [asyncio.create_task(probe_lag(0.01, pauses.lag.append))]
        if args.gc == "tuned":
            # The operator's collector schedule (it settles the heap every second, so grants loaded at start are
            # frozen a second later); here also right after loading, before serving.
            watch.append(asyncio.create_task(watch_event_loop()))
            await asyncio.sleep(0)
            settle_heap(full=True)
        runner = await start_gateway_server(gateway, "127.0.0.1", 0, tls=tls)
        quiet_after = await _settled(pauses.lag)
        ready = {"port": runner.addresses[0][1], "grants": state.grant_count(), "quiet_after": quiet_after}
        print(json.dumps(ready), flush=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, pauses.reset)  # the generator's warm-up is over
        await stop.wait()
        for task in watch:
            task.cancel()
        await runner.cleanup()
        print(json.dumps(pauses.summary()), flush=True)

    asyncio.run(answer_until_stopped())


QUIET_LAG_SECONDS = 0.002
QUIET_FOR = 1.0
SETTLE_TIMEOUT = 60.0


async def _settled(lag: list[float]) -> float | None:
    """Wait until the loading is over for the loop: a full second (and at least two of the collector's
    one-second settles) in which no probe was late by more than 2 ms. Seconds waited, or None after a minute
    without such a second (the run goes on and says so)."""
    started = time.perf_counter()
    probes = int(QUIET_FOR / 0.01)
    await asyncio.sleep(2.0)
    while time.perf_counter() - started < SETTLE_TIMEOUT:
        recent = lag[-probes:]
        if len(recent) == probes and max(recent) < QUIET_LAG_SECONDS:
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    return None


def _loaded_state(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    import fleet_manifests
    from camfleet.access.decision_inputs import CameraFacts, GrantFacts
    from camfleet.access.tokens import SigningKeys, claims_for_grant, issue
    from camfleet.api.camera import Camera
    from camfleet.api.sharing_grant import SharingGrant
    from camfleet.gateway.state import AccessState

    now = datetime.now(UTC)
    keys = SigningKeys.generate(now - timedelta(days=1))
    state = AccessState(keys)
    names = [f"cam-{i:05d}" for i in range(1, args.cameras + 1)]
    cameras = []
    for name in names:
        manifest = fleet_manifests.camera(OWNER, name, f"http://127.0.0.1:1/cam/{name}/onvif/device_service")
        cameras.append(CameraFacts.from_resource(Camera.model_validate(manifest)))
        state.set_camera(cameras[-1])
    by_name = dict(zip(names, cameras, strict=True))
    tokens = []
    for index in range(args.grants):
        uid = f"00000000-0000-4000-8000-{index:012d}"
        manifest = sharing_grant(index, 100, names, now - timedelta(hours=1), now + timedelta(days=1), uid)
        facts = replace(GrantFacts.from_resource(SharingGrant.model_validate(manifest)), approved=True)
        state.set_grant(uid, facts)
        named = manifest["spec"]["cameras"]["names"]
        # The grant selects its cameras by name: only those can be in its token (the others would only be
        # looked at and left out, 1,000 times per grant).
        token = issue(claims_for_grant(facts, uid, [by_name[n] for n in named], None, now), keys)
        tokens.append({"token": token, "cameras": [f"{OWNER}/{n}" for n in named]})
    Path(args.tokens_file).write_text(json.dumps(tokens))
    return state


# -- the load generator (child process) ----------------------------------------------------------------------


def generate(args: argparse.Namespace) -> None:
    """Send the requests, then print one JSON line: latencies, outcomes, how late each request was sent."""
    tokens = json.loads(Path(args.tokens_file).read_text())
    total = int(args.rate * args.seconds)
    pick = random.Random(8)
    bodies = []
    for _ in range(max(WARM_UP_REQUESTS, _connections(args.rate)) + total):
        grant = pick.choice(tokens)
        body = {"camera": pick.choice(grant["cameras"]), "permission": "LiveView", "token": grant["token"]}
        bodies.append(json.dumps(body).encode())
    del tokens
    # The generator's own collections would show as the door's latency: none during the run (it is short).
    gc.collect()
    gc.freeze()
    gc.disable()
    gateway_token = Path(args.tokens_file + ".gateway").read_text()
    result = asyncio.run(_open_loop(args.port, bodies, args.rate, gateway_token))
    Path(args.result_file).write_text(json.dumps(result))


STALL_ABSORBED = 0.064
"""Keep-alive connections the generator opens during the warm-up and uses throughout, one request at a time
each (HTTP/1.1, as a gateway's connection pool): enough for the requests of 64 ms (64 at 1,000 requests/s). Requests due
while every connection is busy wait for the next free one (their wait counts as latency, from the due time).
No connection is opened during the measurement: a burst of TLS handshakes in both processes would be the
generator's doing, not the door's."""


def _connections(rate: float) -> int:
    return max(64, int(rate * STALL_ABSORBED))


class _Connection(asyncio.Protocol):
    """One keep-alive HTTPS connection; requests are written as prepared bytes, answers read by Content-Length.
    An asyncio protocol rather than an HTTP client library: the generator shares the cores with the server it
    measures, so it spends as little CPU per request as it can (aiohttp's client cost about as much as the
    server's whole request)."""

    def __init__(self, on_answer: Any) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._on_answer = on_answer
        self.due = 0.0
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        self.due = due
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self._buffer[:head_end]).lower()
        at = head.index(b"content-length:") + len(b"content-length:")
        line_end = head.find(b"\r\n", at)
        end = head_end + 4 + int(head[at : line_end if line_end > 0 else None])
        if len(self._buffer) < end:
            return
        answered = time.perf_counter()
        status, body = int(self._buffer[9:12]), bytes(self._buffer[head_end + 4 : end])
        del self._buffer[:end]
        self._on_answer(self, answered - self.due, status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


def _request(body: bytes, basic: str) -> bytes:
    head = (
        "POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Basic {basic}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _open_loop(port: int, bodies: list[bytes], rate: float, gateway_token: str) -> dict[str, Any]:
    from camfleet.observability.event_loop import probe_lag

    loop = asyncio.get_running_loop()
    client_tls = ssl.create_default_context()
    client_tls.check_hostname = False
    client_tls.verify_mode = ssl.CERT_NONE  # a private certificate made for the run, on loopback
    basic = base64.b64encode(f"bench:{gateway_token}".encode()).decode()
    requests = [_request(body, basic) for body in bodies]
    latencies: list[float] = []
    late: list[float] = []
    lag: list[float] = []
    outcomes: dict[str, int] = {}
    idle: list[_Connection] = []
    backlog: collections.deque[tuple[bytes, float]] = collections.deque()
    expected = [0]
    all_answered: list[asyncio.Future[None]] = [loop.create_future()]

    def on_answer(connection: _Connection, latency: float, status: int, body: bytes) -> None:
        latencies.append(latency)
        outcome = json.loads(body).get("outcome", f"HTTP {status}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if backlog:
            connection.send(*backlog.popleft())
        else:
            idle.append(connection)
        if len(latencies) == expected[0] and not all_answered[0].done():
            all_answered[0].set_result(None)

    def submit(request: bytes, due: float) -> None:
        late.append(time.perf_counter() - due)
        if idle:
            idle.pop().send(request, due)
        else:
            backlog.append((request, due))

    async def connect() -> _Connection:
        _, connection = await loop.create_connection(
            lambda: _Connection(on_answer), "127.0.0.1", port, ssl=client_tls
        )  # fmt: skip
        return connection

    connections = await asyncio.gather(*(connect() for _ in range(_connections(rate))))
    idle.extend(connections)
    # Warm-up (not measured): every connection carries a request or more, so TLS and the server's per-connection
    # state are set up before the measurement.
    warm_up = requests[: max(WARM_UP_REQUESTS, len(connections))]
    expected[0] = len(warm_up)
    for request in warm_up:
        submit(request, time.perf_counter())
    await asyncio.wait_for(all_answered[0], timeout=120)
    latencies.clear(), late.clear(), outcomes.clear()
    measured = requests[len(warm_up) :]
    expected[0], all_answered[0] = len(measured), loop.create_future()
    print("measuring", flush=True)
    probe = asyncio.create_task(probe_lag(0.01, lag.append))
    started, cpu_started = time.perf_counter(), time.process_time()
    for i, request in enumerate(measured):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        submit(request, due)
    sent_for = time.perf_counter() - started
    # A server that cannot keep up still gets time to answer (its queue is the figure), but not forever.
    waited = [all_answered[0], *(c.lost for c in connections)]
    await asyncio.wait(waited, timeout=max(120, 10 * sent_for), return_when=asyncio.FIRST_COMPLETED)
    unanswered = len(measured) - len(latencies)
    elapsed, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    probe.cancel()
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    return {
        "latencies": latencies, "late": late, "lag": lag, "outcomes": outcomes, "elapsed": elapsed,
        "cpu_seconds": cpu_seconds, "unanswered": unanswered,
        "connections_lost": sum(1 for c in connections if c.lost.done()),
    }  # fmt: skip


# -- this process ----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, run_number: int) -> dict[str, Any]:
    """One run: start the server, then the generator; their figures."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    files = {name: ARTIFACTS / f"decision-{name}-{os.getpid()}.json" for name in ("tokens", "audit", "result")}
    me = [sys.executable, __file__]
    server_command = [*me, "serve", "--grants", str(args.grants), "--cameras", str(args.cameras), "--gc", args.gc]
    server_command += ["--tokens-file", str(files["tokens"]), "--audit-file", str(files["audit"])]
    print(f"run {run_number}: loading {args.grants} grants into the decision endpoint", flush=True)
    server = subprocess.Popen(server_command, stdout=subprocess.PIPE, text=True)
    server_summary = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise RuntimeError("the decision server exited before serving")
        info = json.loads(line)
        quiet = "never quiet" if info["quiet_after"] is None else f"quiet after {info['quiet_after']:.1f} s"
        print(f"{info['grants']} grants loaded, server {quiet}; {args.rate:g} requests/s for {args.seconds:g} s")
        load_at_start = load_average()
        generator_command = [*me, "generate", "--port", str(info["port"]), "--rate", str(args.rate)]
        generator_command += ["--seconds", str(args.seconds), "--tokens-file", str(files["tokens"])]
        generator_command += ["--result-file", str(files["result"])]
        generator = subprocess.Popen(generator_command, stdout=subprocess.PIPE, text=True)
        assert generator.stdout is not None
        if generator.stdout.readline().strip() == "measuring":
            server.send_signal(signal.SIGUSR1)
        profilers = _profile({"server": server.pid, "generator": generator.pid}, args, run_number)
        if generator.wait() != 0:
            raise RuntimeError("the load generator failed")
        for profiler in profilers:
            profiler.wait(timeout=60)
        result = json.loads(files["result"].read_text())
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server_summary = json.loads(server.communicate(timeout=30)[0] or "null")
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            server.kill()
            server.wait()
        for path in (*files.values(), Path(f"{files['tokens']}.gateway")):
            path.unlink(missing_ok=True)
    return {
        "grants": info["grants"], "quiet_after": info["quiet_after"], "load": load_at_start, "server": server_summary,
        **result,
    }  # fmt: skip


def _profile(pids: dict[str, int], args: argparse.Namespace, run_number: int) -> list[subprocess.Popen[bytes]]:
    """With --py-spy DIR: sample each process during the measured part (py-spy, 100 Hz, raw collapsed stacks
    `DIR/decision-<process>-run<N>.txt`, idle threads left out; --py-spy-gil: only the thread holding the GIL)."""
    if not args.py_spy:
        return []
    Path(args.py_spy).mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    started = []
    for name, pid in pids.items():
        output = Path(args.py_spy) / f"decision-{name}-run{run_number}.txt"
        command = [str(py_spy), "record", "--pid", str(pid), "--rate", "100", "--duration", str(int(args.seconds))]
        command += ["--format", "raw", "--output", str(output), "--nonblocking"]
        command += ["--gil"] if args.py_spy_gil else []
        started.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return started


def _cpu_words(server: dict[str, Any], measured: dict[str, Any]) -> str:
    """CPU time per answered request of both processes: unlike latency, hardly changed by what else runs."""
    answered = max(1, len(measured["latencies"]))
    server_cpu = server.get("cpu_seconds")
    server_words = f"{1000 * server_cpu / answered:.3f}" if server_cpu is not None else "?"
    return f"{server_words} / {1000 * measured['cpu_seconds'] / answered:.3f} ms"


def _quiet_words(quiet_after: float | None) -> str:
    limit = f"no probe late by {1000 * QUIET_LAG_SECONDS:g} ms for {QUIET_FOR:g} s"
    if quiet_after is None:
        return f"NO: never {limit} within {SETTLE_TIMEOUT:g} s"
    return f"{limit}, {quiet_after:.1f} s after serving"


def rows_of(number: int, measured: dict[str, Any], rate: float) -> list[Row]:
    latencies, late = _ms(measured["latencies"]), _ms(measured["late"])
    late_p99 = percentile(late, 0.99)
    trusted = late_p99 <= TARGET_P99_MS
    p99 = percentile(latencies, 0.99)
    prefix = f"run {number}: "
    unanswered = measured.get("unanswered", 0)
    if unanswered:
        latency = (
            f"not reported: {unanswered} requests unanswered when the generator gave up "
            f"({measured['connections_lost']} connections closed by the server)"
        )
        met = verdict(False)
    elif trusted:
        latency = _spread(latencies)
        met = verdict(p99 <= TARGET_P99_MS)
    else:
        latency = f"not reported: the load generator sent late (p99 {late_p99:.2f} ms > {TARGET_P99_MS:g} ms)"
        met = "INVALID"
    server = measured["server"] or {}
    collections = server.get("collections", {})
    gc_words = ", ".join(
        f"gen{g} {c['count']} (max {c['max']:.1f} ms, {c['cpu_max']:.1f} ms CPU)"
        for g, c in sorted(collections.items())
        if c["count"]
    )
    achieved = len(latencies) / measured["elapsed"]
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(measured["outcomes"].items()))
    return [
        (prefix + "decision latency", latency, f"p99 ≤ {TARGET_P99_MS:g} ms", met),
        (prefix + "load average at start", measured["load"], "", ""),
        (prefix + "server settled before the run", _quiet_words(measured["quiet_after"]), "", ""),
        (prefix + "answered", f"{len(latencies)} in {measured['elapsed']:.1f} s ({achieved:.0f}/s); {outcomes}",
         f"{rate:g}/s, all allowed", ""),
        (prefix + "generator: sent late by", _spread(late), f"p99 ≤ {TARGET_P99_MS:g} ms", verdict(trusted)),
        (prefix + "generator: own loop lag", _spread(_ms(measured["lag"])), "", ""),
        (prefix + "server: loop lag (10 ms probe)", server.get("lag", "not reported"), "", ""),
        (prefix + "server: in the decision itself p50 / p99", server.get("in_gateway", "not reported"), "", ""),
        (prefix + "server: garbage collections", gc_words or "none", "", ""),
        (prefix + "CPU per request: server / generator", _cpu_words(server, measured), "", ""),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["serve", "generate"], help=argparse.SUPPRESS)
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=1_000, help="owner cameras the grants name")
    parser.add_argument("--rate", type=float, default=1_000, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--runs", type=int, default=1, help="consecutive runs, each with a fresh server")
    parser.add_argument(
        "--gc", choices=["tuned", "default"], default="tuned",
        help="tuned: the operator's collector schedule (camfleet.observability.event_loop); default: Python's",
    )  # fmt: skip
    parser.add_argument("--py-spy", metavar="DIR", help="sample server and generator with py-spy into DIR")
    parser.add_argument("--py-spy-gil", action="store_true", help="with --py-spy: only the thread holding the GIL")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens-file", help=argparse.SUPPRESS)
    parser.add_argument("--audit-file", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args)
        return
    if args.mode == "generate":
        generate(args)
        return
    started_load = load_average()
    rows: list[Row] = []
    for number in range(1, args.runs + 1):
        rows += rows_of(number, run(args, number), args.rate)
    notes = [
        "Server: the operator's decision endpoint (AccessState, Gateway with audit records, the aiohttp app of "
        "camfleet.gateway.http_api) over TLS on 127.0.0.1, in a process of its own, with the operator's "
        f"event-loop watch (collector: {args.gc}). Load generator: another process (an asyncio protocol "
        f"writing prepared HTTP/1.1 requests on {_connections(args.rate)} keep-alive TLS connections opened before the "
        "measurement, certificate not verified, its own collector off during the run).",
        f"Open loop: request i is due at t0 + i/{args.rate:g} s; latency runs from that moment to the answer, so "
        "queueing behind a slow answer counts. Each request carries the token of a random grant for one of its "
        f"{args.cameras} cameras; tokens are verified once (Ed25519) and then remembered, as in the operator.",
        "A run whose generator sent late (p99 over the target) is INVALID: it measured the generator, not the door.",
        "Server collections: Python's cyclic garbage collector, by generation, during the measured part: how many, "
        "the longest in wall time and the longest in CPU time (its own work, without waiting for a core).",
        "All three processes share the machine's cores with whatever else runs (see the load averages).",
    ]
    command = "bench/decision.py " + " ".join(sys.argv[1:])
    title = f"Decision latency: {args.rate:,.0f} requests/s, {args.grants:,} grants"
    if args.gc != "tuned":
        title += f", collector {args.gc}"
    write_section(title, command, rows, notes, started_load)


if __name__ == "__main__":
    main()
