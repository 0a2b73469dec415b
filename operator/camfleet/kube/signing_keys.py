"""The token signing keys and the transcoders' publishing secret, kept in one Secret of the operator's namespace.

Made once, on first start; every replica loads the same Secret, so tokens verify whichever replica is active.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from camfleet.access.tokens import SigningKeys
from camfleet.kube.apply import get_or_none

PUBLISHER_KEY = "publisher-secret"


@dataclass(frozen=True)
class OperatorSecrets:
    signing_keys: SigningKeys
    publisher_secret: bytes


async def load_or_create_secrets(
    client: AsyncClient, namespace: str, name: str, create_namespace: bool
) -> OperatorSecrets:
    existing = await get_or_none(client, Secret, name, namespace)
    if existing is not None and existing.data:
        data = dict(existing.data)  # base64 values, as SigningKeys reads them
        publisher = base64.b64decode(data.pop(PUBLISHER_KEY, ""))
        return OperatorSecrets(SigningKeys.from_secret_data(data), publisher)
    if create_namespace and await get_or_none(client, Namespace, namespace) is None:
        await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    keys = SigningKeys.generate(datetime.now(UTC))
    publisher = secrets.token_bytes(32)
    data = {**keys.to_secret_data(), PUBLISHER_KEY: base64.b64encode(publisher).decode()}
    await client.create(
        Secret(
            metadata=ObjectMeta(name=name, namespace=namespace, labels={"app.kubernetes.io/managed-by": "camfleet"}),
            type="Opaque",
            data=data,
        )
    )
    return OperatorSecrets(keys, publisher)
