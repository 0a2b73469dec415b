"""Check, and on request install, the CRDs the operator needs before it starts watching."""

from __future__ import annotations

import asyncio
from typing import Any

from lightkube import AsyncClient, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from camfleet.api.crds import all_crds
from camfleet.config import FIELD_MANAGER
from camfleet.kube.apply import APPLIED_HASH_ANNOTATION, get_or_none, manifest_digest
from camfleet.kube.peering import cluster_peering_object, peering_crds


class CrdsMissing(RuntimeError):
    """Raised at start-up when CRDs are absent and the operator was not asked to install them."""


def required_crds() -> list[dict[str, Any]]:
    """camfleet's own CRDs plus kopf's peering CRDs, in install order."""
    return [*all_crds(), *peering_crds()]


def _is_established(crd: CustomResourceDefinition) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


async def missing_crds(client: AsyncClient, crds: list[dict[str, Any]]) -> list[str]:
    missing = []
    for crd in crds:
        name = crd["metadata"]["name"]
        found = await get_or_none(client, CustomResourceDefinition, name)
        if found is None or not _is_established(found):
            missing.append(name)
    return missing


ESTABLISH_TIMEOUT_SECONDS = 60


async def _applied_digest(client: AsyncClient, name: str) -> str | None:
    found = await get_or_none(client, CustomResourceDefinition, name)
    if found is None:
        return None
    return ((found.metadata.annotations if found.metadata else None) or {}).get(APPLIED_HASH_ANNOTATION)


async def install_crds(client: AsyncClient, crds: list[dict[str, Any]]) -> None:
    """Server-side apply every CRD that differs from what was applied last (so upgrades take effect, and a
    restart writes nothing), and wait until each is Established."""
    for crd in crds:
        digest = manifest_digest(crd)
        if await _applied_digest(client, crd["metadata"]["name"]) == digest:
            continue
        annotated = {**crd, "metadata": {**crd["metadata"], "annotations": {APPLIED_HASH_ANNOTATION: digest}}}
        await client.apply(codecs.from_dict(annotated), field_manager=FIELD_MANAGER, force=True)
    pending: list[str] = []
    try:
        async with asyncio.timeout(ESTABLISH_TIMEOUT_SECONDS):
            while pending := await missing_crds(client, crds):  # noqa: ASYNC110 - polls the API server
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise CrdsMissing(f"CRDs not Established after {ESTABLISH_TIMEOUT_SECONDS}s: {', '.join(pending)}") from None
    peering = create_global_resource("kopf.dev", "v1", "ClusterKopfPeering", "clusterkopfpeerings")
    if await get_or_none(client, peering, cluster_peering_object()["metadata"]["name"]) is None:
        await client.apply(peering.from_dict(cluster_peering_object()), field_manager=FIELD_MANAGER, force=True)


async def ensure_crds(client: AsyncClient, install: bool) -> None:
    crds = required_crds()
    if install:
        await install_crds(client, crds)
        return
    missing = await missing_crds(client, crds)
    if missing:
        raise CrdsMissing(
            f"CRDs not installed: {', '.join(missing)}. Install them with "
            "`camfleet crds | kubectl apply --server-side -f -` or start the operator with --install-crds."
        )
