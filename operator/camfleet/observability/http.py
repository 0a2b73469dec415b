"""The operator's own HTTP endpoint: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


@dataclass
class Health:
    """Set by the operator as it starts; read by the probes."""

    crds_ready: bool = False
    kopf_started: bool = False

    @property
    def ready(self) -> bool:
        return self.crds_ready and self.kopf_started


def make_app(health: Health) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        # Liveness: the event loop answers. Readiness is separate so a slow
        # start never gets the pod killed.
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if health.ready:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="starting\n")

    async def metrics(request: web.Request) -> web.Response:
        # `?name[]=...` selects families, as prometheus_client's own server does: a fleet has per-camera series,
        # and a probe that wants one counter should not pay for rendering all of them.
        names = request.query.getall("name[]", [])
        registry = REGISTRY.restricted_registry(names) if names else REGISTRY
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_http(health: Health, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(make_app(health), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
