"""Device credentials from Secrets, read on every pass so a rotation takes effect without a restart."""

from __future__ import annotations

import base64

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from camfleet.api.camera import CredentialsSecretRef
from camfleet.cameras.device_pass import Credentials
from camfleet.kube.apply import get_or_none


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
