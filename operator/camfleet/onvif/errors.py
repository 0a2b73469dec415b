"""Typed errors raised by the ONVIF client.

The hierarchy is small on purpose: the camera reconciler maps each class to one condition reason
(Reachable=False, Authenticated=False, ...). Messages are built by this package only, from values it
controls, and pass through `redact` so a password can never reach a log line, an Event or a status.
"""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in `text`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class DeviceError(Exception):
    """Base class: something went wrong talking to one camera."""

    def __init__(self, message: str, *, address: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.address = address
        self.operation = operation

    def __str__(self) -> str:
        where = " ".join(part for part in (self.operation, self.address) if part)
        return f"{self.message} ({where})" if where else self.message


class Unreachable(DeviceError):
    """The device refused, dropped or reset the connection."""


class CallTimeout(DeviceError, TimeoutError):
    """The device did not answer within the configured timeout."""


class AuthFailed(DeviceError):
    """Every authentication mode was rejected (wrong credentials or unsupported scheme)."""

    def __init__(self, message: str, *, fault_code: str | None, address: str = "", operation: str = "") -> None:
        super().__init__(message, address=address, operation=operation)
        self.fault_code = fault_code


class ProtocolError(DeviceError):
    """The device answered, but with a SOAP fault, an HTTP error or an unusable document."""

    def __init__(self, message: str, *, fault_code: str | None = None, address: str = "", operation: str = "") -> None:
        super().__init__(message, address=address, operation=operation)
        self.fault_code = fault_code


class NotSupported(ProtocolError):
    """The device says it does not implement the operation (ter:ActionNotSupported and friends).

    Callers turn this into a recorded capability gap instead of retrying forever.
    """


class UnexpectedReply(ProtocolError):
    """The device answered, but the reply lacks an element camfleet needs or holds an unusable value there."""

    def __init__(self, message: str, *, element: str, address: str = "", operation: str = "") -> None:
        super().__init__(message, address=address, operation=operation)
        self.element = element


class RequestNotBuilt(DeviceError):
    """camfleet could not build the request (a missing mandatory element, a wrong type): our fault, not the device's.

    Nothing was sent. The reconciler reports it as an internal error.
    """


class UntrustedAddress(DeviceError):
    """The device named an address (service XAddr, stream URI, redirect) camfleet will not send credentials to.

    Nothing was sent to that address. The reconciler reports it with the reason `UntrustedAddress`.
    """

    def __init__(self, message: str, *, untrusted: str, address: str = "", operation: str = "") -> None:
        super().__init__(message, address=address, operation=operation)
        self.untrusted = untrusted
