"""Server-side apply with camfleet's one field manager, and deletes that tolerate absence."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from camfleet.config import FIELD_MANAGER

# The digest of the manifest an object was last applied from: a restarted operator compares instead of re-applying.
APPLIED_HASH_ANNOTATION = "camfleet.io/applied-hash"


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()


async def apply(client: AsyncClient, manifest: dict[str, Any]) -> dict[str, Any]:
    """Apply `manifest` (force: camfleet owns these fields); return the object as stored, status included."""
    stored = await client.apply(codecs.from_dict(manifest), field_manager=FIELD_MANAGER, force=True)
    result: dict[str, Any] = stored.to_dict()  # type: ignore[no-untyped-call]  # lightkube leaves it unannotated
    return result


async def delete_if_present(client: AsyncClient, resource: Any, name: str, namespace: str | None) -> bool:
    """Delete; True when something was deleted, False when it was already gone."""
    try:
        await client.delete(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


async def get_or_none(client: AsyncClient, resource: Any, name: str, namespace: str | None = None) -> Any:
    try:
        return await client.get(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise


async def annotate(
    client: AsyncClient, resource: Any, name: str, namespace: str | None, annotations: Mapping[str, str | None]
) -> None:
    """Set (or, with None, remove) annotations of an object camfleet manages, as camfleet's one field manager."""
    await client.patch(
        resource,
        name,
        {"metadata": {"annotations": dict(annotations)}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
        field_manager=FIELD_MANAGER,
    )
