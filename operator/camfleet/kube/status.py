"""Status writes: one generic writer for every kind.

The desired status is the kind's typed model (from a pure status function in the kind's domain
package). It is serialised by alias with absent fields left out, compared with the stored status,
and sent as a JSON merge patch of the status subresource only when something changed.

A merge patch merges objects, so a changed field is sent whole *with* null for every key that
vanished inside it (at any depth); a field the model declares that vanished altogether is sent as
null. Keys the model does not declare (another writer's, e.g. kopf's) are left alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.types import PatchType

from camfleet.api.conditions import ObjectStatus


def replacement(current: Any, desired: Any) -> Any:
    """The merge-patch value that turns `current` into exactly `desired` (objects replaced, not merged)."""
    if not isinstance(desired, Mapping) or not isinstance(current, Mapping):
        return desired
    patch: dict[str, Any] = {key: replacement(current.get(key), value) for key, value in desired.items()}
    patch.update({key: None for key in current if key not in desired})
    return patch


def status_patch(
    current: Mapping[str, Any] | None, desired: Mapping[str, Any], owned: Collection[str] | None = None
) -> dict[str, Any] | None:
    """The merge patch turning `current` into `desired`, or None when they are equal.

    Only `owned` top-level keys are compared (all keys of `current` when None); an owned key that
    disappears is sent as null, which a merge patch reads as "delete".
    """
    current = current or {}
    mine = set(current) if owned is None else set(owned)
    patch: dict[str, Any] = {
        key: replacement(current.get(key), value) for key, value in desired.items() if current.get(key) != value
    }
    patch.update({key: None for key in current if key in mine and key not in desired})
    return patch or None


def status_fields(model: type[ObjectStatus]) -> frozenset[str]:
    """The JSON names of the fields a status model declares: what its writer owns."""
    return frozenset(info.alias or name for name, info in model.model_fields.items())


def status_body(status: ObjectStatus) -> dict[str, Any]:
    """The status as the API server stores it: JSON names, absent fields left out."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


async def patch_status(
    client: AsyncClient, resource: Any, name: str, namespace: str | None, patch: dict[str, Any]
) -> dict[str, Any]:
    """Send the patch; return the object as the API server stored it."""
    updated = await client.patch(
        resource.Status, name, {"status": patch}, namespace=namespace, patch_type=PatchType.MERGE
    )
    stored: dict[str, Any] = updated.to_dict() if hasattr(updated, "to_dict") else dict(updated)
    return stored


async def write_status(
    client: AsyncClient, resource: Any, body: Mapping[str, Any], desired: ObjectStatus
) -> dict[str, Any] | None:
    """Make the stored status of `body` equal `desired`; the stored object, or None when nothing changed."""
    patch = status_patch(body.get("status"), status_body(desired), status_fields(type(desired)))
    if patch is None:
        return None
    metadata = body["metadata"]
    return await patch_status(client, resource, metadata["name"], metadata.get("namespace"), patch)
