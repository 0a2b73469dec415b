"""StorageClass facts the recording controller needs: does it exist, expand, and encrypt (R17)?"""

from __future__ import annotations

from dataclasses import dataclass

from lightkube import AsyncClient
from lightkube.resources.storage_v1 import StorageClass

from camfleet.kube.apply import get_or_none

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
ENCRYPTED_ANNOTATION = "camfleet.io/encrypted"
ENCRYPTION_MARKS = f"annotation {ENCRYPTED_ANNOTATION}=true or parameter encrypted=true"
"""How a StorageClass is marked encrypted, in words for conditions (R17)."""


@dataclass(frozen=True)
class StorageClassFacts:
    name: str
    expansion_allowed: bool
    encrypted: bool


def _facts(storage_class: StorageClass) -> StorageClassFacts:
    annotations = (storage_class.metadata.annotations if storage_class.metadata else None) or {}
    parameters = storage_class.parameters or {}
    # Marked by the platform team with our annotation, or by the driver's own parameter (EBS, PD, Azure Disk).
    encrypted = annotations.get(ENCRYPTED_ANNOTATION) == "true" or parameters.get("encrypted") == "true"
    name = storage_class.metadata.name if storage_class.metadata and storage_class.metadata.name else ""
    return StorageClassFacts(name=name, expansion_allowed=bool(storage_class.allowVolumeExpansion), encrypted=encrypted)


async def storage_class_facts(client: AsyncClient, name: str | None) -> StorageClassFacts | None:
    """The named class, or the cluster default when `name` is None; None when there is no such class."""
    if name is not None:
        found = await get_or_none(client, StorageClass, name)
        return _facts(found) if found is not None else None
    async for candidate in client.list(StorageClass):
        annotations = (candidate.metadata.annotations if candidate.metadata else None) or {}
        if annotations.get(DEFAULT_CLASS_ANNOTATION) == "true":
            return _facts(candidate)
    return None
