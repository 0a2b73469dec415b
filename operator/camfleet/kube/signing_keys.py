"""The token signing keys, the transcoders' publishing secret and the admission stamp key, kept in one Secret of
the operator's namespace.

Made once, on first start; every replica loads the same Secret, so tokens verify whichever replica is active and
every replica's admission webhook seals approver stamps that every other replica verifies. The stamp key (32
random bytes, HMAC-SHA256, `access.identity`) is added to a Secret made by an older version on first start;
replicas starting together agree through the Secret's resourceVersion (the loser of the race reads the winner's).
Out of the cluster (`camfleet run` against a fresh cluster) the operator's namespace may not exist yet: it is
created then, and only then, so the chart (which installs into an existing namespace) needs no namespace rights.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from camfleet.access.tokens import SigningKeys
from camfleet.kube.apply import get_or_none

PUBLISHER_KEY = "publisher-secret"
STAMP_KEY = "admission-stamp-key"


class OperatorNamespaceUnavailable(RuntimeError):
    """The operator's namespace is missing and could not be created; the message names the fix."""


@dataclass(frozen=True)
class OperatorSecrets:
    signing_keys: SigningKeys
    publisher_secret: bytes
    stamp_key: bytes = b""


async def load_or_create_secrets(client: AsyncClient, namespace: str, name: str) -> OperatorSecrets:
    """The operator's keys, made by the first replica ever to start; replicas starting together all use those of
    whichever created the Secret first (the others' create is refused as a conflict, and they read it)."""
    try:
        return await _load_or_create_secrets(client, namespace, name)
    except ApiError as error:
        if error.status.code != 409:
            raise
        return await _load_or_create_secrets(client, namespace, name)


async def _load_or_create_secrets(client: AsyncClient, namespace: str, name: str) -> OperatorSecrets:
    existing = await get_or_none(client, Secret, name, namespace)
    if existing is not None and existing.data:
        if STAMP_KEY not in existing.data:
            existing = await _add_stamp_key(client, existing, name, namespace)
        data = dict(existing.data or {})  # base64 values, as SigningKeys reads them
        publisher = base64.b64decode(data.pop(PUBLISHER_KEY, ""))
        stamp_key = base64.b64decode(data.pop(STAMP_KEY, ""))
        return OperatorSecrets(SigningKeys.from_secret_data(data), publisher, stamp_key)
    keys = SigningKeys.generate(datetime.now(UTC))
    publisher, stamp_key = secrets.token_bytes(32), secrets.token_bytes(32)
    data = {
        **keys.to_secret_data(),
        PUBLISHER_KEY: base64.b64encode(publisher).decode(),
        STAMP_KEY: base64.b64encode(stamp_key).decode(),
    }
    secret = Secret(
        metadata=ObjectMeta(name=name, namespace=namespace, labels={"app.kubernetes.io/managed-by": "camfleet"}),
        type="Opaque",
        data=data,
    )
    try:
        await client.create(secret)
    except ApiError as error:
        if error.status.code != 404:  # 404 on a create: the namespace does not exist
            raise
        await create_namespace(client, namespace)
        await client.create(secret)
    return OperatorSecrets(keys, publisher, stamp_key)


async def create_namespace(client: AsyncClient, namespace: str) -> None:
    """Create the operator's namespace (another replica may just have done so)."""
    try:
        await client.create(
            Namespace(metadata=ObjectMeta(name=namespace, labels={"app.kubernetes.io/managed-by": "camfleet"}))
        )
    except ApiError as error:
        if error.status.code == 409:
            return
        raise OperatorNamespaceUnavailable(
            f"namespace {namespace!r} for the operator's signing keys does not exist and could not be created "
            f"({error.status.code} {error.status.reason}); create it (kubectl create namespace {namespace}) "
            "or choose another with --operator-namespace"
        ) from None


async def _add_stamp_key(client: AsyncClient, existing: Secret, name: str, namespace: str) -> Secret:
    """Add a stamp key to a Secret made before stamps were sealed; on a conflict another replica did: read it."""
    existing.data = {**(existing.data or {}), STAMP_KEY: base64.b64encode(secrets.token_bytes(32)).decode()}
    try:
        await client.replace(existing)  # carries resourceVersion: optimistic concurrency
        return existing
    except ApiError as error:
        if error.status.code != 409:
            raise
    again: Secret | None = await get_or_none(client, Secret, name, namespace)
    if again is None or not again.data or STAMP_KEY not in again.data:
        raise RuntimeError(f"the signing keys Secret {namespace}/{name} lost its admission stamp key")
    return again
