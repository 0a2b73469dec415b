"""Status writes: a JSON merge patch of the status subresource, sent only when status changed."""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient
from lightkube.types import PatchType


def status_patch(current: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch turning `current` into `desired`, or None when they are equal.

    Top-level fields that disappear are sent as null, which a merge patch reads as "delete".
    """
    current = current or {}
    if current == desired:
        return None
    patch: dict[str, Any] = {key: value for key, value in desired.items() if current.get(key) != value}
    patch.update({key: None for key in current if key not in desired})
    return patch


async def patch_status(
    client: AsyncClient, resource: Any, name: str, namespace: str | None, patch: dict[str, Any]
) -> dict[str, Any]:
    """Send the patch; return the object as the API server stored it."""
    updated = await client.patch(
        resource.Status, name, {"status": patch}, namespace=namespace, patch_type=PatchType.MERGE
    )
    stored: dict[str, Any] = updated.to_dict() if hasattr(updated, "to_dict") else dict(updated)
    return stored
