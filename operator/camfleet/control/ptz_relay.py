"""Relay granted PTZ commands to the devices over ONVIF, with the camera's own credentials from its Secret.

One `OnvifClient` is kept per camera (and per endpoint and account, so a changed Secret or endpoint gets a fresh
one): the clock offset, authentication mode and PTZ profile are learned once, and a move then costs one round
trip. How to reach the camera (its spec and Secret) is looked up again after `access_ttl_seconds`, so a steering
session does not read the Secret from the API server on every move; a device error drops both the client and
that lookup (a rotated password is read at once on the next command) and reaches the caller as `RelayFailed`,
whose message names the operation and never a credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from camfleet.cameras.device_pass import Credentials
from camfleet.onvif import AddressPolicy, DeviceError, OnvifClient

DEFAULT_CALL_TIMEOUT_SECONDS = 5.0
DEFAULT_ACCESS_TTL_SECONDS = 10.0


class Move(StrEnum):
    CONTINUOUS = "continuous"
    RELATIVE = "relative"
    STOP = "stop"
    PRESET = "preset"
    HOME = "home"


@dataclass(frozen=True)
class PtzCommand:
    move: Move
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    timeout_seconds: float | None = None
    """ContinuousMove only: the device stops by itself after this long."""
    preset: str | None = None


@dataclass(frozen=True)
class DeviceAccess:
    """How to reach one camera: what the camera controller reads from its spec and Secret."""

    endpoint: str
    credentials: Credentials = field(repr=False)
    policy: AddressPolicy | None = None


class DeviceUnavailable(Exception):
    """The camera cannot be reached by the operator (unknown, endpoint not allowed, Secret unreadable)."""


class RelayFailed(Exception):
    """The device refused or failed the command."""


DeviceLocator = Callable[[str], Awaitable[DeviceAccess]]
"""camera ref (namespace/name) -> how to reach it; raises DeviceUnavailable."""


def _identity(access: DeviceAccess) -> str:
    digest = hashlib.sha256(access.credentials.password.encode()).hexdigest()[:16]
    return f"{access.endpoint}|{access.credentials.username}|{digest}"


class PtzRelay:
    def __init__(
        self,
        locate: DeviceLocator,
        call_timeout_seconds: float = DEFAULT_CALL_TIMEOUT_SECONDS,
        access_ttl_seconds: float = DEFAULT_ACCESS_TTL_SECONDS,
    ) -> None:
        self._locate = locate
        self._timeout = call_timeout_seconds
        self._access_ttl = access_ttl_seconds
        self._clients: dict[str, tuple[str, OnvifClient]] = {}
        self._access: dict[str, tuple[float, DeviceAccess]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _device(self, camera: str) -> DeviceAccess:
        known = self._access.get(camera)
        if known is not None and time.monotonic() - known[0] < self._access_ttl:
            return known[1]
        access = await self._locate(camera)
        self._access[camera] = (time.monotonic(), access)
        return access

    async def send(self, camera: str, command: PtzCommand) -> None:
        """Send `command` to the camera `namespace/name`; commands to one camera go out one at a time, in order."""
        async with self._locks.setdefault(camera, asyncio.Lock()):
            access = await self._device(camera)
            client = await self._client(camera, access)
            try:
                await _send(client, command)
            except DeviceError as error:
                await self._drop(camera)
                raise RelayFailed(f"the device refused {command.move} ({type(error).__name__}: {error})") from None

    async def forget(self, camera: str) -> None:
        await self._drop(camera)

    async def close(self) -> None:
        for camera in list(self._clients):
            await self._drop(camera)

    async def _client(self, camera: str, access: DeviceAccess) -> OnvifClient:
        identity = _identity(access)
        known = self._clients.get(camera)
        if known is not None and known[0] == identity:
            return known[1]
        await self._drop(camera)
        client = OnvifClient(
            access.endpoint,
            access.credentials.username,
            access.credentials.password,
            timeout=self._timeout,
            policy=access.policy,
        )
        self._clients[camera] = (identity, client)
        return client

    async def _drop(self, camera: str) -> None:
        self._access.pop(camera, None)
        known = self._clients.pop(camera, None)
        if known is not None:
            await known[1].close()


async def _send(client: OnvifClient, command: PtzCommand) -> None:
    match command.move:
        case Move.CONTINUOUS:
            await client.continuous_move(command.pan, command.tilt, command.zoom, command.timeout_seconds)
        case Move.RELATIVE:
            await client.relative_move(command.pan, command.tilt, command.zoom)
        case Move.STOP:
            await client.stop_ptz()
        case Move.PRESET:
            await client.goto_preset(command.preset or "")
        case Move.HOME:
            await client.goto_home()
