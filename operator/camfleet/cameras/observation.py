"""What one pass over a device found: the input of the pure status decision."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from camfleet.onvif import ApplyReport, ClockReading, DeviceInfo, StreamUris


class FailureKind(StrEnum):
    CREDENTIALS = "credentials"
    ENDPOINT_NOT_ALLOWED = "endpointNotAllowed"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    AUTH = "auth"
    PROTOCOL = "protocol"
    UNTRUSTED_ADDRESS = "untrustedAddress"  # the device named a host credentials must not go to
    INTERNAL = "internal"  # a bug on our side (an unexpected exception, a request we could not build)


@dataclass(frozen=True)
class DeviceFailure:
    """The error that ended a pass early. `message` is already free of secrets."""

    kind: FailureKind
    message: str
    operation: str | None = None
    fault_code: str | None = None


@dataclass(frozen=True)
class DeviceObservation:
    """Fields are None when the pass ended before reaching them."""

    reached: bool = False
    authenticated: bool = False
    auth_mode: str | None = None
    device: DeviceInfo | None = None
    report: ApplyReport | None = None
    clock: ClockReading | None = None
    streams: StreamUris | None = None
    failure: DeviceFailure | None = None

    @property
    def healthy(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class RetryPlan:
    """Shown to the user while a device keeps failing."""

    attempt: int
    delay_seconds: float
