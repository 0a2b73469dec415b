"""Device credentials from Secrets, read on every pass so a rotation takes effect without a restart; and the
Secrets camfleet writes itself, written only when what is stored differs."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from camfleet.api.camera import CredentialsSecretRef
from camfleet.cameras.device_pass import Credentials
from camfleet.kube.apply import apply, get_or_none
from camfleet.kube.ownership import check_owned


class CredentialsUnavailable(Exception):
    """The Secret or one of its keys is missing; the message names them, never a value."""


async def read_credentials(client: AsyncClient, namespace: str, ref: CredentialsSecretRef) -> Credentials:
    secret = await get_or_none(client, Secret, ref.name, namespace)
    if secret is None:
        raise CredentialsUnavailable(f"Secret {namespace}/{ref.name} not found")
    data = secret.data or {}
    missing = [key for key in (ref.username_key, ref.password_key) if key not in data]
    if missing:
        raise CredentialsUnavailable(f"Secret {namespace}/{ref.name} has no key {', '.join(missing)}")
    username = base64.b64decode(data[ref.username_key]).decode()
    password = base64.b64decode(data[ref.password_key]).decode()
    return Credentials(username=username, password=password)


def _holds(stored: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
    """The stored Secret already says everything the manifest does: its type and data exactly (an apply would drop a
    key the manifest no longer has), the manifest's labels and annotations, and its owner references."""
    have, want = stored.get("metadata") or {}, manifest["metadata"]
    if stored.get("type") != manifest.get("type") or (stored.get("data") or {}) != (manifest.get("data") or {}):
        return False
    for field in ("labels", "annotations"):
        if not (want.get(field) or {}).items() <= (have.get(field) or {}).items():
            return False
    owners = have.get("ownerReferences") or []
    return all(any(ref.items() <= found.items() for found in owners) for ref in want.get("ownerReferences") or [])


async def apply_owned_secret(client: AsyncClient, manifest: dict[str, Any], label_keys: Iterable[str]) -> None:
    """Apply a Secret camfleet makes (owned by `manifest`'s first owner, told by `label_keys` of its labels); a
    NameConflict, nothing written, when the name is someone else's. When the stored one already holds the manifest
    nothing is written: a restarted operator, which keeps no digest of what it wrote (a digest of a secret is still
    derived from it), reads each such Secret once instead of writing it again."""
    meta = manifest["metadata"]
    labels = {key: meta["labels"][key] for key in label_keys if key in meta["labels"]}
    owner = meta["ownerReferences"][0]["uid"]
    found = await check_owned(client, Secret, meta["name"], meta["namespace"], owner, labels)
    if found is None or not _holds(found, manifest):
        await apply(client, manifest)
