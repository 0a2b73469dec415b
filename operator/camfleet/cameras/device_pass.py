"""One pass over a device: connect, authenticate, configure, read back. The only camera I/O with ONVIF."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind
from camfleet.onvif import (
    AuthFailed,
    CallTimeout,
    DesiredDeviceSettings,
    DeviceError,
    OnvifClient,
    ProtocolError,
    Unreachable,
    apply_settings,
)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log line through repr()
        return f"Credentials(username={self.username!r}, password=***)"


def _failure(error: DeviceError) -> DeviceFailure:
    if isinstance(error, Unreachable):
        kind = FailureKind.UNREACHABLE
    elif isinstance(error, CallTimeout):
        kind = FailureKind.TIMEOUT
    elif isinstance(error, AuthFailed):
        kind = FailureKind.AUTH
    else:
        kind = FailureKind.PROTOCOL
    fault = error.fault_code if isinstance(error, AuthFailed | ProtocolError) else None
    return DeviceFailure(kind, str(error), operation=error.operation or None, fault_code=fault)


async def run_device_pass(
    endpoint: str,
    credentials: Credentials,
    desired: DesiredDeviceSettings,
    limit: asyncio.Semaphore,
    call_timeout_seconds: float,
) -> DeviceObservation:
    """Everything camfleet does to a device in one reconcile, under the operator-wide concurrency limit."""
    observation = DeviceObservation()
    async with (
        limit,
        OnvifClient(endpoint, credentials.username, credentials.password, timeout=call_timeout_seconds) as client,
    ):
        try:
            # The unauthenticated clock read comes first: WS-UsernameToken is signed with the device's time.
            await client.read_clock()
            observation = replace(observation, reached=True)
            device = await client.authenticate()
            observation = replace(observation, authenticated=True, auth_mode=str(client.auth_mode), device=device)
            await client.capabilities()
            report = await apply_settings(client, desired)
            observation = replace(observation, report=report)
            # Read the clock again: applying NTP may just have corrected it.
            observation = replace(observation, clock=await client.read_clock())
            observation = replace(observation, streams=await client.stream_uris())
        except DeviceError as error:
            observation = replace(observation, failure=_failure(error))
    return observation
