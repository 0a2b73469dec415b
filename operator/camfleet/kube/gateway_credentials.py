"""The media gateways' credentials for the decision endpoint, kept in one Secret of the operator's namespace.

The Secret (default `camfleet-gateway-credentials`) is made by the Helm chart (`decisionEndpoint.gateways`) or
by `camfleet gateway-credential create`; its format is in `gateway.callers`. The operator reads it by name
(`get`, the verb it already holds on Secrets: never a list or watch of Secrets) at start-up and then every
`POLL_SECONDS`, so a new, rotated or removed credential takes effect within that time without a restart.
No Secret, or an empty one, means no gateway is served: the door answers 401 to everyone (fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from camfleet.gateway.callers import (
    DEPARTMENTS_SUFFIX,
    TOKEN_SUFFIX,
    GatewayCallers,
    GatewayCredential,
    credentials_from_secret_data,
    secret_data,
)
from camfleet.kube.apply import get_or_none
from camfleet.kube.signing_keys import create_namespace

log = logging.getLogger(__name__)

DEFAULT_SECRET = "camfleet-gateway-credentials"
POLL_SECONDS = 5.0
TOKEN_BYTES = 32
"""`secrets.token_urlsafe(32)`: 43 URL-safe characters, usable as the password part of a URL as they are."""


async def load_credentials(client: AsyncClient, namespace: str, name: str = DEFAULT_SECRET) -> list[GatewayCredential]:
    secret = await get_or_none(client, Secret, name, namespace)
    if secret is None or not secret.data:
        return []
    credentials, problems = credentials_from_secret_data(secret.data)
    for problem in problems:
        log.warning("Secret %s/%s: a gateway credential is skipped: %s", namespace, name, problem)
    return credentials


async def refresh(
    callers: GatewayCallers, client: AsyncClient, namespace: str, name: str = DEFAULT_SECRET, *, start: bool = False
) -> None:
    """Load the Secret once into `callers`, saying when the set of gateways changed (and, at `start`, when there
    is none)."""
    before = callers.names()
    callers.replace(await load_credentials(client, namespace, name))
    after = callers.names()
    if after != before:
        log.info("decision endpoint: gateways served now: %s", ", ".join(after) or "none")
    if not after and (before or start):
        log.warning(
            "decision endpoint: no gateway credential in Secret %s/%s: every caller is refused (401); "
            "create one with `camfleet gateway-credential create <gateway>`",
            namespace,
            name,
        )


async def follow_credentials(
    callers: GatewayCallers,
    client: AsyncClient,
    namespace: str,
    name: str = DEFAULT_SECRET,
    period: float = POLL_SECONDS,
) -> None:
    """Re-read the Secret every `period` seconds until cancelled; an API error keeps the last known set."""
    while True:
        await asyncio.sleep(period)
        try:
            await refresh(callers, client, namespace, name)
        except ApiError as error:
            log.warning("decision endpoint: could not read Secret %s/%s: %s", namespace, name, error.status.message)


async def issue_credential(
    client: AsyncClient,
    namespace: str,
    gateway: str,
    departments: Iterable[str] = (),
    *,
    rotate: bool = False,
    name: str = DEFAULT_SECRET,
) -> GatewayCredential:
    """Create the gateway's credential, or update its departments (a new token only with `rotate`)."""
    secret = await get_or_none(client, Secret, name, namespace)
    known = {c.name: c for c in credentials_from_secret_data(secret.data or {})[0]} if secret is not None else {}
    existing = known.get(gateway)
    token = existing.token if existing is not None and not rotate else secrets.token_urlsafe(TOKEN_BYTES)
    credential = GatewayCredential(gateway, token, frozenset(departments))
    data = secret_data(credential)
    if secret is not None:
        await client.patch(Secret, name, {"data": data}, namespace=namespace, patch_type=PatchType.MERGE)
        return credential
    created = Secret(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            labels={"app.kubernetes.io/managed-by": "camfleet", "app.kubernetes.io/component": "gateway-credentials"},
        ),
        type="Opaque",
        data=data,
    )
    try:
        await client.create(created)
    except ApiError as error:
        if error.status.code != 404:  # 404 on a create: the namespace does not exist yet
            raise
        await create_namespace(client, namespace)
        await client.create(created)
    return credential


async def remove_credential(client: AsyncClient, namespace: str, gateway: str, name: str = DEFAULT_SECRET) -> bool:
    """Remove the gateway's credential; False when there was none."""
    secret = await get_or_none(client, Secret, name, namespace)
    if secret is None or gateway + TOKEN_SUFFIX not in (secret.data or {}):
        return False
    gone = {gateway + TOKEN_SUFFIX: None, gateway + DEPARTMENTS_SUFFIX: None}
    await client.patch(Secret, name, {"data": gone}, namespace=namespace, patch_type=PatchType.MERGE)
    return True
