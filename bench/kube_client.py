"""The benchmarks' own API client: plain HTTP with JSON bodies, nothing between the loop and the API server.

It uses the kubeconfig's server, CA and client certificate (through lightkube's config loader), keeps a
connection per request in flight, and names itself `camfleet-bench` so the audit log can tell it apart.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx2 as httpx
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig

from apiserver import BENCH_AGENT
from camfleet.api import KINDS

PLURALS = {
    "StorageClass": "storageclasses",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    **{info.kind: info.plural for info in KINDS},
}


def collection_path(manifest: dict[str, Any]) -> str:
    """The URL path a manifest is POSTed to."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    plural = PLURALS.get(kind) or f"{kind.lower()}s"
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    namespace = manifest["metadata"].get("namespace")
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


class BenchApi:
    def __init__(self, kubeconfig: Path, concurrency: int = 32) -> None:
        config = KubeConfig.from_file(kubeconfig).get()
        params = ConnectionParams(timeout=httpx.Timeout(60)).httpx_params(config)
        limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
        self._http = httpx.AsyncClient(**params, limits=limits, headers={"User-Agent": BENCH_AGENT})
        self.concurrency = concurrency

    async def close(self) -> None:
        await self._http.aclose()

    async def create(self, manifest: dict[str, Any]) -> None:
        """POST, retrying when the server asks to slow down; 409 (already there) counts as done."""
        body = json.dumps(manifest).encode()
        for attempt in range(10):
            answer = await self._http.post(
                collection_path(manifest), content=body, headers={"Content-Type": "application/json"}
            )
            if answer.status_code in (200, 201, 202, 409):
                return
            if answer.status_code not in (429, 500, 503, 504):
                answer.raise_for_status()
            await asyncio.sleep(0.2 * (attempt + 1))
        answer.raise_for_status()

    async def create_all(self, manifests: Iterable[dict[str, Any]]) -> float:
        """Create every manifest with `concurrency` requests in flight; return the seconds it took."""
        pending = iter(manifests)
        started = time.monotonic()

        async def worker() -> None:
            for manifest in pending:
                await self.create(manifest)

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return time.monotonic() - started

    async def get_json(self, path: str) -> Any:
        answer = await self._http.get(path)
        answer.raise_for_status()
        return answer.json()

    async def get_text(self, path: str) -> str:
        answer = await self._http.get(path)
        answer.raise_for_status()
        return answer.text

    async def delete(self, path: str) -> None:
        answer = await self._http.delete(path)
        if answer.status_code != 404:
            answer.raise_for_status()

    async def watch(self, path: str, resource_version: str) -> AsyncIterator[dict[str, Any]]:
        """Watch events from `resource_version` until the server ends the stream."""
        params = {"watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        timeout = httpx.Timeout(60, read=None)
        async with self._http.stream("GET", path, params=params, timeout=timeout) as answer:
            answer.raise_for_status()
            async for line in answer.aiter_lines():
                if line.strip():
                    yield json.loads(line)
